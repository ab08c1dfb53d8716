"""The index catches up with a command's commit once it is answered, not when the next command
comes: the next one then starts at once."""

import dataclasses

from bot.transport import console
from tests.helpers.bot import ALICE, Bot


async def test_the_index_knows_a_commit_soon_after_its_answer_without_another_command(
    bot: Bot,
) -> None:
    invocation = dataclasses.replace(
        console.invocation(ALICE, "!deploy web 1.0.0 to dev"), transport="matrix"
    )
    reply = await bot.engine.handle(invocation)
    assert reply is not None and reply.commit is not None
    assert not bot.engine.index.knows(reply.commit)  # not while the reply waited
    await bot.engine.caught_up()
    assert bot.engine.index.knows(reply.commit)
