"""!runbooks, !run and !run cancel through the real engine, run by the real executor on real
programs, recorded in the real repo and read back with the git CLI."""

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.core.effects import Job, Upload
from bot.engine.answers import answer_id
from bot.engine.services import Services
from bot.features.runbooks.executor import Executor
from tests.helpers.bot import ALICE, BOB, MALLORY, ROOM, Bot
from tests.helpers.git import git
from tests.helpers.host import ECHO, Host, ended
from tests.helpers.policies import RUNBOOK_POLICY


async def test_a_run_answers_with_its_output_and_is_recorded_on_its_own_ref(host: Host) -> None:
    reply, event = host.say("!run hello who=team")
    assert reply.ok and reply.text.startswith("run ") and reply.text.endswith(": starting…")
    text = await host.until(event, ended)
    run = reply.extra["run"]
    assert text.startswith(f"run {run}: hello who=team: exit 0 in ")
    assert text.endswith("\nhello, team\n")
    await host.executor.step()
    assert host.runs("--format=%an <%ae>|%s") == f"Alice <{ALICE}>|run: hello who=team (exit 0)\n"
    month = host.bot.clock().strftime("%Y-%m")
    record = git(host.bot.repo, "show", f"refs/opsbot/runs:runs/{month}/{run}.toml")
    assert f'requested_by = "{ALICE}"' in record and f'event = "{event}"' in record
    assert 'status = "ok"' in record and "exit_code = 0" in record
    assert 'output_sha256 = "' in record and "output_bytes = 12" in record
    assert git(host.bot.repo, "show", f"refs/opsbot/runs:runs/{month}/{run}.txt") == "hello, team\n"
    trailers = host.runs("--format=%(trailers:key=Opsbot-Run,key=Matrix-Event,valueonly)")
    assert trailers.split() == [run, event]
    # The desired state's history stays the desired state's.
    assert git(host.bot.repo, "log", "--oneline", "main", "--", "deployments/", "runs/") == ""
    assert "run:" not in git(host.bot.repo, "log", "--format=%s", "main")
    assert git(host.bot.repo, "verify-commit", "refs/opsbot/runs", check=False) is not None


async def test_a_mistyped_parameter_gets_the_runbooks_usage_and_runs_nothing(host: Host) -> None:
    reply, _ = host.say("!run hello who='world; rm -rf /'")
    assert not reply.ok and reply.error == "usage"
    assert reply.text == (
        "refused: who 'world; rm -rf /' must be one of: world, team\n"
        "usage: !run hello [who=<world|team>]"
    )
    assert host.bot.engine.ledger.jobs("runbooks") == []


async def test_an_unknown_runbook_is_refused_with_suggestions(host: Host) -> None:
    reply, _ = host.say("!run helo")
    assert reply.text == "refused: no runbook 'helo'; did you mean hello? !runbooks lists them"


def test_runbooks_lists_only_those_a_person_may_run(host: Host) -> None:
    host.runbook("secret-query", ECHO + 'roles = ["dba"]\n'.replace("roles", "\nroles"))
    host.bot.edit("runbooks/secret-query.toml", 'roles = ["dba"]\n' + ECHO)
    mine, _ = host.say("!runbooks", sender=BOB)
    assert "!run hello [who=<world|team>]  say hello" in mine.text
    assert "secret-query" not in mine.text
    admins, _ = host.say("!runbooks")
    assert "secret-query" in admins.text


def test_help_run_shows_the_usage_generated_from_the_declaration(host: Host) -> None:
    reply, _ = host.say("!help run hello")
    assert reply.text.splitlines()[:3] == [
        "!run hello [who=<world|team>]",
        "  say hello",
        "  who: enum (default world)",
    ]


async def test_a_run_from_someone_without_the_runbooks_role_is_refused(host: Host) -> None:
    host.bot.edit("runbooks/hello.toml", 'roles = ["dba"]\n' + ECHO)
    reply, _ = host.say("!run hello", sender=BOB)
    assert reply.error == "forbidden" and "is for the roles dba" in reply.text
    reply, _ = host.say("!run hello", sender=MALLORY)
    assert reply.error == "forbidden"


async def test_a_runbook_that_acts_needs_confirm(host: Host) -> None:
    host.bot.edit("runbooks/hello.toml", "confirm = true\n" + ECHO)
    reply, _ = host.say("!run hello who=team")
    assert reply.text == (
        "refused: runbook hello acts on the system, so it needs --confirm; "
        "type: !run hello who=team --confirm"
    )
    reply, event = host.say("!run hello who=team --confirm")
    assert reply.ok
    assert "exit 0" in await host.until(event, ended)


async def test_a_second_run_waits_for_the_first_then_runs(host: Host) -> None:
    host.program("slow", "sleep 1; echo done\n")
    host.runbook("slow", 'summary = "slow"\nprogram = "slow"\n')
    first, one = host.say("!run slow")
    _, two = host.say("!run slow", sender=BOB)
    await host.executor.step()
    assert host.answer(two).endswith(f"queued behind run {first.extra['run']} by {ALICE}")
    await host.until(one, ended)
    assert "exit 0" in await host.until(two, ended)


async def test_a_busy_runbook_that_refuses_names_the_run_holding_it(host: Host) -> None:
    host.program("slow", "sleep 1; echo done\n")
    host.runbook("slow", 'summary = "slow"\nprogram = "slow"\nwhen_busy = "refuse"\n')
    first, one = host.say("!run slow")
    _, two = host.say("!run slow", sender=BOB)
    await host.executor.step()
    assert host.answer(two).endswith(
        f"refused: slow is busy: run {first.extra['run']} by {ALICE} holds it (at most 1 at a time)"
    )
    await host.until(one, ended)
    assert "(refused)" in host.runs("--format=%s")  # the refused run is recorded too


async def test_cancel_stops_a_run_and_only_its_owner_or_an_admin_may(host: Host) -> None:
    host.program("hang", "echo waiting; sleep 300\n")
    host.runbook("hang", 'summary = "hang"\nprogram = "hang"\ntimeout_seconds = 600\n')
    started, event = host.say("!run hang", sender=BOB)
    run = started.extra["run"]
    await host.until(event, lambda t: "running" in t)
    _, denied = host.say(f"!run cancel {run}", sender=MALLORY)
    assert host.answer(denied).startswith("refused")  # MALLORY may not even type it
    _, cancel = host.say(f"!run cancel {run}")
    text = await host.until(event, ended)
    assert text.startswith(f"run {run}: hang: cancelled · output 8 bytes")
    assert host.answer(cancel) == f"cancelled run {run} (hang by {BOB})"


async def test_a_hang_past_the_timeout_is_killed_and_recorded(host: Host) -> None:
    host.program("hang", "sleep 300\n")
    host.runbook("hang", 'summary = "hang"\nprogram = "hang"\ntimeout_seconds = 1\n')
    _, event = host.say("!run hang")
    assert "timed out: timed out after 1s" in await host.until(event, ended)
    await host.executor.step()
    assert "run: hang (timed out)" in host.runs("--format=%s")


async def test_a_program_missing_from_the_hooks_directory_is_a_clear_refused_run(
    host: Host,
) -> None:
    host.runbook("gone", 'summary = "gone"\nprogram = "not-installed"\n')
    _, event = host.say("!run gone")
    text = await host.until(event, ended)
    assert text.endswith("refused: program 'not-installed': missing")


async def test_a_printed_secret_is_redacted_in_the_reply_and_in_git(
    bot: Bot, tmp_path: Path
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text("tok-4f9a8b7c6d\n")
    bot.edit("policy.toml", RUNBOOK_POLICY)
    host = Host(bot, tmp_path, {"api_token": secret}, grants={"leaky": ["api_token"]})
    host.program("leaky", 'echo "using $API_TOKEN"; echo "password=hunter2"; exit 2\n')
    host.runbook(
        "leaky",
        'summary = "leaky"\nprogram = "leaky"\nredact = ["password=\\\\S+"]\n'
        '[env]\nAPI_TOKEN = { secret = "api_token" }\n',
    )
    _, event = host.say("!run leaky")
    text = await host.until(event, ended)
    assert "failed: exit 2" in text
    assert text.endswith("using [redacted]\n[redacted]\n")
    await host.executor.step()
    everything = git(bot.repo, "log", "-p", "refs/opsbot/runs")
    assert "tok-4f9a8b7c6d" not in everything and "hunter2" not in everything
    assert "using [redacted]" in everything


async def test_a_secret_the_host_does_not_have_refuses_the_run(host: Host) -> None:
    host.runbook(
        "needs", 'summary = "x"\nprogram = "hello"\nargs = ["x"]\n[env]\nT = { secret = "nope" }\n'
    )
    _, event = host.say("!run needs")
    assert "the secret 'nope' is not set on this host" in await host.until(event, ended)


async def test_a_long_output_comes_as_an_attachment_with_its_last_lines(host: Host) -> None:
    host.program("long", "seq 1 5000\n")
    host.runbook("long", 'summary = "long"\nprogram = "long"\n')
    reply, event = host.say("!run long")
    text = await host.until(event, ended)
    run = reply.extra["run"]
    assert f"the output is attached (run-{run}.txt); its last lines:\n4996\n" in text
    [upload] = [o.effect for o in host.bot.engine.ledger.due() if isinstance(o.effect, Upload)]
    assert (upload.room, upload.name, upload.in_reply_to) == (ROOM, f"run-{run}.txt", event)
    assert Path(upload.path).read_text() == "".join(f"{n}\n" for n in range(1, 5001))


async def test_a_restart_marks_the_run_in_flight_interrupted(
    host: Host, bot: Bot, tmp_path: Path
) -> None:
    host.program("hang", "sleep 300\n")
    host.runbook("hang", 'summary = "hang"\nprogram = "hang"\ntimeout_seconds = 600\n')
    _, event = host.say("!run hang")
    await host.until(event, lambda t: "running" in t)
    for live in host.executor.live.values():  # the process stops: its runs with it
        live.task.cancel()
    await asyncio.sleep(0.1)
    host.executor.close()
    again = Executor(
        bot.engine.repo,
        bot.engine.ledger,
        Services(bot.engine),
        host.hooks,
        bot.paths.state_dir,
        {},
    )
    again.recover()
    assert "interrupted: interrupted by a restart of opsbot" in host.answer(event)
    assert "run: hang (interrupted)" in host.runs("--format=%s")


async def test_a_run_in_an_incident_room_appears_in_its_timeline(host: Host) -> None:
    host.say("!incident open sev2 checkout errors")
    incident_room = "!incident:example.org"
    toml = git(host.bot.repo, "show", "main:incidents/INC-1/incident.toml")
    host.bot.edit(
        "incidents/INC-1/incident.toml",
        toml.replace("[roles]", f'room = "{incident_room}"\n\n[roles]'),
    )
    reply, event = host.say("!run hello", room=incident_room)
    await host.until(event, ended)
    for _ in range(100):  # the note follows the edit, in the run's own task
        timeline = git(host.bot.repo, "show", "main:incidents/INC-1/timeline/0001.toml")
        if "ran !run" in timeline:
            break
        await asyncio.sleep(0.05)
    assert "ran !run hello who=world: exit 0" in timeline
    assert f"run {reply.extra['run']}" in timeline


async def test_opsbot_verify_checks_the_runs_signatures_too(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    _, event = host.say("!run hello")
    await host.until(event, ended)
    await host.executor.step()
    capsys.readouterr()
    assert cli.main(["verify", "--repo", str(host.bot.repo)]) == 0
    main = int(git(host.bot.repo, "rev-list", "--count", "main"))
    assert capsys.readouterr().out.startswith(f"{main + 1} of {main + 1} commits signed")
    # Someone adds a run record of their own, unsigned.
    forged = git(
        host.bot.repo,
        "-c",
        "user.name=Eve",
        "-c",
        "user.email=eve@example.org",
        "commit-tree",
        "refs/opsbot/runs^{tree}",
        "-p",
        "refs/opsbot/runs",
        "-m",
        "run: forged",
    ).strip()
    git(host.bot.repo, "update-ref", "refs/opsbot/runs", forged)
    assert cli.main(["verify", "--repo", str(host.bot.repo)]) == 1
    assert f"unsigned or bad signature: {forged}" in capsys.readouterr().out


async def test_a_job_an_earlier_release_left_in_the_outbox_is_still_taken(host: Host) -> None:
    """The outbox of an upgraded host may hold a job as releases before typed jobs wrote it
    (before download runbooks: no `sha256`); it runs as it would have, and is recorded."""
    reply, event = host.say("!run hello who=team")
    [owed] = host.bot.engine.ledger.jobs("runbooks")
    host.bot.engine.ledger.sent(owed, None)  # in its place, the job as it was written then
    run = reply.extra["run"]
    earlier = {
        "action": "start",
        "id": run,
        "kind": "command",
        "runbook": "hello",
        "values": {"who": "team"},
        "shown": "who=team",
        "command": "!run hello who=team",
        "program": "hello",
        "args": ["team"],
        "env": {},
        "secrets": {},
        "timeout": 5,
        "keep": 65536,
        "redact": [],
        "concurrency": 1,
        "when_busy": "queue",
        "tunnel": None,
        "sender": ALICE,
        "sender_name": "Alice",
        "place": "#ops",
        "room": ROOM,
        "event": event,
        "answer": answer_id(event),
        "at": "2026-11-26T10:00:00+00:00",
        "incident": None,
    }
    host.bot.engine.ledger.enqueue([("earlier", Job("runbooks", earlier))])
    text = await host.until(event, ended)
    assert text.startswith(f"run {run}: hello who=team: exit 0 in ")
    assert text.endswith("\nhello, team\n")
    await host.executor.step()
    assert host.runs("--format=%an|%s") == "Alice|run: hello who=team (exit 0)\n"
    assert not host.bot.engine.ledger.jobs("runbooks")
