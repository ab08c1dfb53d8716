"""Downloads as a feature: the link pages on the HTTP listener, and the task that keeps the
downloads directory within its retention. What a download run does is bot/features/downloads/; the
runbooks executor runs runbooks of kind `download` with it, and tidies after a restart
(`Downloads.interrupted`, before it starts any run)."""

import asyncio
import logging

from bot.core.logs import fact
from bot.engine.requests import Requests, Task
from bot.features.downloads.host import Downloads

log = logging.getLogger("opsbot.downloads")
EXPIRE_EVERY = 600.0


def _expire(downloads: Downloads) -> list[str]:
    try:
        return downloads.expire()
    finally:
        downloads.close()


async def expire(requests: Requests) -> None:
    config = requests.host_config()
    if config is None:
        return
    removed = await asyncio.to_thread(_expire, Downloads.of(config))
    if removed:
        fact(log, "downloads removed after their retention", runs=",".join(removed))


TASKS = (Task("downloads past their retention", expire, every=EXPIRE_EVERY),)
