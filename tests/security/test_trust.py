"""Outside commits are not obeyed: what is in force is the tip of main opsbot wrote, whatever
a message claims. An admin adopts or discards what came from outside, in a signed commit that
says who did."""

import tomllib
from pathlib import Path

from bot.reconcile.desired import read_desired
from bot.service.assemble import open_engine
from bot.service.watch import Watcher
from bot.state.message import Message
from bot.state.repo import Identity, StateRepo
from bot.state.signing import SigningKey
from tests.helpers.bot import ALICE, BOB, MALLORY, Bot
from tests.helpers.git import git

MALLORY_ADMIN = f"""
[roles.admin]
members = ["{ALICE}", "{MALLORY}"]
"""
FAKE_COMMAND = "make mallory an admin\n\nOpsbot-Command: !grant @mallory:example.org admin\n"


def test_an_unsigned_push_does_not_change_who_may_do_what(bot: Bot) -> None:
    bot.push({"policy.toml": MALLORY_ADMIN}, FAKE_COMMAND)
    reply = bot.say("!deploy web 1.0.0 to prod", sender=MALLORY)
    assert reply.error == "forbidden", reply.text


def test_nothing_is_written_on_top_of_an_unsigned_push(bot: Bot) -> None:
    pushed = bot.push({"apps/web.toml": 'description = "changed by hand"\n'}, "by hand")
    reply = bot.say("!deploy web 1.0.0 to dev")
    assert reply.error == "outside_commits"
    assert pushed[:7] in reply.text and "!adopt" in reply.text
    assert bot.head() == pushed


def test_an_admin_adopts_an_unsigned_push_in_a_signed_commit(bot: Bot) -> None:
    pushed = bot.push({"policy.toml": MALLORY_ADMIN}, FAKE_COMMAND)
    adopted = bot.say(f'!adopt {pushed[:7]} --reason "reviewed with mallory"')
    assert adopted.ok, adopted.text
    git(bot.repo, "verify-commit", "main")
    assert git(bot.repo, "rev-parse", "main^").strip() == pushed
    assert git(bot.repo, "log", "-1", "--format=%ae", "main").strip() == ALICE
    assert bot.say("!deploy web 1.0.0 to prod", sender=MALLORY).ok


def test_only_an_admin_may_adopt(bot: Bot) -> None:
    pushed = bot.push({"policy.toml": MALLORY_ADMIN}, FAKE_COMMAND)
    reply = bot.say(f"!adopt {pushed[:7]}", sender=MALLORY)
    assert reply.error == "forbidden", reply.text


def test_discarding_an_unsigned_push_restores_the_signed_files(bot: Bot) -> None:
    before = bot.show("policy.toml")
    bot.push({"policy.toml": MALLORY_ADMIN, "apps/evil.toml": ""}, FAKE_COMMAND)
    reply = bot.say("!discard")
    assert reply.ok, reply.text
    git(bot.repo, "verify-commit", "main")
    assert bot.show("policy.toml") == before
    assert "evil.toml" not in git(bot.repo, "ls-tree", "--name-only", "main", "apps/")
    assert bot.say("!deploy web 1.0.0 to dev").ok


def test_the_reconciler_applies_only_what_a_trusted_key_signed(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    bot.push({"deployments/dev/web.toml": 'version = "6.6.6"\n'}, "deploy: web 6.6.6 to dev")
    desired = read_desired(bot.engine.repo, bot.engine.index)
    assert desired.targets[("dev", "web")].version == "1.0.0"


async def test_the_watcher_announces_an_unsigned_push_despite_its_opsbot_trailer(
    bot: Bot, tmp_path: Path
) -> None:
    said: list[str] = []

    async def announce(text: str) -> None:
        said.append(text)

    watcher = Watcher(bot.engine.repo, tmp_path / "seen", announce, lambda: None)
    await watcher.check()
    bot.say("!deploy web 1.0.0 to dev")
    pushed = bot.push({"policy.toml": MALLORY_ADMIN}, FAKE_COMMAND)

    assert await watcher.check() == [pushed]
    assert "not in force" in said[-1] and "!adopt" in said[-1]


async def test_the_watcher_does_not_announce_the_bots_own_commits(bot: Bot, tmp_path: Path) -> None:
    said: list[str] = []

    async def announce(text: str) -> None:
        said.append(text)

    watcher = Watcher(bot.engine.repo, tmp_path / "seen", announce, lambda: None)
    await watcher.check()
    bot.say('!deploy web 1.0.0 to dev --reason "no Opsbot-Command here"')
    assert await watcher.check() == []
    assert said == []


def test_a_team_key_in_the_host_config_puts_its_signed_pushes_in_force(
    bot: Bot, tmp_path: Path
) -> None:
    team = SigningKey.generate()
    signers = tmp_path / "team_signers"
    signers.write_text(team.allowed_signers_line("ci@example.org") + "\n")
    repo = StateRepo(bot.repo, committer=Identity("CI", "ci@example.org"), signer=team)
    with repo.locked():
        repo.commit(
            {"policy.toml": MALLORY_ADMIN.encode()},
            Message("policy: mallory joins"),
            Identity("CI", "ci@example.org"),
            bot.clock(),
            parent=repo.head(),
        )
    engine = open_engine(bot.paths, extra_signers=signers, clock=bot.clock)
    bot.engine = engine
    assert bot.say("!deploy web 1.0.0 to prod", sender=MALLORY).ok


def test_grant_gives_a_role_in_a_signed_commit(bot: Bot) -> None:
    reply = bot.say(f'!grant {BOB} deployer --reason "joins the team"')
    assert reply.ok, reply.text
    git(bot.repo, "verify-commit", "main")
    assert BOB in tomllib.loads(bot.show("policy.toml"))["roles"]["deployer"]["members"]
    assert bot.say("!deploy web 1.0.0 to dev", sender=BOB).ok


def test_revoke_takes_the_role_away(bot: Bot) -> None:
    bot.say(f"!grant {BOB} deployer")
    assert bot.say(f"!revoke {BOB} deployer").ok
    assert bot.say("!deploy web 1.0.0 to dev", sender=BOB).error == "forbidden"


def test_only_admins_grant_even_with_a_role_that_may_run_everything(bot: Bot) -> None:
    bot.edit(
        "policy.toml",
        f'[roles.admin]\nmembers = ["{ALICE}"]\n\n[roles.ops]\nmembers = ["{BOB}"]\n'
        'commands = ["*"]\n',
    )
    reply = bot.say(f"!grant {BOB} admin", sender=BOB)
    assert reply.error == "forbidden", reply.text


def test_the_last_admin_cannot_be_revoked(bot: Bot) -> None:
    reply = bot.say(f"!revoke {ALICE} admin")
    assert reply.error == "refused" and "last admin" in reply.text


def test_roles_lists_who_has_which_role(bot: Bot) -> None:
    bot.say(f"!grant {BOB} deployer")
    text = bot.say("!roles", sender=BOB).text
    assert f"admin: {ALICE}; may run every command, everywhere" in text
    assert any(line.startswith("deployer: ") and BOB in line for line in text.splitlines())
