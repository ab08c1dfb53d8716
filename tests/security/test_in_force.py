"""What is in force is the tip of main opsbot wrote (or an admin adopted), as opsbot remembers it:
never what a key signed elsewhere, never HEAD. Each test is an attack of the third security review,
made the way someone who may write to the repo would make it."""

import subprocess
from pathlib import Path

import pytest

from bot import cli
from bot.features.runbooks.record import RUNS_REF
from bot.reconcile.desired import read_desired
from bot.service.assemble import open_engine
from bot.state.message import Message
from bot.state.repo import Identity
from tests.helpers.bot import ALICE, BOB, CAROL, MALLORY, Bot
from tests.helpers.git import git
from tests.helpers.outside import outside_commits
from tests.helpers.policies import GATED_POLICY

MALLORY_ADMIN = f'[roles.admin]\nmembers = ["{ALICE}", "{MALLORY}"]\n'


def move_main(bot: Bot, to: str) -> None:
    """main moved as someone who may write the repo's files can (`git update-ref`)."""
    git(bot.repo, "update-ref", "refs/heads/main", to)


def test_a_thousand_unsigned_commits_do_not_put_the_pushers_policy_in_force(bot: Bot) -> None:
    pushed = outside_commits(bot.repo, bot.head(), 1001, {"policy.toml": MALLORY_ADMIN})
    move_main(bot, pushed)
    assert bot.say("!deploy web 1.0.0 to prod", sender=MALLORY).error == "forbidden"
    assert bot.say(f"!adopt {pushed[:7]}", sender=MALLORY).error == "forbidden"


def test_an_orphan_commit_on_main_is_not_in_force_and_stops_writes(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    orphan = outside_commits(bot.repo, None, 1, {"policy.toml": MALLORY_ADMIN})
    move_main(bot, orphan)
    assert bot.say("!deploy web 1.0.0 to prod", sender=MALLORY).error == "forbidden"
    refused = bot.say("!deploy web 2.0.0 to dev")
    assert refused.error == "outside_commits" and "moved outside opsbot" in refused.text
    assert f"!adopt {orphan[:7]}" in refused.text
    desired = read_desired(bot.engine.repo, bot.engine.index)
    assert desired.targets[("dev", "web")].version == "1.0.0"


def test_main_moved_onto_a_proposal_branch_does_not_put_the_unapproved_deploy_in_force(
    bot: Bot,
) -> None:
    bot.edit("policy.toml", GATED_POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    assert bot.say("!deploy web 6.6.6 to prod", sender=BOB).ok
    proposal = git(bot.repo, "rev-parse", "proposals/1").strip()
    move_main(bot, proposal)  # a fast-forward: the proposal starts at main

    assert ("prod", "web") not in read_desired(bot.engine.repo, bot.engine.index).targets
    assert bot.say("!deploy web 1.0.0 to dev", sender=BOB).error == "outside_commits"
    dry_run = bot.say(f"!adopt {proposal[:7]} --dry-run")
    assert dry_run.ok and "deployments/prod/web.toml" in dry_run.text


def test_main_moved_onto_the_runs_ref_keeps_the_policy_in_force(bot: Bot) -> None:
    repo = bot.engine.repo
    with repo.locked():
        run = repo.commit(
            {"runs/1.toml": b"ok = true\n"},
            Message("run 1"),
            Identity("opsbot", "@opsbot:x"),
            bot.clock(),
            parent=None,
            ref=RUNS_REF,
            new_ref=True,
        )
    before = bot.head()
    move_main(bot, run)
    assert bot.say("!status").ok  # the policy in force is still the one opsbot wrote
    assert bot.say("!deploy web 1.0.0 to dev").error == "outside_commits"
    discarded = bot.say("!discard")
    assert discarded.ok, discarded.text
    assert git(bot.repo, "rev-parse", "main^1").strip() == before
    assert bot.show("policy.toml") == bot.show("policy.toml", before)
    assert run not in git(bot.repo, "log", "--first-parent", "--format=%H", "main")
    assert bot.say("!deploy web 1.0.0 to dev").ok


def test_nothing_remembered_means_nothing_in_force_not_head(bot: Bot) -> None:
    bot.paths.in_force.unlink()
    bot.edit("policy.toml", MALLORY_ADMIN)  # signed by the bot's key, and still not on record
    bot.paths.in_force.unlink()
    head = bot.head()
    refused = bot.say("!deploy web 1.0.0 to prod", sender=MALLORY)
    assert not refused.ok and "nothing is in force" in refused.text
    assert "opsbot migrate" in refused.text
    assert bot.head() == head


def test_the_repo_refuses_a_force_push_and_deleting_a_branch(bot: Bot, tmp_path: Path) -> None:
    first = bot.head()
    bot.say("!deploy web 1.0.0 to dev")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bot.repo), str(clone))
    git(clone, "branch", "side", first)
    git(clone, "push", "-q", "origin", "side")
    rewind = subprocess.run(
        ["git", "-C", str(clone), "push", "--force", "origin", f"{first}:main"],
        capture_output=True,
        text=True,
    )
    delete = subprocess.run(
        ["git", "-C", str(clone), "push", "origin", ":side"], capture_output=True, text=True
    )
    assert rewind.returncode != 0 and "non-fast-forward" in rewind.stderr
    assert delete.returncode != 0 and "deletion prohibited" in delete.stderr
    assert bot.head() != first


def test_migrate_sets_an_earlier_repo_against_rewrites_and_remembers_opsbots_own_tip(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.edit("policy.toml", GATED_POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    assert bot.say("!deploy web 6.6.6 to prod", sender=BOB).ok
    ours = bot.head()
    # As 0.3.0 left it: no record, a repo that takes force-pushes, and main moved onto the
    # proposal meanwhile.
    bot.paths.in_force.unlink()
    git(bot.repo, "config", "--unset", "receive.denyNonFastForwards")
    git(bot.repo, "config", "--unset", "receive.denyDeletes")
    move_main(bot, git(bot.repo, "rev-parse", "proposals/1").strip())

    assert cli.main(["migrate", "--repo", str(bot.repo)]) in (0, 1)
    capsys.readouterr()
    assert git(bot.repo, "config", "receive.denyNonFastForwards").strip() == "true"
    assert git(bot.repo, "config", "receive.denyDeletes").strip() == "true"
    assert bot.paths.in_force.read_text().split()[1] == ours


def test_rollback_never_returns_to_a_discarded_push(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0.0 to dev").ok
    bot.push({"deployments/dev/web.toml": 'version = "6.6.6"\n'}, "deploy: web 6.6.6 to dev")
    assert bot.say("!discard").ok
    reply = bot.say("!rollback web in dev")
    assert reply.error == "refused" and "no previous version" in reply.text
    assert 'version = "1.0.0"' in bot.show("deployments/dev/web.toml")


def test_history_does_not_list_a_discarded_push(bot: Bot) -> None:
    bot.push({"apps/web.toml": 'description = "x"\n'}, "deploy: web 9.9.9 to prod")
    assert bot.say("!discard").ok
    text = bot.say("!history").text
    assert "9.9.9" not in text and "Mallory" not in text


def test_a_pushed_proposal_record_does_not_close_that_proposal_after_discard_and_reindex(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.edit("policy.toml", GATED_POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    bot.push({"proposals/1.toml": 'number = 1\nstatus = "merged"\n'}, "merge proposal 1")
    assert bot.say("!discard").ok
    assert cli.main(["reindex", "--repo", str(bot.repo)]) == 0
    capsys.readouterr()
    bot.engine = open_engine(bot.paths, clock=bot.clock)  # on the index made anew
    assert bot.say("!deploy web 2.0.0 to prod", sender=BOB).text.startswith("proposal 1:")
    approved = bot.say("!approve 1", sender=CAROL)
    assert approved.ok, approved.text
    assert 'version = "2.0.0"' in bot.show("deployments/prod/web.toml")


def test_a_pushed_branch_with_a_huge_number_does_not_push_new_proposals_past_approve(
    bot: Bot, tmp_path: Path
) -> None:
    bot.edit("policy.toml", GATED_POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    git(bot.repo, "update-ref", "refs/heads/proposals/1000000000", bot.head())
    opened = bot.say("!deploy web 2.0.0 to prod", sender=BOB)
    assert opened.text.startswith("proposal 1:"), opened.text
    assert bot.say("!approve 1", sender=CAROL).ok


def test_adopt_takes_the_commit_reviewed_and_not_one_pushed_after(bot: Bot) -> None:
    reviewed = bot.push({"apps/web.toml": 'description = "reviewed"\n'}, "reviewed change")
    later = bot.push({"policy.toml": MALLORY_ADMIN}, "pushed after the review")
    adopted = bot.say(f"!adopt {reviewed[:7]}")
    assert adopted.ok, adopted.text
    assert later[:7] in adopted.text and "not adopted" in adopted.text
    assert git(bot.repo, "rev-parse", "main^1").strip() == reviewed
    assert "reviewed" in bot.show("apps/web.toml")
    assert bot.show("policy.toml") != MALLORY_ADMIN
    assert bot.say("!deploy web 1.0.0 to prod", sender=MALLORY).error == "forbidden"


def test_adopts_dry_run_lists_the_files_and_warns_about_the_policy(bot: Bot) -> None:
    pushed = bot.push(
        {"policy.toml": MALLORY_ADMIN, "runbooks/x.toml": 'summary = "x"\n'}, "innocent"
    )
    reply = bot.say(f"!adopt {pushed[:7]} --dry-run")
    assert reply.ok and bot.head() == pushed
    assert "policy.toml" in reply.text and "runbooks/x.toml" in reply.text
    assert "WARNING: this changes who may run which command" in reply.text
    assert "WARNING: this changes which programs the host runs" in reply.text


def test_adopt_refuses_a_commit_that_is_not_waiting(bot: Bot) -> None:
    bot.push({"apps/web.toml": 'description = "x"\n'}, "x")
    reply = bot.say(f"!adopt {bot.engine.repo.trust().commit[:7]}")  # type: ignore[index]
    assert reply.error == "refused" and "not one of the 1 commit(s) waiting" in reply.text
