"""`opsbot run`: the bot as a long-running service on Matrix.

Wires the layers (config -> state -> engine -> transport, with the reconciler and the watcher
beside them), runs until SIGTERM or SIGINT, and exits with a status systemd can act on: 0 on a
requested stop, 1 when the bot cannot go on (a revoked token, a failed login), 2 for a config
that does not validate.
"""

import asyncio
import logging
import signal
from collections.abc import Callable

from bot.assemble import open_engine
from bot.config import Config
from bot.logs import fact
from bot.reconcile.outcome import Outcome
from bot.reconcile.reconciler import Reconciler
from bot.transport.matrix.journal import Journal
from bot.transport.matrix.session import LoginFailed, Session
from bot.transport.matrix.transport import Fatal, MatrixTransport
from bot.transport.ratelimit import RateLimit
from bot.watch import Watcher

log = logging.getLogger("opsbot.service")


def describe(outcome: Outcome) -> str:
    """How the result of a deploy reads when it replaces "deploying" in the reply."""
    result = outcome.result
    took = f" in {result.duration:.1f}s" if result else ""
    if outcome.status == "ok":
        return f"applied{took}"
    if outcome.status == "no-hook":
        return f"not applied: {outcome.app} names no deploy hook"
    if outcome.status == "superseded":
        return f"superseded: {outcome.detail}"
    why = result.error if result and result.error else outcome.detail or outcome.status
    if not outcome.final:
        return f"attempt {outcome.attempt} failed ({why}); retrying"
    tail = result.output_tail.strip().splitlines()[-5:] if result else []
    return f"failed after {outcome.attempt} attempt(s): {why}" + (
        "\n" + "\n".join(tail) if tail else ""
    )


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

    async def on_outcome(outcome: Outcome) -> None:
        await transport.report(outcome.commit, describe(outcome))
        if outcome.final and outcome.status == "failed":
            what = f"deploy of {outcome.app} {outcome.version} to {outcome.env}"
            await transport.announce(f"{what} {describe(outcome)}")

    reconciler = Reconciler(
        engine.repo, config.paths.state_dir, config.reconcile.hooks_dir,
        interval=config.reconcile.interval, timeout=config.reconcile.timeout,
        retries=config.reconcile.retries, on_outcome=on_outcome,
    )  # fmt: skip
    engine.runtime = reconciler
    transport.on_commit = lambda _sha: reconciler.trigger()
    watcher = Watcher(
        engine.repo, config.paths.state_dir / "watched_head", transport.announce, reconciler.trigger
    )
    fact(log, "started", user=client.user_id, device=client.device_id, repo=config.paths.repo)
    tasks = [
        asyncio.ensure_future(reconciler.run(stop)),
        asyncio.ensure_future(watcher.run(stop)),
        asyncio.ensure_future(transport.transcript.run(stop)),
    ]
    try:
        await transport.run(stop, on_ready)
    except Fatal as e:
        fact(log, "stopping: cannot go on", logging.ERROR, error=str(e))
        return 1
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await transport.transcript.flush()  # a clean stop leaves nothing only in the journal
        reconciler.close()
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
