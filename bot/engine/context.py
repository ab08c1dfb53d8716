"""What a handler gets (a snapshot and the parsed arguments) and what it returns (changes and a
reply). A handler does no I/O: the engine commits its `Change` and sends its reply."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dulwich.objects import Commit

from bot.core.effects import Effect
from bot.engine.registry import CommandRegistry
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


@dataclass(frozen=True)
class Context:
    invocation: Invocation
    args: Mapping[str, Any]
    state: StateView
    policy: Policy
    index: Index
    """The history of main, indexed: deploys per app and environment, commits by prefix."""
    log: RepoLog
    registry: CommandRegistry
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
