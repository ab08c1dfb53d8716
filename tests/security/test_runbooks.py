"""Runbooks: the repo decides which declared program runs with which parameters, never how the
host loads programs nor which host secrets a runbook receives; one person cannot fill the queue;
who may cancel a run is decided before the answer. Each test is an attack from the security
review, through the real engine, executor and runner on real programs."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import cli
from bot.config import Config, ConfigError, HostPaths, load
from bot.core.effects import Job
from bot.core.errors import InvalidRecord
from bot.features.catalog import sections
from bot.features.runbooks import commands as feature
from bot.features.runbooks.declaration import decode
from bot.features.runbooks.runner import Launch, run
from bot.features.runbooks.settings import RUNBOOKS
from bot.service.assemble import init_repo, open_engine
from tests.helpers.bot import ALICE, BOB, Bot, Clock
from tests.helpers.git import git
from tests.helpers.host import Host, ended
from tests.helpers.paths import CHECKOUT
from tests.helpers.policies import RUNBOOK_POLICY

HANG = 'summary = "hang"\nprogram = "hang"\ntimeout_seconds = 600\nconcurrency = 1\n'
CONFIG = '[paths]\nstate_dir = "{state}"\nrepo = "{repo}"\n'


@pytest.fixture
def host(bot: Bot, tmp_path: Path) -> Host:
    bot.edit("policy.toml", RUNBOOK_POLICY)
    made = Host(bot, tmp_path)
    made.program("env", "env | sort\n")
    made.runbook("env", 'summary = "show the environment"\nprogram = "env"\n')
    made.program("hang", "echo waiting; sleep 300\n")
    made.runbook("hang", HANG)
    return made


# Finding 1: the repo never changes how the host loads programs.


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PYTHONPATH", '"/var/lib/opsbot/downloads/a1b2c3d4"'),
        ("LD_PRELOAD", '"/var/lib/opsbot/downloads/a1b2c3d4/x.so"'),
        ("PATH", '"/var/lib/opsbot/downloads/a1b2c3d4:/usr/bin"'),
        ("BASH_ENV", '"/var/lib/opsbot/downloads/a1b2c3d4/rc"'),
        ("HTTPS_PROXY", '"http://attacker.example:3128"'),
        ("LD_PRELOAD", '{ secret = "api_token" }'),
    ],
)
def test_a_runbook_whose_env_steers_how_programs_load_is_refused_naming_file_and_key(
    key: str, value: str
) -> None:
    text = f'summary = "x"\nprogram = "http-check"\n[env]\n{key} = {value}\n'
    with pytest.raises(InvalidRecord) as caught:
        decode("evil", text)
    assert (caught.value.path, caught.value.field) == ("runbooks/evil.toml", f"env.{key}")
    assert caught.value.message.startswith(f"runbooks/evil.toml: env.{key}: {key} ")
    assert "never how the host loads programs" in caught.value.message


async def test_the_refused_runbook_is_reported_and_the_others_keep_working(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    host.runbook("evil", 'summary = "x"\nprogram = "env"\n[env]\nPYTHONPATH = "/tmp/x"\n')
    reply, _ = host.say("!run evil")
    assert not reply.ok and reply.error == "invalid_record"
    assert reply.text.startswith("refused: runbooks/evil.toml: env.PYTHONPATH: PYTHONPATH steers")
    assert host.bot.engine.ledger.jobs("runbooks") == []
    listed, _ = host.say("!runbooks")
    assert "evil: does not validate: runbooks/evil.toml: env.PYTHONPATH" in listed.text
    assert cli.main(["check", "--repo", str(host.bot.repo)]) == 1
    assert "runbooks/evil.toml: env.PYTHONPATH: PYTHONPATH steers" in capsys.readouterr().out
    ok, event = host.say("!run env")
    assert ok.ok and " exit 0 " in await host.until(event, ended)


async def test_a_job_that_reached_the_executor_with_pythonpath_is_refused_before_it_runs(
    host: Host, tmp_path: Path
) -> None:
    """A job is data that waited in the outbox (written before these checks, say): the executor
    checks its environment again."""
    ran = tmp_path / "ran"
    host.program("touch", f"touch {ran}\n")
    host.runbook("touch", 'summary = "touch"\nprogram = "touch"\n[env]\nMODE = "x"\n')
    _, event = host.say("!run touch")
    [owed] = host.bot.engine.ledger.jobs("runbooks")
    assert isinstance(owed.effect, Job)
    forged = {**owed.effect.data, "env": {"MODE": "x", "PYTHONPATH": str(tmp_path)}}
    host.bot.engine.ledger.sent(owed, None)
    host.bot.engine.ledger.enqueue([("forged", Job("runbooks", forged))])
    text = await host.until(event, ended)
    assert "refused: env.PYTHONPATH: PYTHONPATH steers an interpreter" in text
    assert not ran.exists()


async def test_whatever_reaches_the_runner_cannot_change_path_pythonpath_or_the_loader(
    tmp_path: Path,
) -> None:
    hooks = tmp_path / "hooks.d"
    hooks.mkdir()
    (hooks / "env").write_text("#!/bin/sh\nenv | sort\n")
    (hooks / "env").chmod(0o755)
    env = {
        "PATH": str(tmp_path),
        "PYTHONPATH": str(tmp_path),
        "LD_PRELOAD": str(tmp_path / "x.so"),
        "LANG": "xx",
        "HOME": str(tmp_path),
        "GREETING": "hello",
    }
    result = await run(hooks, Launch("env", [], env, 10, 1 << 16))
    seen = dict(line.split("=", 1) for line in result.output.decode().splitlines())
    assert seen["PATH"] == "/usr/bin:/bin" and seen["LANG"] == "C.UTF-8"
    assert "PYTHONPATH" not in seen and "LD_PRELOAD" not in seen and "HOME" not in seen
    assert seen["GREETING"] == "hello"


async def test_the_shipped_http_check_never_imports_a_module_another_runbook_brought(
    tmp_path: Path,
) -> None:
    """The attack of the review: a download put a Python module on the host, a second runbook
    pointed PYTHONPATH at it, and the shipped http-check ran it as the bot's user."""
    hooks = tmp_path / "hooks.d"
    shutil.copytree(CHECKOUT / "systemd/hooks.d", hooks)
    key = tmp_path / "signing_key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY----- do-not-print\n")
    downloaded = tmp_path / "downloads" / "a1b2c3d4"
    downloaded.mkdir(parents=True)
    (downloaded / "sitecustomize.py").write_text(f"print(open({str(key)!r}).read())\n")
    launch = Launch(
        "http-check",
        ["--url", "http://127.0.0.1:9/health", "--timeout", "2"],
        {"PYTHONPATH": str(downloaded)},
        20,
        1 << 16,
    )
    result = await run(hooks, launch)
    assert b"cannot reach" in result.output  # it ran, as itself
    assert b"do-not-print" not in result.output


# Finding 1: which host secrets a runbook receives is the host config's to say.


def test_the_host_config_grants_secrets_per_runbook(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        CONFIG.format(state=tmp_path / "state", repo=tmp_path / "repo.git")
        + '[runbooks]\nsecrets = { api_token = "/run/credentials/x/api" }\n'
        + '[runbooks.grants]\napi-via-tunnel = ["api_token"]\nhttp-check = ["signing_key"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load(path, sections())
    assert caught.value.message == (
        f"{path}:8: [runbooks.grants] http-check: signing_key: not in [runbooks] secrets "
        "(known: api_token)"
    )
    path.write_text(path.read_text().replace('\nhttp-check = ["signing_key"]', ""))
    assert load(path, sections()).section(RUNBOOKS).grants == {
        "api-via-tunnel": frozenset({"api_token"})
    }


async def test_a_secret_the_host_did_not_grant_the_runbook_never_reaches_its_program(
    bot: Bot, tmp_path: Path
) -> None:
    secret = tmp_path / "signing-key"
    secret.write_text("sk-7d1e9f0a2b\n")
    bot.edit("policy.toml", RUNBOOK_POLICY)
    host = Host(bot, tmp_path, {"signing": secret}, grants={"other": ["signing"]})
    ran = tmp_path / "ran"
    host.program("leak", f'touch {ran}; echo "$KEY"\n')
    host.runbook("leak", 'summary = "x"\nprogram = "leak"\n[env]\nKEY = { secret = "signing" }\n')
    _, event = host.say("!run leak")
    text = await host.until(event, ended)
    assert text.endswith(
        "refused: the host config does not grant the secret 'signing' to leak "
        '(an admin adds [runbooks.grants] leak = ["signing"])'
    )
    assert not ran.exists()
    await host.executor.step()
    assert "sk-7d1e9f0a2b" not in git(bot.repo, "log", "-p", "refs/opsbot/runs")


def test_a_run_asking_for_an_ungranted_secret_is_refused_before_it_is_answered(
    tmp_path: Path, clock: Clock
) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=[ALICE])
    bot = Bot(
        paths,
        open_engine(
            paths, clock=clock, config=Config(paths.repo, paths, ALICE, paths.signing_key, None)
        ),
        clock,
    )
    bot.edit("policy.toml", RUNBOOK_POLICY)
    bot.edit("runbooks/leak.toml", 'summary = "x"\nprogram = "leak"\n[env]\nK = { secret = "s" }\n')
    reply = bot.say("!run leak")
    assert not reply.ok and reply.error == "refused"
    assert reply.text == (
        "refused: runbook leak asks for the secret 's' (env.K), which the host config does not "
        'grant it; an admin of the host adds [runbooks.grants] leak = ["s"]'
    )
    assert bot.engine.ledger.jobs("runbooks") == []


def test_opsbot_check_names_a_runbook_asking_for_a_secret_not_granted(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.edit("runbooks/leak.toml", 'summary = "x"\nprogram = "leak"\n[env]\nK = { secret = "s" }\n')
    config = tmp_path / "opsbot.toml"
    config.write_text(
        CONFIG.format(state=tmp_path / "state", repo=bot.repo)
        + '[runbooks]\nsecrets = { s = "/run/credentials/x/s", api_token = "/run/x/api" }\n'
        + '[runbooks.grants]\napi-via-tunnel = ["api_token"]\n'  # the template's example
    )
    assert cli.main(["check", "--config", str(config)]) == 1
    assert capsys.readouterr().out == (
        f"{config}: [matrix]: missing: opsbot run needs the homeserver and the bot's account "
        "(homeserver, user_id, password_file or access_token_file)\n"
        f"{bot.repo}: runbooks/leak.toml: env.K: the host config does not grant it the secret "
        """'s' ([runbooks.grants] leak = ["s"])\n"""
    )


# Finding 2: one person cannot queue runs ahead of everyone, and waiting costs nothing.


async def test_one_person_cannot_queue_more_runs_than_their_share(host: Host) -> None:
    _, event = host.say("!run hang", sender=BOB)
    await host.until(event, lambda t: "running" in t)
    waiting = [host.say("!run hang", sender=BOB)[0] for _ in range(feature.WAITING_EACH)]
    assert all(reply.ok for reply in waiting)
    jobs = len(host.bot.engine.ledger.jobs("runbooks"))
    refused, _ = host.say("!run hang", sender=BOB)
    ids = [reply.extra["run"] for reply in waiting]
    assert not refused.ok and refused.error == "refused"
    assert refused.text == (
        f"refused: you have {len(ids)} runs waiting ({', '.join(ids)}); "
        f"!run cancel {ids[-1]} or wait"
    )
    assert len(host.bot.engine.ledger.jobs("runbooks")) == jobs  # nothing queued
    someone_else, _ = host.say("!run hang", sender=ALICE)
    assert someone_else.ok
    await host.executor.stop()


async def test_everyone_together_cannot_queue_past_the_limit(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feature, "WAITING_ALL", 2)
    host.say("!run hang", sender=BOB)
    host.say("!run hang", sender=ALICE)
    refused, _ = host.say("!run env", sender=BOB)
    assert refused.text == "refused: 2 runs are waiting already; try again once some ended"


async def test_waiting_runs_cost_nothing_per_step(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, event = host.say("!run hang", sender=BOB)
    await host.until(event, lambda t: "running" in t)
    for _ in range(3):
        host.say("!run hang", sender=BOB)
    await host.executor.step()  # taken in, each told which run it waits for
    looks: list[str] = []
    journal = host.executor.journal
    original: Callable[[str], list[object]] = journal.in_state  # type: ignore[assignment]
    monkeypatch.setattr(journal, "in_state", lambda state: looks.append(state) or original(state))
    for _ in range(20):
        await host.executor.step()
    assert looks == []
    await host.executor.stop()


# Finding 3: who may cancel a run is decided before the answer.


async def test_cancelling_someone_elses_run_is_refused_from_the_first_answer(host: Host) -> None:
    started, event = host.say("!run hang", sender=ALICE)
    run_id = started.extra["run"]
    await host.until(event, lambda t: "running" in t)
    refused, _ = host.say(f"!run cancel {run_id}", sender=BOB)
    assert not refused.ok and refused.error == "forbidden"
    assert (
        refused.text == f"refused: run {run_id} is {ALICE}'s; only they or an admin may cancel it"
    )
    assert host.bot.engine.ledger.jobs("runbooks") == []  # nothing asked of the executor
    await host.executor.step()
    assert run_id in host.executor.live
    await host.executor.stop()


def test_cancelling_a_run_that_does_not_exist_is_refused_at_once(host: Host) -> None:
    refused, _ = host.say("!run cancel 0badc0de", sender=BOB)
    assert not refused.ok and refused.error == "not_found"
    assert refused.text.startswith("refused: cannot cancel run 0badc0de: no such run")
    assert host.bot.engine.ledger.jobs("runbooks") == []
