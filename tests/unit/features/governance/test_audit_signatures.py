"""Each change's signature, checked against the keys allowed at the commit's time (the
allowed-signers file's valid-after and valid-before), as `git verify-commit` checks it."""

import os
import subprocess
import time
from datetime import UTC, datetime

from bot.features.governance.audit_history import NO_SIGNATURE, NOT_ALLOWED, UNSIGNED, VERIFIED
from bot.state.signing import SigningKey, public_blob
from tests.helpers.audit import audit, commit, deployment, signed_at, signers
from tests.helpers.bot import BOB, Bot

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the key lines below are dated around it


def allow(bot: Bot, key: SigningKey, options: str) -> None:
    """A line for `key` in the bot's allowed-signers file, as an operator writes it."""
    with bot.paths.allowed_signers.open("a") as file:
        file.write(f'@ci:example.org namespaces="git",{options} {key.public_line()}\n')


def git_verifies(bot: Bot, sha: str) -> bool:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(bot.repo.parent)}
    run = subprocess.run(
        ["git", "-C", str(bot.repo), "verify-commit", sha], capture_output=True, env=env
    )
    return run.returncode == 0


def test_a_commit_signed_by_a_key_retired_later_still_verifies_as_at_that_time(bot: Bot) -> None:
    retired = SigningKey.generate()
    allow(bot, retired, 'valid-before="20261127"')
    sha = signed_at(bot, {"deployments/dev/web.toml": deployment("1.0.0")}, retired, AT)
    [change] = audit(bot).deploys
    assert change.signature == VERIFIED and change.exceptions == ()
    assert git_verifies(bot, sha)
    retired_blob = public_blob(retired.public_line())
    assert retired_blob is not None and not signers(bot).admits(retired_blob, int(time.time()))


def test_a_commit_signed_by_a_key_not_yet_allowed_fails(bot: Bot) -> None:
    early = SigningKey.generate()
    allow(bot, early, 'valid-after="20261201"')
    sha = signed_at(bot, {"deployments/dev/web.toml": deployment("1.0.0")}, early, AT)
    [change] = audit(bot).deploys
    assert change.signature == NOT_ALLOWED and change.exceptions == (UNSIGNED,)
    assert not git_verifies(bot, sha)


def test_a_commit_signed_by_a_key_nobody_listed_fails(bot: Bot) -> None:
    commit(bot, {"deployments/dev/web.toml": deployment("1.0.0")}, key=SigningKey.generate())
    [change] = audit(bot).deploys
    assert change.signature == NOT_ALLOWED


def test_an_adopted_unsigned_commit_is_listed_unsigned_and_who_adopted_it(bot: Bot) -> None:
    pushed = bot.push({"deployments/prod/web.toml": deployment("6.6.6", by=BOB)}, "deploy: web")
    assert bot.say(f"!adopt {pushed[:7]}").ok
    report = audit(bot)
    [change] = report.deploys
    assert (change.sha, change.signature, change.exceptions) == (pushed, NO_SIGNATURE, (UNSIGNED,))
    [adopt] = report.of("adopt")
    assert adopt.requester == "@alice:example.org" and adopt.signature == VERIFIED
    assert adopt.listed("commits") == [pushed]
    assert adopt.listed("files") == ["deployments/prod/web.toml"]


def test_a_discard_lists_the_commits_it_left_out_and_their_files(bot: Bot) -> None:
    pushed = bot.push({"apps/evil.toml": 'description = "x"\n'}, "add an app")
    assert bot.say("!discard").ok
    report = audit(bot)
    [discard] = report.of("discard")
    assert discard.listed("commits") == [pushed]
    assert discard.listed("files") == ["apps/evil.toml"]
    assert report.of("adopt") == []
