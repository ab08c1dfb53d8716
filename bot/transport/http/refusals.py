"""Refused requests: answered with a status and a short reason, logged once per kind.

A flood of bad requests (a misconfigured sender retrying, a scanner) must not flood the log:
each kind of refusal, per source, is logged the first time and then at most once an hour, with
how many were not logged in between. Nothing else happens on a refusal: no commit, no post, no
row in SQLite.
"""

import logging
import math
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from bot.core.logs import fact

log = logging.getLogger("opsbot.http")

QUIET_SECONDS = 3600.0
MAX_KINDS = 1024  # keys come partly from requests; past this, new ones are not remembered


class Refusals:
    def __init__(
        self, quiet: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quiet = quiet
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # -> (last logged, unlogged)

    def refuse(
        self,
        status: int,
        kind: str,
        source: str,
        *,
        level: int = logging.WARNING,
        headers: Mapping[str, str] | None = None,
        **fields: object,
    ) -> web.Response:
        """The response for a refused request; logs it if this kind was not logged lately."""
        self._log(status, kind, source, level, fields)
        return web.json_response(
            {"ok": False, "error": kind}, status=status, headers=dict(headers or {})
        )

    def too_many(self, wait: float, source: str, kind: str = "too many requests") -> web.Response:
        """429, with how long to wait before trying again."""
        return self.refuse(429, kind, source, headers={"Retry-After": str(math.ceil(wait))})

    def _log(
        self, status: int, kind: str, source: str, level: int, fields: Mapping[str, object]
    ) -> None:
        key = (kind, source)
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.quiet:
            self._seen[key] = (last[0], last[1] + 1)
            return
        if last is None and len(self._seen) >= MAX_KINDS:
            return
        unlogged = last[1] if last else 0
        self._seen[key] = (now, 0)
        fact(
            log,
            f"refused: {kind}",
            level,
            source=source,
            status=status,
            not_logged_since=unlogged or None,
            **fields,
        )
