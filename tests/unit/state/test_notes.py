"""Outcomes as git notes, written through StateRepo and read back with the real git CLI."""

from dataclasses import replace
from datetime import UTC, datetime

from bot.state.notes import NOTES, add_note, all_outcomes, parse_note, read_note, render
from bot.state.outcome import HookResult, RunOutcome
from tests.helpers.bot import Bot
from tests.helpers.git import git

AT = datetime(2026, 11, 26, 14, 5, 0, 123456, tzinfo=UTC)


def deployed(bot: Bot, output: str = "pulled web:1.4.2\nrestarted\n") -> RunOutcome:
    reply = bot.say("!deploy web 1.4.2 to prod")
    assert reply.commit is not None
    result = HookResult("deploy-web", True, 0, 1.234, output, None)
    return RunOutcome(reply.commit, "web", "prod", "1.4.2", "ok", 1, True, result, AT)


def test_a_note_reads_as_one_line_per_run_with_the_output_under_it(bot: Bot) -> None:
    outcome = deployed(bot)
    add_note(bot.engine.repo, outcome)
    note = git(bot.repo, "notes", "--ref=opsbot", "show", outcome.commit)
    lines = note.splitlines()
    assert lines[:3] == [
        "deploy web 1.4.2 to prod: ok in 1.2s (hook deploy-web, exit 0) at 2026-11-26T14:05:00Z",
        "  | pulled web:1.4.2",
        "  | restarted",
    ]
    assert lines[3].startswith("Opsbot-Run: {")
    assert len(lines) == 4


def test_git_log_shows_the_note_under_the_commit(bot: Bot) -> None:
    outcome = deployed(bot)
    add_note(bot.engine.repo, outcome)
    shown = git(bot.repo, "log", "--notes=opsbot", "-1", outcome.commit)
    assert "deploy: web 1.4.2 to prod" in shown
    assert "Notes (opsbot):\n    deploy web 1.4.2 to prod: ok in 1.2s" in shown


def test_each_run_appends_a_block_to_the_note(bot: Bot) -> None:
    outcome = deployed(bot)
    failed = HookResult("deploy-web", False, 2, 0.5, "no space left\n", "exited with 2")
    add_note(bot.engine.repo, replace(outcome, status="failed", final=False, result=failed))
    add_note(bot.engine.repo, replace(outcome, attempt=2))
    note = git(bot.repo, "notes", "--ref=opsbot", "show", outcome.commit)
    blocks = note.split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].startswith("deploy web 1.4.2 to prod: failed in 0.5s (hook deploy-web, ")
    assert blocks[1].startswith("deploy web 1.4.2 to prod: ok on attempt 2 in 1.2s")


def test_notes_are_signed_commits_on_their_own_ref_and_main_does_not_move(bot: Bot) -> None:
    outcome = deployed(bot)
    add_note(bot.engine.repo, outcome)
    add_note(bot.engine.repo, replace(outcome, attempt=2))
    assert bot.head() == outcome.commit
    assert git(bot.repo, "rev-list", "--count", NOTES.decode()).strip() == "2"
    git(bot.repo, "verify-commit", NOTES.decode())
    git(bot.repo, "fsck", "--strict")


def test_noting_the_same_outcome_twice_writes_it_once(bot: Bot) -> None:
    outcome = deployed(bot)
    first = add_note(bot.engine.repo, outcome)
    assert add_note(bot.engine.repo, outcome) == first
    note = git(bot.repo, "notes", "--ref=opsbot", "show", outcome.commit)
    assert note.count("Opsbot-Run:") == 1


def test_hook_output_cannot_put_escape_sequences_in_a_terminal(bot: Bot) -> None:
    outcome = deployed(bot, output="\x1b[2J\x1b]0;owned\x07cleared\n")
    add_note(bot.engine.repo, outcome)
    note = read_note(bot.engine.repo, outcome.commit)
    assert note is not None and "\x1b" not in note and "\x07" not in note
    assert "  | \ufffd[2J\ufffd]0;owned\ufffdcleared" in note


def test_only_the_last_lines_of_output_go_in_the_note(bot: Bot) -> None:
    output = "".join(f"line {n}\n" for n in range(100))
    outcome = deployed(bot, output=output)
    add_note(bot.engine.repo, outcome)
    note = read_note(bot.engine.repo, outcome.commit)
    assert note is not None
    assert [line for line in note.splitlines() if line.startswith("  | ")] == [
        f"  | line {n}" for n in range(80, 100)
    ]


def test_the_outcomes_are_read_back_from_the_notes(bot: Bot) -> None:
    outcome = deployed(bot)
    refused = HookResult("../x", False, None, 0.0, "", "outside the hooks directory")
    other = replace(outcome, env="dev", status="failed", result=refused, at=AT.replace(hour=15))
    add_note(bot.engine.repo, outcome)
    add_note(bot.engine.repo, other)
    assert sorted(all_outcomes(bot.engine.repo), key=lambda o: o.at) == [outcome, other]


def test_outcomes_without_a_hook_run_round_trip_too() -> None:
    sha = "a" * 40
    superseded = RunOutcome(sha, "web", "prod", "1.0", "superseded", 2, True, None, AT, "2.0 (b1)")
    no_hook = replace(superseded, status="no-hook", attempt=0, detail="apps/web.toml is missing")
    text = render(superseded) + "\n" + render(no_hook)
    assert parse_note(sha, text) == [superseded, no_hook]


def test_a_block_edited_by_hand_is_skipped_and_the_rest_still_counts() -> None:
    sha = "a" * 40
    good = RunOutcome(sha, "web", "prod", "1.0", "no-hook", 0, True, None, AT, "no hook")
    text = "someone's comment\nOpsbot-Run: {not json\n\n" + render(good)
    assert parse_note(sha, text) == [good]
