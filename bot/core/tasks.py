"""Waiting on the event loop, written once: for an event or a stop, for an event or a time, for
a stop or a time, and for work unless a stop comes first."""

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


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


async def set_within(event: asyncio.Event, seconds: float) -> bool:
    """Waits `seconds` unless `event` is set first; True if it was. One event alone: a waiter
    woken by it runs at the loop's next step (`first` needs a few, for its two waits)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Waits `seconds` unless `stop` comes first; True if it did (a periodic loop's pause)."""
    return await set_within(stop, seconds)


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> tuple[T] | None:
    """`(result,)` of `work`, or None if `stop` came first (the work is then cancelled; what
    it was doing is done again on the next start)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    await asyncio.gather(stopper, return_exceptions=True)
    if task.done():
        return (task.result(),)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None
