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
  with the core's and given back by `Config.section`.

Features send nothing themselves: everything they want done is an effect in an outcome, which
the engine writes to the outbox. Transports know this module and `bot/core/effects.py`, and
never a feature.
"""

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from dulwich.refs import Ref

from bot.config.section import ConfigSection
from bot.core.effects import Effect, Request
from bot.engine.context import Context, Outcome
from bot.engine.registry import Command
from bot.engine.types import Reply
from bot.state.index import Index
from bot.state.index_tables import IndexTable
from bot.state.repo import StateRepo
from bot.state.view import Check, StateView

if TYPE_CHECKING:
    from bot.config.host import Config
    from bot.config.paths import HostPaths
    from bot.state.outbox import Outbox

R = TypeVar("R", bound=Request)


@dataclass(frozen=True)
class RequestKind(Generic[R]):
    """How a feature handles one type of internal request."""

    type: type[R]
    handler: Callable[[Context, R], Outcome]
    writes: bool = True

    def command(self, request: R) -> Command:
        """`request` as a command the engine runs like any other, but never from chat."""
        return Command(
            name=request.name,
            usage="",
            summary="",
            writes=self.writes,
            internal=True,
            handler=lambda ctx: self.handler(ctx, request),
        )


@dataclass(frozen=True)
class RoomMessage:
    """A message in a room that is not a command, as any transport would describe it."""

    room: str
    event_id: str
    sender: str
    at: datetime
    kind: str  # "text" or "file"
    body: str


@dataclass(frozen=True)
class Observer:
    """Keeps room messages that matter to a feature, and records them in batches.

    `watch` says whether a message is kept, and under which batch key (an incident's id) with
    which payload (JSON text); the transport journals it at once and later asks `batch` for the
    request that records a key's payloads, in arrival order, in one commit."""

    name: str
    watch: Callable[[StateView, RoomMessage], tuple[str, str] | None]
    batch: Callable[[str, list[str]], Request]


class Requests(Protocol):
    """What a route or a task may ask of the engine."""

    async def request(
        self,
        request: Request,
        source: str,
        room: str | None = None,
        name: str | None = None,
        event_id: str | None = None,
    ) -> Reply:
        """Runs `request` as `source` (in ids), shown as `name` (in commits), in `room`.
        `event_id` makes it idempotent: a request asked again with the same one is done once
        (without one, each call is a new request)."""

    def owe(self, effects: Sequence[tuple[str, Effect]]) -> None: ...

    def view(self) -> StateView: ...

    def upload_limit(self) -> int | None:
        """The largest file the homeserver takes, in bytes; None while unknown (no Matrix
        client, or the homeserver has not said)."""

    def host_config(self) -> "Config | None":
        """The host config the service runs with (None in the console and most tests)."""

    def counters(self) -> "Counters":
        """What the engine counted since it started, and what the outbox holds (a scrape)."""


@dataclass(frozen=True)
class Counters:
    commands: dict[tuple[str, str], int]  # (command, "handled" | "refused" | "failed") -> count
    outbox: dict[str, int]  # effects per outbox state: prepared, ready, sent, failed


@dataclass(frozen=True)
class RouteResult:
    status: int
    body: dict[str, Any]


class RouteSettings(Protocol):
    """What the host config section that guards a route holds (the feature declares it)."""

    @property
    def room(self) -> str | None:
        """Where the route's notices go (None: the announcement rooms of policy.toml)."""

    @property
    def token_file(self) -> Path | None:
        """The bearer token a caller must send."""

    @property
    def unauthenticated(self) -> bool:
        """No token, by choice: only with a loopback [http] listen."""

    @property
    def requests_per_minute(self) -> int:
        """Per client address."""


@dataclass(frozen=True)
class Route:
    """A POST endpoint on the HTTP listener, served when the host config has the feature's
    `section`, which guards it (its token, its rate limit, its room); the listener reads and
    checks the JSON body before `handler` sees it."""

    path: str
    section: ConfigSection[RouteSettings | None]
    handler: Callable[[Requests, Any, str | None], Awaitable[RouteResult]]


@dataclass(frozen=True)
class Fetch:
    """A GET as a page sees it: the path's `{parts}`, the query, the headers (names in lower
    case) and the client's address. `method` is "HEAD" for a request that wants the headers
    only: the page answers as for a GET, the listener sends no body, and a page that changes
    something on a GET (claims or spends a link) must not on a HEAD."""

    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    peer: str
    method: str = "GET"


@dataclass(frozen=True)
class Growing:
    """A file still being written, sent as it grows: it will have `size` bytes in the end.
    `ready(sent)` waits until more than `sent` bytes may go out and says how many in all, or
    says None when the file will not be complete (the response is then cut short, so the
    client knows it did not get it whole)."""

    size: int
    ready: Callable[[int], Awaitable[int | None]]


@dataclass(frozen=True)
class Served:
    """A page's answer: `text`, or the file at `file`, streamed with HTTP Range (a resumed
    download), offered for saving as `filename`; with `growing`, a file still being written,
    followed as it grows.

    `spend`, for a file a link may serve once: the listener calls it when it has decided to
    send the file's bytes (a GET, with no Range or one it can satisfy), just before the first
    goes out, and never for a HEAD; it answers None to go ahead, or why the file may not be
    sent any more (answered 410, nothing of the file sent). `done` is called once the response
    is over, however it ended (what the page held open for it is closed)."""

    status: int = 200
    text: str = ""
    content_type: str = "text/plain; charset=utf-8"
    file: Path | None = None
    filename: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    growing: Growing | None = None
    spend: Callable[[], str | None] | None = None
    done: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Page:
    """A GET endpoint on the HTTP listener (`path` in aiohttp's form: "/downloads/{token}"),
    served when `enabled` says the host config asks for it. The page does its own
    authentication (a link's token, a scrape token): the listener only limits the rate, to
    `per_minute` requests per client address."""

    path: str
    handler: Callable[[Requests, Fetch], Awaitable[Served]]
    enabled: Callable[["Config"], bool] = lambda _config: True
    per_minute: int = 120  # a scraper asks every 15 s; a person resuming a download, a few times
    # The secret files the page reads on each request, each with the key that names it: the
    # listener reads them at start, so that a missing or empty one stops the start.
    secrets: Callable[["Config"], Sequence[tuple[str, Path]]] = lambda _config: ()


PayloadReader = Callable[[Any], Request | None]
"""Reads a signed webhook's JSON (from a source the host config lets record things) into the
request that records it, or None when the payload has nothing to record."""


@dataclass(frozen=True)
class Task:
    """Work a feature does on its own: at start, then every `every` seconds (None: once)."""

    name: str
    run: Callable[[Requests], Awaitable[None]]
    every: float | None = None


HostCheck = Callable[["Config", StateView], list[str]]
"""What `opsbot check --config` finds wrong in the repo given the host config (a secret a
runbook asks for that the host config does not grant it): one message each."""


@dataclass(frozen=True)
class CliCommand:
    """`opsbot <name>`, a subcommand on a state repo. The command line gives it `--repo` and
    `--state-dir` beside the options `add_arguments` adds, refuses a path that is no state repo,
    and hands `run` the repo as the bot reads it (what is in force), its host paths, its index
    (opened with every feature's tables) and the parsed arguments. `run` prints what it has to
    say and answers the exit status; a `Refused` it raises is said on stderr after
    `opsbot <name>: `, with status 2."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[StateRepo, "HostPaths", Index, argparse.Namespace], int]


@dataclass(frozen=True)
class HostParts:
    """What a feature's `host_view` is made from: the outbox (the jobs owed to its worker), the
    state directory (its journals) and the host config (None in the console and most tests)."""

    outbox: "Outbox"
    state_dir: Path
    config: "Config | None"


@dataclass(frozen=True)
class Feature:
    name: str
    commands: tuple[Command, ...] = ()
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
    index: tuple[IndexTable, ...] = ()
    """Tables this feature keeps in the index, derived from main (bot/state/index_tables.py)."""
    refs: tuple[Ref, ...] = ()
    host_checks: tuple[HostCheck, ...] = ()
    cli: tuple[CliCommand, ...] = ()
    config: tuple[ConfigSection[Any], ...] = ()
