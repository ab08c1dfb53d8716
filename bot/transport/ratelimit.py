"""A rate limit per client (a person, an address): a token bucket each, so one client cannot
flood the repo or the listener.

The buckets are kept in a bounded table, because the keys come from outside: a flood from a
million addresses must not keep a million buckets. A bucket that has refilled to its burst is
the same as no bucket, so it is forgotten (the least recently used are looked at first, a few
per call). Buckets still refilling are never forgotten, since that would reset a client that is
being limited; when the table is full of them, a client it does not know yet waits until the
oldest refills, like a limited one: a flood of new addresses is then limited as a whole.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_CLIENTS = 10_000  # buckets kept at most per limit (a few hundred bytes each)


class RateLimit:
    def __init__(
        self,
        per_minute: int,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.rate = per_minute / 60
        self.burst = float(burst if burst is not None else max(per_minute // 2, 1))
        self.clock = clock
        self.max_clients = max_clients
        # who -> (tokens, when counted); least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        """How many clients the limit remembers now."""
        return len(self._buckets)

    def take(self, who: str) -> float:
        """0 if `who` may go ahead now; else how many seconds until they may."""
        now = self.clock()
        self._forget_full(now)
        known = self._buckets.get(who)
        if known is None and len(self._buckets) >= self.max_clients:
            # Every bucket kept is still refilling: the oldest frees its place first.
            return self._until_full(*next(iter(self._buckets.values())), now)
        tokens, last = known if known is not None else (self.burst, now)
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        self._buckets[who] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
        self._buckets.move_to_end(who)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drops the least recently used buckets that have refilled, stopping at the first that
        has not: each call looks at one more bucket than it drops, so a take stays cheap."""
        while self._buckets:
            who, (tokens, last) = next(iter(self._buckets.items()))
            if self._until_full(tokens, last, now) > 0:
                return
            del self._buckets[who]

    def _until_full(self, tokens: float, last: float, now: float) -> float:
        return max(0.0, (self.burst - tokens) / self.rate - (now - last))


class Limits:
    """The rate limits of one listener, made here so that what they remember can be counted
    together (`len`), and bounded alike."""

    def __init__(self, max_clients: int = MAX_CLIENTS) -> None:
        self.max_clients = max_clients
        self._made: list[RateLimit] = []

    def new(self, per_minute: int, burst: int | None = None) -> RateLimit:
        limit = RateLimit(per_minute, burst, max_clients=self.max_clients)
        self._made.append(limit)
        return limit

    def __len__(self) -> int:
        """How many clients all the limits remember now, together."""
        return sum(len(limit) for limit in self._made)
