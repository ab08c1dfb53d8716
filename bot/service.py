"""`opsbot run`: the bot as a long-running service on Matrix.

Wires the layers (config -> state -> engine -> transport), runs until SIGTERM or SIGINT, and
exits with a status systemd can act on: 0 on a requested stop, 1 when the bot cannot go on (a
revoked token, a failed login), 2 for a config that does not validate.
"""

import asyncio
import logging
import signal
from collections.abc import Callable

from bot.assemble import open_engine
from bot.config import Config
from bot.logs import fact
from bot.transport.matrix.journal import Journal
from bot.transport.matrix.session import LoginFailed, Session
from bot.transport.matrix.transport import Fatal, MatrixTransport
from bot.transport.ratelimit import RateLimit

log = logging.getLogger("opsbot.service")


async def serve(
    config: Config, stop: asyncio.Event, on_ready: Callable[[], None] | None = None
) -> int:
    assert config.matrix is not None
    if not (config.paths.repo / "HEAD").exists():
        fact(
            log, "no state repo; create it with: opsbot init", logging.ERROR, repo=config.paths.repo
        )
        return 2
    journal = Journal(config.paths.state_dir / "matrix" / "journal.sqlite")
    engine = open_engine(config.paths, config.bot_id, devices=journal)
    try:
        client = await Session(config.matrix, config.paths.state_dir).open()
    except LoginFailed as e:
        fact(log, "cannot log in", logging.ERROR, error=str(e))
        return 1
    transport = MatrixTransport(
        client, engine, journal, rate_limit=RateLimit(config.matrix.commands_per_minute)
    )
    fact(log, "started", user=client.user_id, device=client.device_id, repo=config.paths.repo)
    try:
        await transport.run(stop, on_ready)
    except Fatal as e:
        fact(log, "stopping: cannot go on", logging.ERROR, error=str(e))
        return 1
    finally:
        await client.close()
        journal.close()
    fact(log, "stopped")
    return 0


def run(config: Config) -> int:
    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve(config, stop, lambda: fact(log, "ready"))

    return asyncio.run(main())
