"""Waiting for what happens in the background, with a deadline that fails the test."""

import asyncio
import time
from collections.abc import Callable


async def eventually(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
