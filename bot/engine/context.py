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

    def unknown(self, name: str) -> tuple[str, str]: ...


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
    gates: tuple["Gate", ...] = ()
    """Every feature's gate on a change to an environment (`Feature.gates`): the feature that
    makes the change runs them (bot/features/guards.py), and never names the ones that gate."""
    addenda: tuple["Addendum", ...] = ()
    """Lines features add to another feature's reply (`Feature.addenda`), read with `added`."""

    @property
    def sender(self) -> str:
        return self.invocation.sender

    @property
    def reason(self) -> str:
        return str(self.args.get("reason") or "")

    def added(self, command: str) -> list[str]:
        """The lines the features add to the reply of `command` (`!status`)."""
        return [line for a in self.addenda if a.command == command for line in a.lines(self)]


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
    then: Callable[[str], Change] | None = None
    """A second commit made from the first one's id, in the same step (the review an
    emergency change opens on a branch that starts at it): `then(sha)` is its change."""


Handler = Callable[[Context], Outcome]


@dataclass(frozen=True)
class EnvChange:
    """A change to an environment that a feature is about to make, as a gate sees it: the
    command (deploy, redeploy, rollback, promote, approve), the environment, the apps it
    changes and the version they go to."""

    command: str
    env: str
    apps: tuple[str, ...] = ()
    version: str | None = None


@dataclass(frozen=True)
class Clearance:
    """What the gates grant a change, and what they add to it. A gate that stops the change
    raises `Refused` instead; one that lets it pass as it is returns what it was given."""

    past_freeze: bool = False
    """A freeze (`!freeze`, or a window on the calendar) does not stop it; a lock still does."""
    past_approvals: bool = False
    """It lands on main even where the environment requires approvals."""
    record: Mapping[str, str] = field(default_factory=dict)
    """Fields the record the change writes gains (the incident an emergency deployment was for)."""
    files: Mapping[str, str | bytes | None] = field(default_factory=dict)
    """More files in the same commit (an incident's timeline)."""
    trailers: tuple[tuple[str, str], ...] = ()
    effects: tuple[Effect, ...] = ()
    text: str = ""
    """Said after the reply."""
    then: Callable[[str], Change] | None = None
    """A second commit, from the first one's id (`Outcome.then`)."""


Gate = Callable[[Context, EnvChange, Clearance], Clearance]
"""A feature's say on every change to an environment (`Feature.gates`): given the clearance
the gates before it granted, it returns it (perhaps with more), or raises `Refused`."""


@dataclass(frozen=True)
class Addendum:
    """Lines a feature adds to another feature's reply: `!status` shows the freeze windows."""

    command: str
    lines: Callable[[Context], list[str]]


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
    needs_index: bool = False
    """Reads the history (`ctx.index`, `ctx.proposals`): while a cold index is built in the
    background it answers "indexing, N%" instead; the others answer at once."""
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
