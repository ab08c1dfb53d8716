"""Downloads as a feature: the link pages on the HTTP listener, and the tasks that keep the
downloads directory within its retention and tidy after a restart. What a download run does
is bot/downloads/; the runbook runner calls it for runbooks of kind `download`."""

import asyncio
import logging

from bot.downloads.host import Downloads
from bot.downloads.pages import PAGES
from bot.engine.feature import Requests, Task
from bot.logs import fact

log = logging.getLogger("opsbot.downloads")
EXPIRE_EVERY = 600.0


def _expire(downloads: Downloads) -> list[str]:
    try:
        return downloads.expire()
    finally:
        downloads.close()


def _interrupted(downloads: Downloads) -> list[str]:
    """Runs the last process left running: their partial files go (the run says why)."""
    try:
        stopped = downloads.ledger.interrupt_all()
        for run_id in stopped:
            downloads.store.remove(run_id)
        return stopped
    finally:
        downloads.close()


async def expire(requests: Requests) -> None:
    config = requests.host_config()
    if config is None:
        return
    removed = await asyncio.to_thread(_expire, Downloads.of(config))
    if removed:
        fact(log, "downloads removed after their retention", runs=",".join(removed))


async def tidy(requests: Requests) -> None:
    config = requests.host_config()
    if config is None:
        return
    stopped = await asyncio.to_thread(_interrupted, Downloads.of(config))
    if stopped:
        fact(log, "downloads interrupted by the last stop", logging.WARNING,
             runs=",".join(stopped))  # fmt: skip


TASKS = (
    Task("downloads interrupted by a stop", tidy),
    Task("downloads past their retention", expire, every=EXPIRE_EVERY),
)
__all__ = ["PAGES", "TASKS"]
