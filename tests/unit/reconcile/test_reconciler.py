"""The reconciler on a real state repo, with real hook scripts, read back with the real git CLI."""

import asyncio
import time
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from bot.reconcile.apply import utc_now
from bot.reconcile.journal import ReconcileJournal
from bot.state.outcome import RunOutcome
from tests.helpers.hooks import gone, write_hook
from tests.helpers.host import Host

RETRY = """version = "1.4.2"
requested_by = "@alice:example.org"
requested_at = 2026-11-26T13:00:00Z
reason = "the registry is back"
"""


def statuses(outcomes: list[RunOutcome]) -> list[tuple[str, str, str, int, bool]]:
    return [(o.app, o.version, o.status, o.attempt, o.final) for o in outcomes]


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


# applying the desired state


async def test_a_deploy_runs_the_apps_hook_with_app_version_and_env(host: Host) -> None:
    host.deploy("web", "1.4.2", "staging")
    outcomes = await host.reconciler().reconcile_once()
    assert host.called() == ["web 1.4.2 staging"]
    assert statuses(outcomes) == [("web", "1.4.2", "ok", 1, True)]


async def test_a_hook_waits_until_the_answer_announcing_its_commit_has_gone_out(
    host: Host,
) -> None:
    asked: list[set[str]] = []
    ran_while_announcing: list[bool] = []

    def announcing(commits: Collection[str]) -> bool:
        asked.append(set(commits))
        on_its_way = len(asked) < 4  # the answer is out after the third look
        if on_its_way:
            ran_while_announcing.append(host.called() != [])
        return on_its_way

    reconciler = host.reconciler(announcing=announcing)
    stop = asyncio.Event()
    running = asyncio.create_task(reconciler.run(stop))
    commit = host.deploy("web", "1.4.2")
    reconciler.trigger(commit)
    await until(lambda: host.called() == ["web 1.4.2 dev"])
    stop.set()
    await running
    assert asked[:4] == [{commit}] * 4
    assert ran_while_announcing == [False] * 3


async def test_a_pass_begun_before_the_commit_still_waits_for_its_answer(host: Host) -> None:
    announced = asyncio.Event()
    ran_while_announcing: list[bool] = []

    def announcing(commits: Collection[str]) -> bool:
        if not commits or announced.is_set():
            return False
        ran_while_announcing.append(host.called() != [])
        return True

    reconciler = host.reconciler(announcing=announcing)
    stop = asyncio.Event()
    running = asyncio.create_task(reconciler.run(stop))
    host.deploy("web", "1.4.2")  # not triggered with its commit: the pass at start finds it
    await until(lambda: len(ran_while_announcing) >= 3)
    announced.set()
    await until(lambda: host.called() == ["web 1.4.2 dev"])
    stop.set()
    await running
    assert set(ran_while_announcing) == {False}


async def test_a_hook_starts_when_the_reconciler_is_told_its_answer_went_out(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.reconcile.reconciler.ANNOUNCE_POLL", 30.0)  # no look of its own
    monkeypatch.setattr("bot.reconcile.reconciler.ANNOUNCE_FIRST", 30.0)
    announced = asyncio.Event()
    reconciler = host.reconciler(
        announcing=lambda commits: bool(commits) and not announced.is_set()
    )
    stop = asyncio.Event()
    running = asyncio.create_task(reconciler.run(stop))
    reconciler.trigger(host.deploy("web", "1.4.2"))
    await asyncio.sleep(0.1)
    assert host.called() == []
    announced.set()
    reconciler.progress()
    await until(lambda: host.called() == ["web 1.4.2 dev"], within=2.0)
    stop.set()
    await running


async def test_an_answer_that_never_goes_out_holds_the_hook_back_only_briefly(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.reconcile.reconciler.ANNOUNCE_FIRST", 0.2)
    reconciler = host.reconciler(announcing=lambda _commits: True)
    stop = asyncio.Event()
    running = asyncio.create_task(reconciler.run(stop))
    reconciler.trigger(host.deploy("web", "1.4.2"))
    started = time.monotonic()
    await until(lambda: host.called() == ["web 1.4.2 dev"])
    stop.set()
    await running
    assert 0.2 <= time.monotonic() - started < 2.0


async def test_the_note_on_the_deploy_commit_says_ok(host: Host) -> None:
    commit = host.deploy("web", "1.4.2")
    await host.reconciler().reconcile_once()
    shown = host.log_with_notes(commit)
    assert "Notes (opsbot):" in shown
    assert "deploy web 1.4.2 to dev: ok in " in shown
    assert "(hook deploy-web, exit 0) at 20" in shown
    assert "  | deploying web 1.4.2 to dev" in shown


async def test_the_hook_knows_the_request_through_opsbot_variables(host: Host) -> None:
    host.hook(
        "deploy-web", 'echo "$OPSBOT_APP $OPSBOT_VERSION $OPSBOT_ENV $OPSBOT_COMMIT" > {calls}'
    )
    commit = host.deploy("web", "1.4.2")
    await host.reconciler().reconcile_once()
    assert host.called() == [f"web 1.4.2 dev {commit}"]


async def test_applied_says_which_version_runs_and_who_asked(host: Host) -> None:
    commit = host.deploy("web", "1.4.2")
    reconciler = host.reconciler()
    assert reconciler.applied() == {}
    await reconciler.reconcile_once()
    applied = reconciler.applied()
    assert list(applied) == [("dev", "web")]
    assert (applied["dev", "web"].version, applied["dev", "web"].commit) == ("1.4.2", commit)


async def test_an_unchanged_desired_state_runs_no_hook(host: Host) -> None:
    host.deploy("web", "1.4.2")
    reconciler = host.reconciler()
    await reconciler.reconcile_once()
    assert await reconciler.reconcile_once() == []
    assert await host.reconciler().reconcile_once() == []  # nor after a restart
    assert host.called() == ["web 1.4.2 dev"]


async def test_each_new_desired_version_runs_the_hook_again(host: Host) -> None:
    reconciler = host.reconciler()
    host.deploy("web", "1.0")
    await reconciler.reconcile_once()
    host.deploy("web", "2.0")
    host.bot.say("!rollback web in dev")
    await reconciler.reconcile_once()
    assert host.called() == ["web 1.0 dev"]  # back at 1.0, which the host runs already
    host.deploy("web", "2.0")
    await reconciler.reconcile_once()
    assert host.called() == ["web 1.0 dev", "web 2.0 dev"]


async def test_a_failing_hook_is_retried_then_marked_failed(host: Host) -> None:
    host.hook("deploy-web", 'echo "$@" >> {calls}\necho "cannot pull image" >&2\nexit 3\n')
    commit = host.deploy("web", "1.4.2")
    outcomes = await host.reconciler(retries=2).reconcile_once()
    assert host.called() == ["web 1.4.2 dev"] * 3
    assert statuses(outcomes) == [
        ("web", "1.4.2", "failed", 1, False),
        ("web", "1.4.2", "failed", 2, False),
        ("web", "1.4.2", "failed", 3, True),
    ]
    last = outcomes[-1].result
    assert last is not None and (last.exit_code, last.output_tail) == (3, "cannot pull image\n")
    note = host.note(commit)
    assert "(hook deploy-web, exited with 3), attempt 1, will retry, at" in note
    assert "(hook deploy-web, exited with 3), attempt 3, gave up, at" in note
    assert note.count("  | cannot pull image") == 3


async def test_a_hook_that_fails_then_succeeds_is_ok_on_its_retry(host: Host) -> None:
    host.hook("deploy-web", 'echo "$@" >> {calls}\n[ "$OPSBOT_ATTEMPT" = 2 ]\n')
    commit = host.deploy("web", "1.4.2")
    outcomes = await host.reconciler().reconcile_once()
    assert statuses(outcomes) == [
        ("web", "1.4.2", "failed", 1, False),
        ("web", "1.4.2", "ok", 2, True),
    ]
    assert "deploy web 1.4.2 to dev: ok on attempt 2 in" in host.note(commit)


async def test_a_request_that_failed_for_good_is_not_retried_every_pass(host: Host) -> None:
    host.hook("deploy-web", 'echo "$@" >> {calls}\nexit 1\n')
    host.deploy("web", "1.4.2")
    reconciler = host.reconciler(retries=0)
    await reconciler.reconcile_once()
    assert await reconciler.reconcile_once() == []
    assert host.called() == ["web 1.4.2 dev"]
    # Asking again (a new commit on the deployment, same version) is a new request.
    host.bot.edit("deployments/dev/web.toml", RETRY)
    await reconciler.reconcile_once()
    assert host.called() == ["web 1.4.2 dev"] * 2


async def test_a_hook_that_hangs_is_killed_at_the_timeout_with_its_children(
    host: Host, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    host.hook("deploy-web", f"sleep 60 &\necho $! > {pids}\nsleep 60\n")
    commit = host.deploy("web", "1.4.2")
    started = time.monotonic()
    outcomes = await host.reconciler(timeout=0.5, retries=0).reconcile_once()
    assert time.monotonic() - started < 3
    result = outcomes[0].result
    assert result is not None and result.error == "timed out after 0.5s"
    assert await gone(int(pids.read_text()))
    assert "(hook deploy-web, timed out after 0.5s), attempt 1, gave up" in host.note(commit)


async def test_a_hook_printing_ten_megabytes_leaves_only_its_tail(host: Host) -> None:
    host.hook("deploy-web", "head -c 10000000 /dev/zero | tr '\\0' x\necho\necho THE END\n")
    commit = host.deploy("web", "1.4.2")
    outcomes = await host.reconciler().reconcile_once()
    result = outcomes[0].result
    assert result is not None and result.ok and len(result.output_tail) == 4096
    note = host.note(commit)
    assert note.endswith("  | THE END\n" + note.splitlines()[-1] + "\n")
    assert len(note) < 6000


@pytest.mark.parametrize(
    ("hook", "error"),
    [
        ("missing-hook", "missing"),
        ("not-executable", "not executable"),
        ("../escape", "outside the hooks directory"),
        ("link-outside", "outside the hooks directory"),
    ],
)
async def test_a_refused_hook_is_a_recorded_failure_and_other_apps_are_served(
    host: Host, tmp_path: Path, hook: str, error: str
) -> None:
    marker = tmp_path / "ran"
    escape = write_hook(tmp_path, "escape", f"touch {marker}\n")
    host.hook("not-executable", f"touch {marker}\n", mode=0o644)
    (host.hooks / "link-outside").symlink_to(escape)
    host.bot.edit("apps/web.toml", f'deploy = "{hook}"\n')
    commit = host.deploy("web", "1.4.2")
    host.deploy("api", "2.0.0")
    outcomes = await host.reconciler(retries=1).reconcile_once()
    assert sorted(statuses(outcomes)) == [
        ("api", "2.0.0", "ok", 1, True),
        ("web", "1.4.2", "failed", 1, False),
        ("web", "1.4.2", "failed", 2, True),
    ]
    assert not marker.exists()
    assert host.called() == ["api 2.0.0 dev"]
    assert f"failed in 0.0s (hook {hook}, {error}), attempt 2, gave up" in host.note(commit)


async def test_an_app_without_a_deploy_hook_is_reported_once_as_not_reconcilable(
    host: Host,
) -> None:
    host.bot.edit("apps/web.toml", 'description = "no hook yet"\n')
    commit = host.deploy("web", "1.4.2")
    reconciler = host.reconciler()
    outcomes = await reconciler.reconcile_once()
    assert statuses(outcomes) == [("web", "1.4.2", "no-hook", 0, True)]
    assert "deploy web 1.4.2 to dev: not applied (apps/web.toml names no deploy hook)" in (
        host.note(commit)
    )
    assert await reconciler.reconcile_once() == []
    assert reconciler.applied() == {}


async def test_an_app_that_gains_a_deploy_hook_is_then_applied(host: Host) -> None:
    host.bot.edit("apps/web.toml", 'description = "no hook yet"\n')
    host.deploy("web", "1.4.2")
    reconciler = host.reconciler()
    await reconciler.reconcile_once()
    host.bot.edit("apps/web.toml", 'deploy = "deploy-web"\n')
    assert statuses(await reconciler.reconcile_once()) == [("web", "1.4.2", "ok", 1, True)]


async def test_a_newer_desired_version_supersedes_a_pending_retry(host: Host) -> None:
    host.hook("deploy-web", 'echo "$@" >> {calls}\n[ "$2" != 1.0 ]\n')
    old = host.deploy("web", "1.0")
    reconciler = host.reconciler(backoff=10.0)  # the retry would wait 10 s
    first = asyncio.create_task(reconciler.reconcile_once())
    await until(lambda: len(host.called()) == 1)
    new = host.deploy("web", "2.0")
    started = time.monotonic()
    second = await reconciler.reconcile_once()
    assert time.monotonic() - started < 3  # did not wait out the backoff
    assert statuses(await first) == [
        ("web", "1.0", "failed", 1, False),
        ("web", "1.0", "superseded", 1, True),
    ]
    assert statuses(second) == [("web", "2.0", "ok", 1, True)]
    assert host.called() == ["web 1.0 dev", "web 2.0 dev"]
    assert f"superseded by 2.0 (commit {new[:7]}) before it was applied" in host.note(old)
    assert reconciler.applied()["dev", "web"].version == "2.0"


async def test_two_apps_run_in_parallel(host: Host) -> None:
    timed = 'start=$(date +%s.%N)\nsleep 0.4\necho "$1 $start $(date +%s.%N)" >> {calls}\n'
    host.hook("deploy-web", timed)
    host.hook("deploy-container", timed)
    host.deploy("web", "1.0")
    host.deploy("api", "1.0")
    await host.reconciler().reconcile_once()
    spans = {app: (float(a), float(b)) for app, a, b in (x.split() for x in host.called())}
    assert spans["web"][0] < spans["api"][1] and spans["api"][0] < spans["web"][1]


async def test_runs_on_one_app_never_overlap(host: Host, tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    host.hook(
        "deploy-web",
        f"start=$(date +%s.%N)\necho $2 >> {starts}\nsleep 0.4\n"
        'echo "$2 $start $(date +%s.%N)" >> {calls}\n',
    )
    reconciler = host.reconciler()
    host.deploy("web", "1.0")
    first = asyncio.create_task(reconciler.reconcile_once())
    await until(starts.exists)
    host.deploy("web", "2.0")  # while 1.0 is being deployed
    second = await reconciler.reconcile_once()
    assert statuses(await first) == [("web", "1.0", "ok", 1, True)]  # a running hook finishes
    assert statuses(second) == [("web", "2.0", "ok", 1, True)]
    (_, _, end_1), (_, start_2, _) = (map(float, x.split()) for x in host.called())
    assert start_2 >= end_1


async def test_a_suspended_app_is_left_alone(host: Host) -> None:
    host.bot.edit("suspended/web.toml", 'reason = "investigating"\n')
    web = host.deploy("web", "1.4.2")
    host.deploy("api", "2.0.0")
    reconciler = host.reconciler()
    assert statuses(await reconciler.reconcile_once()) == [("api", "2.0.0", "ok", 1, True)]
    assert host.called() == ["api 2.0.0 dev"]
    assert "Notes (opsbot)" not in host.log_with_notes(web)
    host.bot.edit("suspended/web.toml", None)
    assert statuses(await reconciler.reconcile_once()) == [("web", "1.4.2", "ok", 1, True)]


async def test_a_suspended_environment_is_left_alone(host: Host) -> None:
    host.bot.edit("suspended/dev.toml", 'reason = "maintenance"\n')
    host.deploy("web", "1.0", "dev")
    host.deploy("web", "1.0", "staging")
    await host.reconciler().reconcile_once()
    assert host.called() == ["web 1.0 staging"]


async def test_suspending_an_app_drops_its_pending_retry(host: Host) -> None:
    host.hook("deploy-web", 'echo "$@" >> {calls}\nexit 1\n')
    host.deploy("web", "1.0")
    reconciler = host.reconciler(backoff=10.0)
    first = asyncio.create_task(reconciler.reconcile_once())
    await until(lambda: len(host.called()) == 1)
    host.bot.edit("suspended/web.toml", 'reason = "broken hook"\n')
    assert await reconciler.reconcile_once() == []
    assert statuses(await asyncio.wait_for(first, 3)) == [("web", "1.0", "failed", 1, False)]
    assert host.called() == ["web 1.0 dev"]


async def test_health_runs_each_deployed_apps_health_hook(host: Host) -> None:
    host.hook("health-http", 'echo "$@" >> {calls}\necho "checked $1"\n[ "$1" = web ]\n')
    host.deploy("web", "1.0")
    host.deploy("api", "1.0", "staging")
    health = await host.reconciler().check_health()
    assert sorted(host.called()) == ["api staging", "web dev"]
    assert {target: result.ok for target, result in health.items()} == {
        ("dev", "web"): True,
        ("staging", "api"): False,
    }
    assert health["staging", "api"].output_tail == "checked api\n"


# what survives a crash


async def test_applied_is_rebuilt_from_the_notes_when_the_journal_is_lost(host: Host) -> None:
    host.hook("deploy-container", "exit 1\n")
    web = host.deploy("web", "1.4.2")
    host.deploy("api", "2.0.0")
    reconciler = host.reconciler(retries=0)
    await reconciler.reconcile_once()
    before = reconciler.applied()
    reconciler.close()
    for file in host.bot.paths.state_dir.glob("reconcile.sqlite*"):
        file.unlink()

    reborn = host.reconciler(retries=0)
    assert reborn.applied() == before
    assert before["dev", "web"].commit == web
    assert await reborn.reconcile_once() == []  # neither the applied nor the failed one again
    assert host.called() == ["web 1.4.2 dev"]


async def test_a_run_interrupted_by_a_crash_is_recorded_and_retried_on_start(host: Host) -> None:
    commit = host.deploy("web", "1.4.2")
    host.reconciler().close()
    # What a crash while the hook ran leaves behind: a run started and never finished.
    journal = ReconcileJournal(host.bot.paths.state_dir / "reconcile.sqlite")
    journal.start(commit, "dev", "web", "1.4.2", 1, "deploy-web", utc_now())
    journal.close()

    outcomes = await host.reconciler().reconcile_once()
    assert statuses(outcomes) == [
        ("web", "1.4.2", "interrupted", 1, False),
        ("web", "1.4.2", "ok", 2, True),
    ]
    note = host.note(commit)
    assert "deploy web 1.4.2 to dev: interrupted (opsbot stopped while hook deploy-web ran)" in note
    assert "deploy web 1.4.2 to dev: ok on attempt 2" in note
    assert host.called() == ["web 1.4.2 dev"]


async def test_a_run_interrupted_on_its_last_attempt_is_not_run_again(host: Host) -> None:
    commit = host.deploy("web", "1.4.2")
    host.reconciler().close()
    journal = ReconcileJournal(host.bot.paths.state_dir / "reconcile.sqlite")
    journal.start(commit, "dev", "web", "1.4.2", 1, "deploy-web", utc_now())
    journal.close()

    outcomes = await host.reconciler(retries=0).reconcile_once()
    assert statuses(outcomes) == [("web", "1.4.2", "interrupted", 1, True)]
    assert host.called() == []
    assert "attempt 1, gave up" in host.note(commit)


# running as a service


async def test_run_reconciles_on_trigger_and_reports_outcomes(host: Host) -> None:
    reported: asyncio.Queue[RunOutcome] = asyncio.Queue()
    reconciler = host.reconciler(on_outcome=reported.put, interval=60)
    stop = asyncio.Event()
    running = asyncio.create_task(reconciler.run(stop))
    commit = host.deploy("web", "1.4.2")
    await asyncio.to_thread(reconciler.trigger)  # as the engine would, from its worker thread
    outcome = await asyncio.wait_for(reported.get(), 5)
    assert (outcome.commit, outcome.status, outcome.final) == (commit, "ok", True)
    stop.set()
    await asyncio.wait_for(running, 5)


async def test_run_reconciles_every_interval(host: Host) -> None:
    reported: asyncio.Queue[RunOutcome] = asyncio.Queue()
    reconciler = host.reconciler(on_outcome=reported.put, interval=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(reconciler.run(stop))
    host.deploy("web", "1.4.2")  # a commit nobody triggers for, as from another process
    assert (await asyncio.wait_for(reported.get(), 5)).ok
    stop.set()
    await asyncio.wait_for(running, 5)


async def test_stopping_kills_a_running_hook_which_runs_again_at_the_next_start(
    host: Host, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    host.hook("deploy-web", f"echo $$ >> {pids}\n[ $OPSBOT_ATTEMPT = 2 ] || sleep 60\n")
    commit = host.deploy("web", "1.4.2")
    stop = asyncio.Event()
    running = asyncio.create_task(host.reconciler(timeout=30).run(stop))
    await until(lambda: pids.exists() and pids.read_text().strip() != "")
    stop.set()
    await asyncio.wait_for(running, 5)
    assert await gone(int(pids.read_text().split()[0]))

    outcomes = await host.reconciler().reconcile_once()
    assert statuses(outcomes) == [("web", "1.4.2", "ok", 2, True)]
    note = host.note(commit)
    assert "interrupted (opsbot stopped while hook deploy-web ran), attempt 1, will retry" in note


async def test_a_failing_outcome_callback_does_not_stop_reconciling(host: Host) -> None:
    async def broken(outcome: RunOutcome) -> None:
        raise RuntimeError("room is gone")

    host.deploy("web", "1.0")
    host.deploy("api", "1.0")
    outcomes = await host.reconciler(on_outcome=broken).reconcile_once()
    assert sorted(statuses(outcomes)) == [
        ("api", "1.0", "ok", 1, True),
        ("web", "1.0", "ok", 1, True),
    ]


async def test_status_shows_applied_health_and_drift(host: Host) -> None:
    host.hook("deploy-web")
    host.hook("health-http", "exit 0\n")
    host.hook("deploy-container", "exit 1\n")
    reconciler = host.reconciler(retries=0)
    host.deploy("web", "1.4.2")
    host.deploy("api", "2.0.0")
    await reconciler.reconcile_once()
    await reconciler.refresh_health()  # what `run` does after each pass
    text = host.with_runtime(reconciler).say("!status dev").text
    assert "  web 1.4.2 (by @alice:example.org, just now) · applied, healthy" in text
    api = "  api 2.0.0 (by @alice:example.org, just now) · not applied yet, healthy, drift"
    assert f"{api}, last attempt failed (exited with 1)" in text


async def test_status_shows_the_version_the_observe_hook_sees_running(host: Host) -> None:
    host.hook("deploy-web")
    host.hook("observe-web", 'echo "1.4.1"\n')
    host.bot.edit("apps/web.toml", 'deploy = "deploy-web"\nobserve = "observe-web"\n')
    reconciler = host.reconciler(retries=0)
    host.deploy("web", "1.4.2")
    await reconciler.reconcile_once()
    await reconciler.refresh_health()
    text = host.with_runtime(reconciler).say("!status dev").text
    assert "  web 1.4.2 (by @alice:example.org, just now) · applied, running 1.4.1, drift" in text


async def test_a_redeploy_after_a_final_failure_runs_the_hook_again(host: Host) -> None:
    host.hook("deploy-web", "exit 1\n")
    reconciler = host.reconciler(retries=0)
    host.deploy("web", "1.4.2")
    [failed] = await reconciler.reconcile_once()
    assert failed.status == "failed" and failed.final
    assert await reconciler.reconcile_once() == []  # given up: not retried by itself
    host.hook("deploy-web")  # the cause is fixed
    host.bot.clock.advance(minutes=5)
    assert host.bot.say("!redeploy web in dev").ok
    [again] = await reconciler.reconcile_once()
    assert again.status == "ok"
    assert reconciler.applied()[("dev", "web")].version == "1.4.2"
