"""Mirrors: after each commit, `main` and the notes reach every remote of `[mirrors] remotes`,
in the background, read back here with `git`. A failing remote is announced once however many
commits it misses, and again when it is back; a remote someone else changed is never
overwritten."""

import asyncio
from pathlib import Path

from bot.features.catalog import kept_refs
from bot.features.runbooks.record import RUNS_REF, record
from bot.service.mirror import Mirrors, shown
from bot.state.notes import NOTES, add_note
from bot.state.outcome import HookResult, RunOutcome
from tests.helpers.bot import Bot
from tests.helpers.git import bare, git, tip
from tests.helpers.mirror import Announcements, running
from tests.helpers.runs import a_job
from tests.helpers.waiting import eventually


def noted(bot: Bot, commit: str) -> None:
    result = HookResult("deploy-web", True, 0, 0.8, "restarted\n", None)
    outcome = RunOutcome(commit, "web", "staging", "1.4.2", "ok", 1, True, result, bot.clock())
    add_note(bot.engine.repo, outcome)


async def test_each_commit_and_the_notes_reach_a_mirror(bot: Bot, tmp_path: Path) -> None:
    backup = bare(tmp_path / "backup.git")
    announcements = Announcements()
    mirrors = Mirrors(bot.engine.repo, [str(backup)], announcements.announce, poll=60)

    async with running(mirrors):
        await eventually(lambda: tip(backup) == bot.head(), "the first push")
        reply = bot.say("!deploy web 1.4.2 to staging --reason 'new login page'")
        assert reply.commit is not None
        mirrors.trigger()
        await eventually(lambda: tip(backup) == reply.commit, "the deploy")
        noted(bot, reply.commit)
        await asyncio.to_thread(mirrors.trigger)  # the reconciler's thread, say
        await eventually(lambda: tip(backup, NOTES.decode()) is not None, "the notes")

    assert git(backup, "log", "--format=%H %an %s", "main") == git(
        bot.repo, "log", "--format=%H %an %s", "main"
    )
    assert tip(backup, NOTES.decode()) == tip(bot.repo, NOTES.decode())
    shown_log = git(backup, "log", "--notes=opsbot", "-1", "main")
    assert "Notes (opsbot):\n    deploy web 1.4.2 to staging: ok in 0.8s" in shown_log
    verified = git(
        backup,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"gpg.ssh.allowedSignersFile={bot.paths.allowed_signers}",
        "verify-commit",
        "main",
    )
    assert verified == ""  # git verify-commit says nothing on stdout when all is well
    assert announcements.said == []


async def test_commits_made_without_a_trigger_reach_the_mirror_too(
    bot: Bot, tmp_path: Path
) -> None:
    backup = bare(tmp_path / "backup.git")
    mirrors = Mirrors(bot.engine.repo, [str(backup)], Announcements().announce, poll=0.1)

    async with running(mirrors):
        await eventually(lambda: tip(backup) == bot.head(), "the first push")
        sha = bot.edit("runbooks/disk.toml", 'hooks = ["df"]\n')  # as `opsbot` on the host would
        await eventually(lambda: tip(backup) == sha, "the edit")


async def test_a_failing_mirror_is_announced_once_and_again_when_it_is_back(
    bot: Bot, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.git"  # not a repository (yet)
    backup = bare(tmp_path / "backup.git")
    announcements = Announcements()
    mirrors = Mirrors(
        bot.engine.repo,
        [str(missing), str(backup)],
        announcements.announce,
        poll=0.05,
        backoff_first=0.02,
        backoff_cap=0.1,
    )

    async with running(mirrors):
        for version in range(1, 6):
            assert bot.say(f"!deploy web 1.4.{version} to staging").ok
            mirrors.trigger()
            await asyncio.sleep(0.2)
        await eventually(lambda: tip(backup) == bot.head(), "the good mirror")  # not held up
        assert mirrors.failing() == [str(missing)]
        bare(missing)
        await eventually(lambda: tip(missing) == bot.head(), "the mirror back")
        await eventually(lambda: len(announcements.said) == 2, "the recovery")

    failing, back = announcements.said
    assert failing.startswith(f"mirror {missing} is failing: ")
    assert "will say when it is back" in failing
    assert back.startswith(f"mirror {missing} is back: main at {bot.head()[:7]} pushed after ")
    assert git(missing, "log", "--format=%H", "main") == git(bot.repo, "log", "--format=%H", "main")
    assert mirrors.failing() == []


async def test_a_mirror_someone_else_pushed_to_is_reported_not_overwritten(
    bot: Bot, tmp_path: Path
) -> None:
    backup = bare(tmp_path / "backup.git")
    git(tmp_path, "clone", "-q", str(bot.repo), "work")
    work = tmp_path / "work"
    (work / "notes.txt").write_text("mine\n")
    git(work, "add", "notes.txt")
    git(work, "-c", "user.name=Eve", "-c", "user.email=eve@example.org", "commit", "-qm", "eve")
    git(work, "push", "-q", str(backup), "main")
    theirs = tip(backup)
    announcements = Announcements()
    mirrors = Mirrors(
        bot.engine.repo,
        [str(backup)],
        announcements.announce,
        poll=0.05,
        backoff_first=0.02,
        backoff_cap=0.05,
        report_after=1,
    )

    async with running(mirrors):
        await eventually(lambda: bool(announcements.said), "the report")
        await asyncio.sleep(0.3)  # more attempts, no more announcements

    assert tip(backup) == theirs
    assert announcements.said == [
        f"mirror {backup} is failing: the mirror has commits the state repo does not (someone "
        "pushed to it); a mirror is never overwritten. opsbot keeps retrying (with backoff) and "
        "will say when it is back; commits are safe in the state repo"
    ]


def test_a_password_in_a_remote_is_never_shown() -> None:
    assert shown("https://opsbot:hunter2@git.example.org/state.git") == (
        "https://opsbot:***@git.example.org/state.git"
    )
    assert shown("ssh://git@git.example.org/state.git") == "ssh://git@git.example.org/state.git"
    assert shown("/srv/backup/state.git") == "/srv/backup/state.git"


async def test_an_unreachable_http_mirror_keeps_its_password_out_of_the_announcement(
    bot: Bot, tmp_path: Path
) -> None:
    announcements = Announcements()
    remote = "http://opsbot:hunter2@127.0.0.1:9/state.git"  # the discard port: nobody answers
    mirrors = Mirrors(
        bot.engine.repo,
        [remote],
        announcements.announce,
        poll=0.05,
        backoff_first=0.02,
        backoff_cap=0.05,
    )

    async with running(mirrors):
        await eventually(lambda: bool(announcements.said), "the report")

    [said] = announcements.said
    assert said.startswith("mirror http://opsbot:***@127.0.0.1:9/state.git is failing: ")
    assert "hunter2" not in said


async def test_no_remotes_is_nothing_to_do(bot: Bot) -> None:
    mirrors = Mirrors(bot.engine.repo, [], Announcements().announce)
    mirrors.trigger()
    await asyncio.wait_for(mirrors.run(asyncio.Event()), 1)


async def test_the_runs_ref_reaches_a_mirror_and_a_clone_of_it(bot: Bot, tmp_path: Path) -> None:
    backup = bare(tmp_path / "backup.git")
    mirrors = Mirrors(
        bot.engine.repo, [str(backup)], Announcements().announce, refs=kept_refs(), poll=0.1
    )
    job = a_job("3f9a2c1b", "$run")
    result = {"status": "ok", "exit_code": 0, "duration": 0.1, "size": 3, "sha256": "x"}

    async with running(mirrors):
        await eventually(lambda: tip(backup) == bot.head(), "the first push")
        recorded = record(bot.engine.repo, job, result, "ok\n")  # as the executor does
        await eventually(lambda: tip(backup, RUNS_REF.decode()) == recorded, "the run")

    clone = tmp_path / "restored.git"
    git(tmp_path, "clone", "-q", "--mirror", str(backup), str(clone))
    assert git(clone, "show", "refs/opsbot/runs:runs/2026-11/3f9a2c1b.txt") == "ok\n"
    assert git(clone, "log", "--format=%an %s", "refs/opsbot/runs") == "Alice run: disk (exit 0)\n"


async def test_a_proposal_waiting_for_approval_reaches_a_mirror(bot: Bot, tmp_path: Path) -> None:
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    backup = bare(tmp_path / "backup.git")
    mirrors = Mirrors(bot.engine.repo, [str(backup)], Announcements().announce, poll=0.1)

    async with running(mirrors):
        reply = bot.say("!deploy web 2.0.0 to prod")
        assert reply.text.startswith("proposal 1:")
        await eventually(lambda: tip(backup, "proposals/1") is not None, "the proposal")

    clone = tmp_path / "restored.git"
    git(tmp_path, "clone", "-q", "--mirror", str(backup), str(clone))
    assert 'version = "2.0.0"' in git(clone, "show", "proposals/1:deployments/prod/web.toml")
    assert 'version = "2.0.0"' not in git(
        clone, "show", "main:deployments/prod/web.toml", check=False
    )
