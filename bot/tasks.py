"""Waiting on the event loop, written once: for an event or a stop, and for a stop or a time."""

import asyncio
import contextlib


async def first(event: asyncio.Event, stop: asyncio.Event, timeout: float | None = None) -> bool:
    """Waits for `event`, `stop` or `timeout`, whichever comes first; True if `event` is set
    and `stop` is not."""
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    return event.is_set() and not stop.is_set()


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Waits `seconds` unless `stop` comes first; True if it did (a periodic loop's pause)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
