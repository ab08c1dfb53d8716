"""Long replies on Matrix: paged under the event size limit, and a refused send never retried
forever. The pages are a pure function of the content; the refusals are those a homeserver
answers (413 M_TOO_LARGE, other 4xx), played by a stand-in for the client. (The whole of it
once on the real homeserver: tests/matrix/test_long_replies.py.)"""

import html
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nio import RoomSendError, RoomSendResponse

from bot.core.effects import Notify
from bot.engine.types import Reply, text_html
from bot.transport.matrix.content import (
    MAX_PAGES,
    PAGE_BUDGET,
    notice,
    pages,
    reply_content,
    serialized_size,
)
from bot.transport.matrix.deliverer import Deliverer
from bot.transport.matrix.sending import NotYet, Sender
from tests.helpers.bot import Bot
from tests.helpers.matrix import lines_of

MATRIX_EVENT_LIMIT = 64 * 1024
COMMAND = "$command"
ROOM = "!ops:example.org"


def proposals_reply(count: int) -> dict[str, Any]:
    """What `!proposals` answers with `count` open proposals: one long line for each."""
    text = "\n".join(
        f"#{n} deploy: web 1.4.{n} to prod by @alice:example.org · needs 2 approvals, has 0 · "
        f"expires in 23h · <reason: hotfix & rollback plan {'x' * 120}>"
        for n in range(1, count + 1)
    )
    reply = Reply(True, "proposals", text, text_html(text))
    return reply_content(reply, in_reply_to=COMMAND, sender="@alice:example.org")


# paging


def test_a_short_reply_is_sent_as_it_is() -> None:
    content = proposals_reply(3)
    assert pages(content) == [content]


@pytest.mark.security
def test_three_hundred_open_proposals_are_paged_under_the_budget() -> None:
    content = proposals_reply(300)
    assert serialized_size(content) > MATRIX_EVENT_LIMIT  # one message would be refused
    sent = pages(content)
    assert len(sent) > 1
    assert all(serialized_size(page) <= PAGE_BUDGET for page in sent)


def test_each_page_answers_the_command_with_its_own_result_field() -> None:
    content = proposals_reply(300)
    for page in pages(content):
        assert page["m.relates_to"] == {"m.in_reply_to": {"event_id": COMMAND}}
        assert page["opsbot"] == content["opsbot"]
        assert page["msgtype"] == "m.notice"


def test_pages_are_marked_part_i_of_n() -> None:
    sent = pages(proposals_reply(300))
    n = len(sent)
    assert [page["body"].split("\n")[0] for page in sent] == [
        f"(part {i}/{n})" for i in range(1, n + 1)
    ]


def test_pages_split_on_line_boundaries_and_lose_no_line() -> None:
    content = proposals_reply(300)
    sent = pages(content)
    assert [line for page in sent for line in lines_of(page)] == content["body"].split("\n")


def test_each_pages_html_is_its_own_lines_escaped_so_no_tag_is_cut() -> None:
    for page in pages(proposals_reply(300)):
        assert page["formatted_body"] == html.escape(page["body"]).replace("\n", "<br>")


def test_only_the_first_page_mentions_anyone() -> None:
    sent = pages(proposals_reply(300))
    assert sent[0]["m.mentions"] == {"user_ids": ["@alice:example.org"]}
    assert all(page["m.mentions"] == {} for page in sent[1:])


def test_a_line_longer_than_a_page_is_cut_into_pieces_that_fit() -> None:
    line = "é<&>" * 2_000
    content = {"msgtype": "m.notice", "body": line, "formatted_body": text_html(line)}
    sent = pages(content)
    assert len(sent) > 1
    assert all(serialized_size(page) <= PAGE_BUDGET for page in sent)
    assert "".join(piece for page in sent for piece in lines_of(page)) == line


def test_a_reply_of_more_than_the_most_pages_is_cut_and_says_so() -> None:
    sent = pages(proposals_reply(5000))
    assert len(sent) == MAX_PAGES
    assert all(serialized_size(page) <= PAGE_BUDGET for page in sent)
    assert sent[-1]["body"].endswith("more lines, not shown: ask for less")


def test_an_edit_is_never_split() -> None:
    content = {**proposals_reply(300), "m.new_content": {"body": "x"}}
    assert pages(content) == [content]


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=500), st.integers(min_value=2048, max_value=4096))
def test_any_text_is_paged_under_any_budget_without_losing_a_character(
    text: str, budget: int
) -> None:
    content = {"msgtype": "m.notice", "body": text, "formatted_body": text_html(text)}
    sent = pages(content, budget)
    assert all(serialized_size(page) <= budget for page in sent)
    if len(sent) > 1:  # every character, in order; only line breaks may become page breaks
        kept = "".join("".join(lines_of(page)) for page in sent)
        assert kept == text.replace("\n", "")


# refusals


class Homeserver:
    """A stand-in for nio's client: answers each send as the homeserver would."""

    def __init__(self, refuse: tuple[int, str] | None = None, refuse_over: int = 0) -> None:
        self.user_id = "@opsbot:example.org"
        self.rooms = {ROOM: object()}
        self.refuse = refuse
        self.refuse_over = refuse_over
        self.sent: list[tuple[dict[str, Any], str]] = []

    async def room_send(self, room_id: str, kind: str, content: dict[str, Any], **kw: Any) -> Any:
        self.sent.append((content, kw["tx_id"]))
        if self.refuse and serialized_size(content) > self.refuse_over:
            status, code = self.refuse
            error = RoomSendError(f"refused with {code}", code)
            error.transport_response = SimpleNamespace(status=status)
            return error
        return RoomSendResponse(f"$sent{len(self.sent)}", room_id)


def deliverer(bot: Bot, homeserver: Homeserver) -> Deliverer:
    return Deliverer(homeserver, bot.engine, bot.engine.ledger)  # type: ignore[arg-type]


def sender(homeserver: Homeserver) -> Sender:
    return Sender(homeserver)  # type: ignore[arg-type]


async def post(bot: Bot, homeserver: Homeserver, text: str) -> None:
    """A notice owed in the outbox, then one pass of the deliverer over it."""
    bot.engine.ledger.enqueue([(f"notice:{len(text)}", Notify(text, rooms=(ROOM,)))])
    await deliverer(bot, homeserver).drain()


@pytest.mark.security
async def test_a_long_notice_goes_out_in_pages_each_under_the_budget(
    bot: Bot, tmp_path: Path
) -> None:
    server = Homeserver(refuse=(413, "M_TOO_LARGE"), refuse_over=MATRIX_EVENT_LIMIT)
    await post(bot, server, "a line of an alert\n" * 10_000)
    assert len(server.sent) > 1
    assert all(serialized_size(content) <= PAGE_BUDGET for content, _ in server.sent)
    assert len({txn for _, txn in server.sent}) == len(server.sent)  # each page its own send


@pytest.mark.security
@pytest.mark.parametrize("refusal", [(413, "M_TOO_LARGE"), (400, "M_BAD_JSON"), (413, "")])
async def test_a_refused_message_is_replaced_by_a_short_notice_and_not_retried(
    bot: Bot, tmp_path: Path, refusal: tuple[int, str]
) -> None:
    server = Homeserver(refuse=refusal, refuse_over=1000)
    await post(bot, server, "x" * 2000)  # returns: no retry
    assert len(server.sent) == 2
    instead, txn = server.sent[1]
    assert txn.endswith("-refused")
    if refusal[0] == 413:
        assert instead["body"] == (
            "the notice was too long to send; ask for less, or read the state repo's git log"
        )
    else:
        assert instead["body"] == (
            "the homeserver refused the notice (M_BAD_JSON), so it was not sent"
        )


@pytest.mark.security
async def test_the_short_notice_answers_the_command_with_its_result(
    bot: Bot, tmp_path: Path
) -> None:
    server = Homeserver(refuse=(413, "M_TOO_LARGE"), refuse_over=1000)
    content = proposals_reply(10)
    await sender(server).send(ROOM, content, "txn")
    instead, _ = server.sent[-1]
    assert instead["body"].startswith("the reply was too long to send")
    assert instead["m.relates_to"] == {"m.in_reply_to": {"event_id": COMMAND}}
    assert instead["opsbot"] == content["opsbot"]


async def test_a_refused_short_notice_is_given_up_too(bot: Bot, tmp_path: Path) -> None:
    server = Homeserver(refuse=(400, "M_UNKNOWN"), refuse_over=0)
    assert await sender(server).send(ROOM, proposals_reply(1), "t") is None
    assert len(server.sent) == 2  # the message and the notice in its place; then nothing


async def test_a_server_error_is_still_retried_later(bot: Bot) -> None:
    server = Homeserver(refuse=(502, "M_UNKNOWN"))
    with pytest.raises(NotYet):
        await sender(server).send(ROOM, notice("deployed"), "t")
    await post(bot, server, "deployed")
    assert [owed.attempts for owed in bot.engine.ledger.due()] == [1]  # owed still, for later


def test_the_budget_leaves_room_for_encryption_under_the_event_limit() -> None:
    # Megolm: the content's JSON is encrypted and base64-encoded (4/3), in an envelope.
    assert PAGE_BUDGET * 4 / 3 + 2048 < MATRIX_EVENT_LIMIT
    assert json.dumps({"body": "é"}) == '{"body": "\\u00e9"}'  # sizes are counted high


# on a real homeserver
