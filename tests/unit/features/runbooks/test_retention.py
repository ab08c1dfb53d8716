"""A run's output file on the host is kept for `[runbooks] keep_output_days`, then removed by
the executor's periodic look; Git keeps the redacted output regardless."""

import os
import time
from pathlib import Path

import pytest

from bot.config import ConfigError, load
from bot.core.effects import Upload
from bot.features.catalog import sections
from bot.features.runbooks.settings import RUNBOOKS
from tests.helpers.git import git
from tests.helpers.host import Host, ended

DAY = 86400


def age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


async def test_an_output_past_its_retention_is_removed_and_git_keeps_it(host: Host) -> None:
    reply, event = host.say("!run hello who=team")
    await host.until(event, ended)
    await host.executor.step()  # recorded
    run = reply.extra["run"]
    kept = host.bot.paths.state_dir / "runs" / f"run-{run}.txt"
    assert kept.read_text() == "hello, team\n"

    age(kept, 13)
    assert host.executor.prune() == 0 and kept.exists()  # within the 14 days
    age(kept, 15)
    assert host.executor.prune() == 1 and not kept.exists()
    month = host.bot.clock().strftime("%Y-%m")
    recorded = git(host.bot.repo, "show", f"refs/opsbot/runs:runs/{month}/{run}.txt")
    assert recorded == "hello, team\n"


async def test_an_attachment_still_owed_keeps_its_file_whatever_its_age(host: Host) -> None:
    host.program("long", "seq 1 5000\n")
    host.runbook("long", 'summary = "long"\nprogram = "long"\n')
    reply, event = host.say("!run long")
    await host.until(event, ended)
    await host.executor.step()
    kept = host.bot.paths.state_dir / "runs" / f"run-{reply.extra['run']}.txt"
    age(kept, 30)
    assert host.executor.prune() == 0 and kept.exists()  # the deliverer has not sent it yet

    ledger = host.bot.engine.ledger
    [owed] = [o for o in ledger.due() if isinstance(o.effect, Upload)]
    ledger.sent(owed, "$sent")
    assert host.executor.prune() == 1 and not kept.exists()


def test_the_retention_is_a_host_config_key(tmp_path: Path) -> None:
    base = '[paths]\nstate_dir = "/var/lib/opsbot"\nrepo = "/var/lib/opsbot/state.git"\n'
    path = tmp_path / "opsbot.toml"
    path.write_text(base)
    assert load(path, sections()).section(RUNBOOKS).keep_output_days == 14
    path.write_text(base + "[runbooks]\nkeep_output_days = 3\n")
    assert load(path, sections()).section(RUNBOOKS).keep_output_days == 3
    path.write_text(base + "[runbooks]\nkeep_output_days = -1\n")
    with pytest.raises(ConfigError) as caught:
        load(path, sections())
    assert "[runbooks] keep_output_days: must be a whole number from 0 to 3650" in (
        caught.value.message
    )
