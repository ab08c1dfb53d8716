"""Histories for the four keys, at minutes after the first command: deploys, what the reconciler
noted of them, and the report the index gives."""

from datetime import timedelta

from bot.features.metrics import figures
from bot.features.metrics.facts import Scope
from bot.features.metrics.figures import Report
from bot.state.notes import add_note
from bot.state.outcome import RunOutcome
from tests.helpers.bot import Bot, Clock
from tests.helpers.git import git

M = 60  # seconds in a minute
ALL = Scope()
START = Clock().now


def deploy(bot: Bot, command: str, *, at: int, applied: int | None = None) -> str:
    """Runs `command` at minute `at`; its apply succeeds at minute `applied` (if given)."""
    bot.clock.now = START + timedelta(minutes=at)
    reply = bot.say(command)
    assert reply.ok and reply.commit, reply.text
    if applied is not None:
        outcome(bot, reply.commit, "ok", at=applied)
    return reply.commit


def outcome(
    bot: Bot, sha: str, status: str, *, at: int, attempt: int = 1, final: bool = True
) -> None:
    """What the reconciler notes on the deploy commit `sha`, at minute `at`."""
    record = bot.show(f"deployments/{_target(bot, sha)}.toml", sha)
    version = next(line.split('"')[1] for line in record.splitlines() if line.startswith("version"))
    env, app = _target(bot, sha).split("/")
    add_note(
        bot.engine.repo,
        RunOutcome(
            sha,
            app,
            env,
            version,
            status,
            attempt,
            final,
            None,  # type: ignore[arg-type]
            START + timedelta(minutes=at),
        ),
    )


def _target(bot: Bot, sha: str) -> str:
    changed = git(bot.repo, "show", "--name-only", "--format=", sha).split()
    path = next(p for p in changed if p.startswith("deployments/"))
    return path.removeprefix("deployments/").removesuffix(".toml")


def report(bot: Bot, scope: Scope = ALL, *, days: int = 90, until_minute: int = 24 * 60) -> Report:
    index = bot.engine.index
    index.sync(bot.engine.repo)
    until = START + timedelta(minutes=until_minute)
    return figures.report(index, scope, until - timedelta(days=days), until)
