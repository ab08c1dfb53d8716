"""The index keeps up with the notes as a rebuild from nothing would: an outcome added, rewritten
or removed after the index caught up gives the numbers `opsbot reindex` gives."""

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from bot.cli import main
from bot.features.catalog import index_tables
from bot.features.metrics.facts import Scope
from bot.state.index import Index
from bot.state.notes import add_note
from bot.state.outcome import RunOutcome
from tests.helpers.bot import Bot
from tests.helpers.git import git
from tests.helpers.metrics import START, M, deploy, outcome, report


def reindexed(bot: Bot) -> dict[str, Any]:
    """The report after deleting the index's rows and building them again from Git."""
    bot.engine.index.close()
    assert main(["reindex", "--repo", str(bot.repo)]) == 0
    bot.engine.index = Index(bot.paths.index, index_tables())
    return asdict(report(bot))


def test_a_later_outcome_of_a_deploy_replaces_what_the_index_had(bot: Bot) -> None:
    sha = deploy(bot, "!deploy web 1.0 to prod", at=0)
    outcome(bot, sha, "failed", at=5, final=False)
    assert (report(bot).deploys, report(bot).changes) == (0, 0)  # still being tried
    outcome(bot, sha, "ok", at=15, attempt=2)
    r = report(bot)
    assert (r.deploys, r.changes, r.lead_time.median) == (1, 1, 15 * M)
    assert reindexed(bot) == asdict(r)


def test_a_note_removed_with_git_leaves_its_deploy_unsettled(bot: Bot) -> None:
    sha = deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    assert report(bot).deploys == 1
    who = ("-c", "user.name=Ops", "-c", "user.email=ops@example.org")
    git(bot.repo, *who, "notes", "--ref=opsbot", "remove", sha)
    r = report(bot)
    assert (r.deploys, r.changes) == (0, 0)
    assert reindexed(bot) == asdict(r)


def test_a_note_indexed_before_its_commit_settles_it_when_the_commit_is(bot: Bot) -> None:
    # Main is read before the notes; a commit made between the two reads (by the bot, while
    # another process indexes) has its note indexed first, and its row settled when it comes.
    sha = deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    late = Index(bot.paths.state_dir / "late-index.sqlite", index_tables())
    late._sync_notes(bot.engine.repo)
    assert late.db.conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 1
    late.sync(bot.engine.repo)
    row = late.db.conn.execute("SELECT applied_at FROM deployments WHERE sha = ?", [sha])
    assert row.fetchone()[0] is not None
    bot.engine.index.close()
    bot.engine.index = late
    assert report(bot, Scope(env="prod")).deploys == 1


def test_a_commit_writing_two_deployment_records_is_one_deploy_of_all(bot: Bot) -> None:
    # Pushed with plain git: web 1.0 asked for in dev and prod by one commit, both applied.
    # A deploy is named by its commit (as an incident's cause, as a note): over all
    # environments it counts once, as its last record (prod); each environment counts its own.
    record = (
        'version = "1.0"\nrequested_by = "@alice:example.org"\n'
        'requested_at = 2026-11-26T12:00:00Z\ncommand = "deploy"\n'
    )
    sha = bot.push(
        {"deployments/dev/web.toml": record, "deployments/prod/web.toml": record}, "deploy both"
    )
    assert bot.say(f"!adopt {sha[:7]}").ok  # history is what is in force
    for env in ("dev", "prod"):
        add_note(
            bot.engine.repo,
            RunOutcome(sha, "web", env, "1.0", "ok", 1, True, None, START + timedelta(minutes=10)),
        )
    assert report(bot).deploys == 1
    assert report(bot, Scope(env="dev")).deploys == 1
    assert report(bot, Scope(env="prod")).deploys == 1
    assert report(bot, Scope(app="web")).deploys == 1
