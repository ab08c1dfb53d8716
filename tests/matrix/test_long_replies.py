"""A long reply on the real homeserver: 300 open proposals arrive in pages a person's client
reads, and the bot goes on to the next command."""

from datetime import UTC, datetime

import pytest

from bot.engine.types import Invocation
from bot.service.assemble import open_engine
from bot.state.message import Message
from bot.state.repo import Identity
from devtools.devclient import Person
from tests.helpers.matrix import BotProcess, lines_of


def open_proposals(opsbot: BotProcess, requester: str, count: int) -> None:
    """`count` open proposals to deploy to prod, made by the engine before the bot starts."""
    engine = open_engine(opsbot.paths, opsbot.user_id)
    state = engine.repo
    with state.locked():
        state.commit(
            {"environments/prod.toml": b"order = 3\napprovals = 1\n"},
            Message(summary="prod needs an approval"),
            Identity("Alice", requester),
            datetime.now(UTC),
            parent=state.head(),
        )
    for n in range(count):
        reply = engine.run(
            Invocation(
                sender=requester,
                text=f"!deploy web 1.0.{n} to prod",
                event_id=f"$setup{n}",
                received_at=datetime.now(UTC),
                room_id="!setup:example.org",
                transport="matrix",
            )
        )
        assert reply is not None and reply.ok, reply


@pytest.mark.security
async def test_proposals_with_300_open_arrive_in_pages_and_the_bot_goes_on(
    alice: Person, opsbot: BotProcess
) -> None:
    open_proposals(opsbot, alice.user_id, 300)
    opsbot.start()
    room = await alice.create_room(invite=[opsbot.user_id])
    await alice.until_joined(room, opsbot.user_id)
    event = await alice.send(room, "!proposals")
    await alice.until(lambda: len(alice.replies_to(event)) >= 3, "three pages", timeout=60)
    sent = [reply["content"] for reply in alice.replies_to(event)]
    assert [page["body"].split("\n")[0] for page in sent] == [
        "(part 1/3)",
        "(part 2/3)",
        "(part 3/3)",
    ]
    assert all(page["opsbot"]["ok"] and page["opsbot"]["command"] == "proposals" for page in sent)
    listed = [line for page in sent for line in lines_of(page)]
    assert [line.split(":")[0] for line in listed] == [str(n) for n in range(1, 301)]
    after = await alice.send(room, "!whoami")  # not stuck on the long one
    assert (await alice.reply_to(after))["opsbot"]["ok"]
