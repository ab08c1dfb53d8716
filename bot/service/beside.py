"""What the service runs beside the Matrix transport: the features' tasks, the upload limit
learnt once the client is ready, the STATUS= line kept true, and the wind-down on a stop (the
command in flight finishes, then the sync stops)."""

import asyncio
import logging
from collections.abc import Awaitable

from nio import AsyncClient

from bot.core import sdnotify
from bot.core.logs import fact
from bot.core.tasks import first as _first
from bot.core.tasks import stopped_within
from bot.engine.requests import Task
from bot.engine.services import Services
from bot.service.watch import Watcher
from bot.transport.matrix.transport import MatrixTransport
from bot.transport.matrix.uploads import upload_limit

log = logging.getLogger("opsbot.service")

# How long a stop waits for the command in flight (its commit, then its reply). Well inside the
# unit's TimeoutStopSec=, so that the transcript flush and the exit still fit before SIGKILL.
DRAIN_SECONDS = 15.0
# How often the STATUS= line is brought up to date (rooms joined or left, repo problems).
STATUS_SECONDS = 5.0


def serving(rooms: int, problems: int) -> str:
    text = f"serving {rooms} room{'' if rooms == 1 else 's'}"
    if problems:
        text += f"; {problems} problem(s) in the state repo, listed by opsbot check"
    return text


async def first_failure(main: Awaitable[None], beside: "asyncio.Future[None]") -> None:
    """Runs `main` to its end; a failure of `beside` (the deliverer's Fatal) ends it too."""
    running = asyncio.ensure_future(main)
    done, _ = await asyncio.wait({running, beside}, return_when=asyncio.FIRST_COMPLETED)
    if beside in done and beside.exception() is not None:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        raise beside.exception()  # type: ignore[misc]
    await running


async def learn_upload_limit(
    client: AsyncClient, services: Services, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    """What features ask before owing a file (`Requests.upload_limit`), once the client can."""
    if await _first(ready, stop):
        services.media_limit = await upload_limit(client)
        fact(log, "upload limit", bytes=services.media_limit)


async def run_task(
    task: Task, services: Services, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    """A feature's task: once the client is ready, then every `task.every` seconds."""
    if not await _first(ready, stop):
        return
    while True:
        try:
            await task.run(services)
        except Exception:
            log.exception("task failed", extra={"fields": {"task": task.name}})
        if task.every is None or await stopped_within(stop, task.every):
            return


async def wind_down(transport: MatrixTransport, stop: asyncio.Event, halt: asyncio.Event) -> None:
    """On a stop: take no new command, let the one in flight finish, then stop syncing."""
    await stop.wait()
    busy = transport.in_flight > 0
    what = "finishing the command in flight" if busy else "no command in flight"
    fact(log, "stopping", in_flight=transport.in_flight)
    sdnotify.notify("STOPPING=1", f"STATUS=stopping: {what}")
    if not await transport.close(DRAIN_SECONDS):
        fact(
            log,
            "stopping before the command in flight was answered; the next start answers it",
            logging.WARNING,
            waited=f"{DRAIN_SECONDS:g}s",
        )
    halt.set()


async def keep_status(
    watcher: Watcher, client: AsyncClient, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    """Keeps STATUS= true while serving: rooms come and go, pushes fix or break records."""
    await ready.wait()
    shown = serving(len(client.rooms), watcher.problems)
    while not await stopped_within(stop, STATUS_SECONDS):
        text = serving(len(client.rooms), watcher.problems)
        if text != shown:
            sdnotify.status(text)
            shown = text
