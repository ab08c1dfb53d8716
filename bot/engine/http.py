"""A feature's HTTP surface: POST routes and GET pages on the listener, and what each answers.
The listener (bot/transport/http/) authenticates, limits and parses; a route or a page decides."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.config.section import ConfigSection
from bot.core.effects import Request
from bot.engine.requests import Requests

if TYPE_CHECKING:
    from bot.config.host import Config


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
