"""The runbooks' worker: the executor, with the downloads store a run of kind `download`
writes into, run for as long as the service runs."""

import asyncio

from bot.engine.host import Worker, WorkerParts
from bot.features.downloads.host import Downloads
from bot.features.runbooks.executor import Executor
from bot.features.runbooks.jobs import EXECUTOR
from bot.features.runbooks.settings import RUNBOOKS


async def work(parts: WorkerParts, stop: asyncio.Event) -> None:
    config = parts.config
    runbooks = config.section(RUNBOOKS)
    downloads = Downloads.of(config)
    if downloads.settings.public_url is None and parts.listener_url is not None:
        downloads.base_url = parts.listener_url  # the port it bound (0 in the config: any)
    executor = Executor(
        parts.repo,
        parts.outbox,
        parts.requests,
        config.reconcile.hooks_dir,
        config.paths.state_dir,
        runbooks.secrets,
        keep_output_days=runbooks.keep_output_days,
        grants=runbooks.grants,
        downloads=downloads,
    )
    try:
        await executor.run(stop)
    finally:
        executor.close()
        downloads.close()


WORKER = Worker(EXECUTOR, work)
