"""Mirrors run in the background of a test, and what they announce."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.service.mirror import Mirrors


@dataclass
class Announcements:
    said: list[str] = field(default_factory=list)

    async def announce(self, text: str) -> None:
        self.said.append(text)


@asynccontextmanager
async def running(mirrors: Mirrors) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.ensure_future(mirrors.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
