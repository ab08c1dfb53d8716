"""A command and its handler: how a command is declared, what its handler gets (a snapshot and
the parsed arguments) and what it returns (changes and a reply). A handler does no I/O: the
engine commits its `Change` and sends its reply.

The declaration and the handler's context know each other (`!help` reads the commands from
the context), so they live together here; the registry that collects the commands is built on
top of them (bot/engine/registry.py).
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dulwich.objects import Commit

from bot.core.effects import Effect
from bot.engine.grammar import DRY_RUN, Element, Option, compile_usage, render
from bot.engine.types import Invocation
from bot.state.in_force import Trust
from bot.state.index import Index
from bot.state.log import RepoLog
from bot.state.policy import Policy
from bot.state.proposals import ProposalBook
from bot.state.view import StateView


class DeviceDirectory(Protocol):
    """The device keys a transport has seen (trust on first use); read-only for handlers."""

    def key_of(self, user_id: str, device_id: str) -> str | None: ...


class IdentityDirectory(Protocol):
    """People's master cross-signing keys, as the transport last queried them; read-only."""

    def master_of(self, user_id: str) -> str | None: ...


class Runtime(Protocol):
    """What the reconciler knows of the host, read-only: `!status` shows it beside Git's."""

    def applied(self) -> Mapping[tuple[str, str], Any]: ...

    def outcomes(self, env: str, app: str) -> Sequence[Any]: ...

    def health(self) -> Mapping[tuple[str, str], Any]: ...

    def observed(self) -> Mapping[tuple[str, str], str]: ...


class Commands(Protocol):
    """The commands people can type, read-only: the engine's `CommandRegistry`."""

    def __iter__(self) -> Iterator["Command"]: ...

    def get(self, name: str) -> "Command | None": ...

    def nearest(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class Context:
    invocation: Invocation
    args: Mapping[str, Any]
    state: StateView
    policy: Policy
    index: Index
    """The history of main, indexed: deploys per app and environment, commits by prefix."""
    log: RepoLog
    registry: Commands
    now: datetime
    proposals: ProposalBook
    devices: DeviceDirectory | None = None
    identities: IdentityDirectory | None = None
    runtime: Runtime | None = None
    outside: tuple[Commit, ...] = ()
    """Commits on main that are not in force, oldest first; `state` is the tree in force. Only
    commands declared `outside=True` run while there are any (or while main has diverged)."""
    trust: Trust | None = None
    """main read against the tip in force: its head, and whether it diverged from that tip."""
    host: Mapping[str, object] = field(default_factory=dict)
    """What the host holds for each feature, read-only, by the feature's name: what its
    `host_view` made (the runbook runs waiting, the secrets the host config grants)."""
    identity: str | None = None
    """How people verify the bot, as its transport knows it (its master key's fingerprint on
    Matrix); None where it has no identity of its own (the console)."""

    @property
    def sender(self) -> str:
        return self.invocation.sender

    @property
    def reason(self) -> str:
        return str(self.args.get("reason") or "")


@dataclass(frozen=True)
class Change:
    """One commit's worth of change: its summary (after "<command>: ") and the files.

    By default it lands on main, on top of the snapshot the handler read. A proposal lands on a
    branch instead: `branch` names it, `base` is the commit it goes on top of, and `new_branch`
    says the branch must not exist yet. `merge` adds parents (approving a proposal merges it).
    """

    summary: str
    files: Mapping[str, str | bytes | None]
    trailers: tuple[tuple[str, str], ...] = ()
    branch: str | None = None
    base: str | None = None
    new_branch: bool = False
    merge: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    text: str
    html: str | None = None
    change: Change | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    effects: tuple[Effect, ...] = ()


Handler = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Command:
    """One command, declared once: grammar, help, permission and handler side by side."""

    name: str
    usage: str
    summary: str
    handler: Handler
    options: tuple[Option, ...] = ()
    examples: tuple[str, ...] = ()
    details: str = ""
    writes: bool = False
    scope: str | None = None
    """The argument naming the environment that policy.toml's `environments` applies to."""
    internal: bool = False
    """Run by a transport on its own behalf (recording a room it created), never from chat."""
    admin_only: bool = False
    """Only the admin role may run it, whatever other roles list (a role with `"*"` included):
    for the commands that decide who may do what."""
    outside: bool = False
    """Decides about the unsigned commits on top of main (`!adopt`, `!discard`): it runs while
    they wait, when every other write is refused, and commits on top of them."""
    elements: tuple[Element, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", compile_usage(self.usage))
        if self.writes and DRY_RUN not in self.options:
            # Every command that writes can show what it would write instead.
            object.__setattr__(self, "options", (*self.options, DRY_RUN))
        if self.scope is not None and f"<{self.scope}>" not in self.usage:
            raise ValueError(f"!{self.name}: scope <{self.scope}> is not in its usage line")

    def usage_line(self) -> str:
        parts = [f"!{self.name}", render(self.elements)]
        parts += [o.usage() for o in self.options]
        return " ".join(p for p in parts if p)
