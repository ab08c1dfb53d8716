"""A feature is a plug-in: it declares what it contributes, and the assembly collects them.

In the spirit of datasette's plugin hooks, but explicit: nothing registers itself by being
imported. A feature contributes

- commands: what people type (bot/engine/registry.py);
- requests: typed internal requests, one dataclass each, run by the engine like a command
  (the same commit, the same idempotency) but never reachable from chat: a room a deliverer
  made, what was said in an incident's room, an alert group;
- routes: HTTP POST endpoints on the listener (the listener authenticates, limits and parses;
  the route decides);
- pages: HTTP GET endpoints on the listener (a download, Prometheus' scrape): the page decides
  who may read it, and answers with text or a file the listener streams (with HTTP Range);
- observers: of room messages that are not commands (an incident's transcript);
- tasks: run at start and then every `every` seconds (rooms owed to incidents);
- refs: the refs it keeps beside main in the state repo (the runs ref), which the mirrors push,
  a backup remembers and `opsbot verify` checks, as they do main;
- host checks: what `opsbot check` finds wrong between the host config and the repo;
- CLI subcommands: `opsbot <name>` on a state repo (`opsbot metrics`).
- config: its own sections of the host config (bot/config/section.py), read by the loader
  with the core's and given back by `Config.section`;
- checks: of the records it owns in the state repo, which `opsbot check`, `!adopt` and the
  watcher report (bot/state/view.py);
- index tables: what it keeps of main's history in the index (bot/state/index_tables.py);
- journals: its SQLite files in the state directory, with their schema versions and
  migrations (bot/state/journal_file.py);
- a host view: what the host holds for it, read-only, for its handlers (`ctx.host[name]`);
- workers: what takes its jobs on the host, and what it says of the reconciler's outcomes
  (bot/engine/host.py).

The contract, a worked example and what never to import: docs/adding-a-feature.md.

Features send nothing themselves: everything they want done is an effect in an outcome, which
the engine writes to the outbox. Transports know this module and `bot/core/effects.py`, and
never a feature.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dulwich.refs import Ref

from bot.config.section import ConfigSection
from bot.engine.context import Command
from bot.engine.host import CliCommand, HostCheck, HostParts, OnOutcome, Worker
from bot.engine.http import Page, PayloadReader, Route
from bot.engine.kinds import ArgKind
from bot.engine.requests import Observer, RequestKind, Task
from bot.state.index_tables import IndexTable
from bot.state.journal_file import JournalFile
from bot.state.view import Check


@dataclass(frozen=True)
class Feature:
    name: str
    commands: tuple[Command, ...] = ()
    kinds: tuple[ArgKind, ...] = ()
    """The kinds of argument its commands name beside the core's (bot/engine/kinds.py)."""
    requests: tuple[RequestKind[Any], ...] = ()
    routes: tuple[Route, ...] = ()
    pages: tuple[Page, ...] = ()
    readers: tuple[PayloadReader, ...] = ()
    observers: tuple[Observer, ...] = ()
    tasks: tuple[Task, ...] = field(default=())
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
    host_checks: tuple[HostCheck, ...] = ()
    cli: tuple[CliCommand, ...] = ()
    config: tuple[ConfigSection[Any], ...] = ()
    workers: tuple[Worker, ...] = ()
    """What takes its jobs on the host (bot/engine/host.py)."""
    on_outcome: OnOutcome | None = None
    """What it says when the reconciler applied a desired version (bot/engine/host.py)."""
