"""Once the reconciler has noted a deploy's outcome, the service passes it on: into the answer
that announced the deploy, and into the index, without waiting for another command."""

import dataclasses
from datetime import UTC, datetime

from bot.service.run import outcome_listener
from bot.state.notes import add_note
from bot.state.outcome import HookResult, RunOutcome
from bot.transport import console
from tests.helpers.bot import ALICE, ROOM, Bot


async def deployed(bot: Bot) -> RunOutcome:
    """A `!deploy` answered over Matrix, its index caught up, and its hook's outcome noted."""
    invocation = dataclasses.replace(
        console.invocation(ALICE, "!deploy web 1.0.0 to dev"),
        transport="matrix",
        room_id=ROOM,
        answer=True,
    )
    reply = await bot.engine.handle(invocation)
    assert reply is not None and reply.commit is not None
    await bot.engine.caught_up()
    outcome = RunOutcome(
        commit=reply.commit,
        app="web",
        env="dev",
        version="1.0.0",
        status="ok",
        attempt=1,
        final=True,
        result=HookResult("deploy-web", True, 0, 1.2, "restarted\n", None),
        at=datetime.now(UTC),
    )
    add_note(bot.engine.repo, outcome)
    return outcome


def applied_at(bot: Bot, commit: str) -> int | None:
    row = bot.engine.index.db.conn.execute(
        "SELECT applied_at FROM deployments WHERE sha = ?", [commit]
    ).fetchone()
    assert row is not None, "the deploy itself is indexed"
    return row[0]  # type: ignore[no-any-return]


async def test_the_index_holds_an_outcome_soon_after_it_is_told_without_another_command(
    bot: Bot,
) -> None:
    outcome = await deployed(bot)
    assert applied_at(bot, outcome.commit) is None  # the note alone does not reach the index
    await outcome_listener(bot.engine.ledger, [bot.engine])(outcome)
    await bot.engine.caught_up()
    assert applied_at(bot, outcome.commit) is not None


async def test_the_outcome_goes_into_the_answer_that_announced_the_deploy(bot: Bot) -> None:
    outcome = await deployed(bot)
    await outcome_listener(bot.engine.ledger, [bot.engine])(outcome)
    answer = bot.engine.ledger.answer_of(outcome.commit)
    assert answer is not None
    assert "applied in 1.2s" in answer.text
