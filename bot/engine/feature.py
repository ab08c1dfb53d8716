"""A feature is a package that declares what it contributes, and the assembly collects them.

In the spirit of datasette's plugin hooks, but explicit: nothing registers itself by being
imported; bot/features/catalog.py is the one list. The fields of `Feature` are the whole
contract (docs/adding-a-feature.md has it field by field, a worked example, and what never to
import): what people type and how its arguments read; the records it owns in the state repo
and their checks; its sections of the host config and of policy.toml; its journals and index
tables; what the host holds for its handlers, the workers that take its jobs and what it says
of the reconciler's outcomes; its gates on every change to an environment, the options it adds
to other features' commands and the lines it adds to their replies; its HTTP routes and pages,
room observers, tasks, refs, host checks and CLI subcommands.

Features send nothing themselves: everything they want done is an effect in an outcome, which
the engine writes to the outbox. Transports know the engine and `bot/core/effects.py`, and
never a feature.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dulwich.refs import Ref

from bot.config.section import ConfigSection
from bot.engine.context import Addendum, Command, Gate
from bot.engine.host import CliCommand, HostCheck, HostParts, OnOutcome, Worker
from bot.engine.http import Page, PayloadReader, Route
from bot.engine.kinds import ArgKind
from bot.engine.registry import OptionFor
from bot.engine.requests import Observer, RequestKind, Task
from bot.state.index_tables import IndexTable
from bot.state.journal_file import JournalFile
from bot.state.policy_section import PolicySection
from bot.state.view import Check


@dataclass(frozen=True)
class Feature:
    name: str
    commands: tuple[Command, ...] = ()
    """What people type (bot/engine/context.py)."""
    kinds: tuple[ArgKind, ...] = ()
    """The kinds of argument its commands name beside the core's (bot/engine/kinds.py)."""
    options: tuple[OptionFor, ...] = ()
    """Options it adds to other features' commands (an emergency change's incident, on
    `!deploy`), which its gate reads."""
    gates: tuple[Gate, ...] = ()
    """Its say on every change to an environment, whichever feature makes it (deploy, rollback,
    promote, the approval that merges a proposal): refuse it (a freeze window), or let it pass
    a freeze or the approvals with more added to it (an emergency change). bot/engine/context.py."""
    addenda: tuple[Addendum, ...] = ()
    """Lines it adds to other features' replies (the freeze windows, in `!status`)."""
    requests: tuple[RequestKind[Any], ...] = ()
    """Typed internal requests, run by the engine like a command (the same commit, the same
    idempotency) but never reachable from chat: a room a deliverer made, an alert group."""
    routes: tuple[Route, ...] = ()
    """HTTP POST endpoints (bot/engine/http.py): the listener authenticates, limits and
    parses; the route decides."""
    pages: tuple[Page, ...] = ()
    """HTTP GET endpoints: the page decides who may read it."""
    readers: tuple[PayloadReader, ...] = ()
    """Readers of a signed webhook's payload into the request that records it."""
    observers: tuple[Observer, ...] = ()
    """Of room messages that are not commands (an incident's transcript)."""
    tasks: tuple[Task, ...] = ()
    """Run at start and then every `every` seconds (rooms owed to incidents)."""
    checks: tuple[Check, ...] = ()
    """The checks of the records this feature owns: `opsbot check`, the watcher's news of a
    push, `!adopt` and the service's status line list what they find."""
    host_view: Callable[[HostParts], object] | None = None
    """What the host holds for this feature, read-only, shown to its handlers as
    `ctx.host[name]` (the runs asked for and not ended); made once, when the engine is."""
    journals: tuple[JournalFile, ...] = ()
    """Its SQLite files in the state directory, migrated by `opsbot migrate` and at start,
    copied by a backup (bot/state/journal_file.py)."""
    index: tuple[IndexTable, ...] = ()
    """Tables this feature keeps in the index, derived from main (bot/state/index_tables.py)."""
    refs: tuple[Ref, ...] = ()
    """Refs it keeps beside main (the runs ref): the mirrors push them, a backup remembers
    them, `opsbot verify` checks them, as they do main."""
    host_checks: tuple[HostCheck, ...] = ()
    """What `opsbot check --config` finds wrong between the host config and the repo."""
    cli: tuple[CliCommand, ...] = ()
    """`opsbot <name>` subcommands on a state repo (`opsbot metrics`)."""
    config: tuple[ConfigSection[Any], ...] = ()
    """Its sections of the host config (bot/config/section.py), given back by
    `Config.section`."""
    policy: tuple[PolicySection[Any], ...] = ()
    """Its sections of policy.toml (bot/state/policy_section.py), read with the core's and
    given back by `Policy.section`; a section nobody declared still closes the policy."""
    workers: tuple[Worker, ...] = ()
    """What takes its jobs on the host (bot/engine/host.py)."""
    on_outcome: OnOutcome | None = None
    """What it says when the reconciler applied a desired version (bot/engine/host.py)."""
