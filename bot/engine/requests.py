"""What a feature's routes, pages, tasks and workers may ask of the engine (`Requests`), and the
typed internal requests the engine runs like commands (`RequestKind`); the room messages an
observer keeps, and the tasks a feature runs on its own."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from bot.core.effects import Effect, Request
from bot.engine.context import Context, Outcome
from bot.engine.registry import Command
from bot.engine.types import Reply
from bot.state.view import StateView

if TYPE_CHECKING:
    from bot.config.host import Config

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
class Task:
    """Work a feature does on its own: at start, then every `every` seconds (None: once)."""

    name: str
    run: Callable[[Requests], Awaitable[None]]
    every: float | None = None
