"""The deliverer against a stand-in homeserver that can be away, refuse a room, or take its
time: what is owed goes out in order per room, once, and nothing undeliverable blocks the rest."""

import asyncio
import typing
from types import SimpleNamespace
from typing import Any

import pytest
from nio import RoomCreateResponse, RoomSendError, RoomSendResponse

from bot.core.effects import Amend, Answer, Effect, Notify
from bot.transport.matrix.deliverer import WINDOW, Deliverer
from tests.helpers.bot import Bot

OPS, WAR = "!ops:example.org", "!war:example.org"


class Homeserver:
    """Answers sends as a homeserver would; `away` refuses everything with a 502, `kicked`
    answers M_FORBIDDEN for those rooms. A repeated transaction id posts nothing new."""

    def __init__(self, *rooms: str) -> None:
        self.user_id = "@opsbot:example.org"
        self.rooms: dict[str, object] = {room: object() for room in rooms}
        self.away = False
        self.kicked: set[str] = set()
        self.timeline: list[tuple[str, str]] = []  # (room, body) as the room's history has it
        self._seen: dict[str, str] = {}

    async def room_send(self, room_id: str, kind: str, content: dict[str, Any], **kw: Any) -> Any:
        if self.away or room_id in self.kicked:
            code, status = ("M_FORBIDDEN", 403) if room_id in self.kicked else ("M_UNKNOWN", 502)
            error = RoomSendError("no", code)
            error.transport_response = SimpleNamespace(status=status)
            return error
        txn = kw["tx_id"]
        if txn not in self._seen:
            self.timeline.append((room_id, content["body"]))
            self._seen[txn] = f"$e{len(self.timeline)}"
        return RoomSendResponse(self._seen[txn], room_id)

    async def room_create(self, **_: Any) -> RoomCreateResponse:
        self.rooms[WAR] = object()
        return RoomCreateResponse(WAR)


def deliverer(bot: Bot, server: Homeserver, now: list[float]) -> Deliverer:
    return Deliverer(server, bot.engine, bot.engine.ledger, clock=lambda: now[0])  # type: ignore[arg-type]


def notice(text: str, room: str = OPS) -> tuple[str, Notify]:
    return (f"test:{text}", Notify(text, rooms=(room,)))


async def test_effects_go_out_in_the_order_they_were_owed(bot: Bot) -> None:
    server, now = Homeserver(OPS), [0.0]
    bot.engine.ledger.enqueue([notice("one"), notice("two"), notice("three")])
    await deliverer(bot, server, now).drain()
    assert server.timeline == [(OPS, "one"), (OPS, "two"), (OPS, "three")]


async def test_nothing_is_lost_while_the_homeserver_is_away_and_order_holds(bot: Bot) -> None:
    server, now = Homeserver(OPS), [0.0]
    sender = deliverer(bot, server, now)
    server.away = True
    bot.engine.ledger.enqueue([notice("first")])
    await sender.drain()
    bot.engine.ledger.enqueue([notice("second")])
    await sender.drain()
    assert server.timeline == []
    server.away = False
    now[0] += 3600  # past every backoff
    await sender.drain()
    assert server.timeline == [(OPS, "first"), (OPS, "second")]


async def test_a_room_that_waits_holds_back_only_its_own_effects(bot: Bot) -> None:
    server, now = Homeserver(OPS), [0.0]
    bot.engine.ledger.enqueue([notice("to a room not joined yet", WAR), notice("to ops")])
    await deliverer(bot, server, now).drain()
    assert server.timeline == [(OPS, "to ops")]
    server.rooms[WAR] = object()
    now[0] += 3600
    await deliverer(bot, server, now).drain()
    assert server.timeline[-1] == (WAR, "to a room not joined yet")


async def test_a_room_the_bot_was_kicked_from_fails_once_and_the_rest_flows(
    bot: Bot, caplog: Any
) -> None:
    server, now = Homeserver(OPS, WAR), [0.0]
    server.kicked.add(WAR)
    bot.engine.ledger.enqueue([notice("lost", WAR), notice("after", WAR), notice("fine")])
    await deliverer(bot, server, now).drain()
    now[0] += 3600
    await deliverer(bot, server, now).drain()
    assert server.timeline == [(OPS, "fine")]
    assert bot.engine.ledger.counts() == {"failed": 2, "sent": 1}
    assert [r.getMessage() for r in caplog.records].count("effect not delivered") == 2


async def test_a_send_repeated_after_a_crash_is_the_same_send(bot: Bot) -> None:
    server, now = Homeserver(OPS), [0.0]
    bot.engine.ledger.enqueue([notice("once")])
    [owed] = bot.engine.ledger.due()
    bot.engine.ledger.sending(owed)  # a crash here, after the homeserver took it
    await server.room_send(OPS, "m.room.message", {"body": "once"}, tx_id=_txn_of(owed))
    bot.engine.ledger.settle(lambda _: True)
    await deliverer(bot, server, now).drain()
    assert server.timeline == [(OPS, "once")]


def _txn_of(owed: Any) -> str:
    from bot.transport.matrix.sending import txn

    return txn(owed.identity, f"{OPS}#1")  # a notice's first page, to the room of `notice`


async def test_news_known_before_the_answer_goes_out_is_in_the_answer_itself(bot: Bot) -> None:
    server, now = Homeserver(OPS), [0.0]
    answer = Answer(
        OPS,
        "$cmd",
        "@alice:example.org",
        True,
        "deploy",
        "deploy: web 1 to dev",
        "deploy: web 1 to dev",
        commit="c0ffee",
    )
    bot.engine.ledger.enqueue([("$cmd#answer", answer)], commit="c0ffee")
    bot.engine.ledger.amend(Amend("c0ffee", "applied in 0.1s"), "amend:1")
    await deliverer(bot, server, now).drain()
    assert server.timeline == [(OPS, "deploy: web 1 to dev · applied in 0.1s")]


async def test_news_after_the_answer_went_out_edits_it(bot: Bot) -> None:
    server, now = Homeserver(OPS), [0.0]
    answer = Answer(
        OPS,
        "$cmd",
        "@alice:example.org",
        True,
        "deploy",
        "deploying…",
        "deploying…",
        commit="c0ffee",
    )
    bot.engine.ledger.enqueue([("$cmd#answer", answer)], commit="c0ffee")
    sender = deliverer(bot, server, now)
    await sender.drain()
    bot.engine.ledger.amend(Amend("c0ffee", "applied"), "amend:1")
    await sender.drain()
    assert server.timeline == [(OPS, "deploying…"), (OPS, "* deploying… · applied")]


class SlowHomeserver(Homeserver):
    """Takes `delay` seconds over each send, and counts how many it holds at once."""

    def __init__(self, *rooms: str, delay: float = 0.05) -> None:
        super().__init__(*rooms)
        self.delay = delay
        self.holding = self.most_at_once = 0

    async def room_send(self, room_id: str, kind: str, content: dict[str, Any], **kw: Any) -> Any:
        self.holding += 1
        self.most_at_once = max(self.most_at_once, self.holding)
        await asyncio.sleep(self.delay)
        self.holding -= 1
        return await super().room_send(room_id, kind, content, **kw)


def answer(number: int) -> tuple[str, Answer]:
    text = f"answer {number}"
    return f"$cmd{number}#answer", Answer(
        OPS, f"$cmd{number}", "@alice:example.org", True, "status", text, text
    )


async def test_answers_in_a_row_are_sent_at_once_each_exactly_once(bot: Bot) -> None:
    server, now = SlowHomeserver(OPS), [0.0]
    bot.engine.ledger.enqueue([answer(n) for n in range(10)])
    await deliverer(bot, server, now).drain()
    assert server.most_at_once == WINDOW
    assert sorted(server.timeline) == sorted((OPS, f"answer {n}") for n in range(10))
    assert bot.engine.ledger.counts() == {"sent": 10}


async def test_a_notice_owed_after_answers_goes_out_after_all_of_them(bot: Bot) -> None:
    server, now = SlowHomeserver(OPS), [0.0]
    bot.engine.ledger.enqueue([answer(1), answer(2), notice("after"), answer(3)])
    await deliverer(bot, server, now).drain()
    assert server.timeline[2:] == [(OPS, "after"), (OPS, "answer 3")]


async def test_an_answer_that_must_wait_holds_back_what_its_room_owes_after_it(
    bot: Bot,
) -> None:
    server, now = Homeserver(OPS), [0.0]
    server.away = True
    bot.engine.ledger.enqueue([answer(1), notice("after")])
    await deliverer(bot, server, now).drain()
    server.away = False
    await deliverer(bot, server, now).drain()  # before the answer's backoff has passed
    assert server.timeline == []
    now[0] += 3600
    await deliverer(bot, server, now).drain()
    assert server.timeline == [(OPS, "answer 1"), (OPS, "after")]


async def test_nothing_is_sent_before_the_client_is_ready(bot: Bot) -> None:
    server = Homeserver(OPS)
    bot.engine.ledger.enqueue([notice("early")])
    ready, stop = asyncio.Event(), asyncio.Event()
    running = asyncio.ensure_future(deliverer(bot, server, [0.0]).run(ready, stop))
    await asyncio.sleep(0.2)
    assert server.timeline == []
    ready.set()
    for _ in range(50):
        if server.timeline:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await running
    assert server.timeline == [(OPS, "early")]


def deploy_answer(number: int, commit: str) -> tuple[str, Answer]:
    text = f"deploy {number}"
    return f"$cmd{number}#answer", Answer(
        OPS, f"$cmd{number}", "@alice:example.org", True, "deploy", text, text, commit=commit
    )


def test_an_answer_owed_while_nothing_is_being_sent_is_being_announced(bot: Bot) -> None:
    ledger = bot.engine.ledger
    ledger.enqueue([deploy_answer(1, "c1")], commit="c1")
    assert ledger.being_announced({"c1"})
    assert not ledger.being_announced({"c2"})


def test_an_answer_is_being_announced_until_the_bots_own_sync_shows_it(bot: Bot) -> None:
    ledger = bot.engine.ledger
    ledger.enqueue([deploy_answer(1, "c1")], commit="c1")
    [owed] = ledger.due()
    ledger.sending(owed)
    assert ledger.being_announced({"c1"})
    ledger.sent(owed, "$e1")
    assert ledger.being_announced({"c1"})  # the room's members are receiving it
    ledger.heard("$e1")
    assert not ledger.being_announced({"c1"})


def test_whoever_waits_for_an_answer_is_told_when_it_is_sent_failed_or_heard(bot: Bot) -> None:
    ledger = bot.engine.ledger
    told: list[bool] = []
    ledger.on_progress = lambda: told.append(ledger.being_announced({"c1"}))
    ledger.enqueue([deploy_answer(1, "c1")], commit="c1")
    ledger.enqueue([deploy_answer(2, "c2")], commit="c2")
    first, second = ledger.due()
    ledger.sending(first)
    assert told == []
    ledger.sent(first, "$e1")
    ledger.heard("$e1")
    ledger.failed(second, "the room is gone")
    assert told == [True, False, False]


def test_an_answer_sent_that_no_sync_shows_counts_as_heard_after_a_while(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.state.outbox_answers.HEARD_WITHIN", 0.0)
    ledger = bot.engine.ledger
    ledger.enqueue([deploy_answer(1, "c1")], commit="c1")
    [owed] = ledger.due()
    ledger.sending(owed)
    ledger.sent(owed, "$e1")
    assert not ledger.being_announced({"c1"})


def test_an_answer_queued_behind_one_being_sent_goes_next_so_is_being_announced(
    bot: Bot,
) -> None:
    ledger = bot.engine.ledger
    ledger.enqueue([notice("an edit of an earlier answer")])
    ledger.enqueue([deploy_answer(1, "c1")], commit="c1")
    ledger.sending(ledger.due()[0])
    assert ledger.being_announced({"c1"})


def test_an_answer_far_back_in_the_queue_is_not_being_announced(bot: Bot) -> None:
    ledger = bot.engine.ledger
    for n in range(1, 6):
        ledger.enqueue([deploy_answer(n, f"c{n}")], commit=f"c{n}")
    assert ledger.being_announced({"c1"})
    assert not ledger.being_announced({"c5"})


def test_every_kind_of_effect_has_a_sender(bot: Bot) -> None:
    kinds = set(typing.get_args(Effect))
    assert set(deliverer(bot, Homeserver(OPS), [0.0]).senders) == kinds
