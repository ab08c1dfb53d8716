"""The content of the events opsbot sends: replies, edits, notices, and their pages.

Every message is built by `notice`, which sets `m.mentions` explicitly: only the people the
bot means to ping, never the room. Text from outside (alert labels, webhook payloads, incident
titles, reasons) is shown as it came except for `@room`, which older clients that ignore
`m.mentions` would take as a room-wide ping: a word joiner after the `@` keeps it readable.
"""

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from bot.engine.types import Reply, text_html

# The legacy push rule `.m.rule.roomnotif` matches the word "@room" in the body, in any case.
_ROOM_PING = re.compile(r"@(?=room\b)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def without_room_ping(text: str) -> str:
    """`text` with every `@room` written `@\u2060room`: it reads the same and pings nobody."""
    return _ROOM_PING.sub("@" + WORD_JOINER, text)


def notice(
    text: str,
    html: str | None = None,
    *,
    in_reply_to: str | None = None,
    mentions: Sequence[str] = (),
) -> dict[str, Any]:
    """A notice of the bot's own; `html` defaults to `text`, escaped. It mentions exactly the
    users of `mentions` (none by default), and the room never."""
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": without_room_ping(text),
        "format": "org.matrix.custom.html",
        "formatted_body": without_room_ping(text_html(text) if html is None else html),
        "m.mentions": {"user_ids": list(mentions)} if mentions else {},
    }
    if in_reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": in_reply_to}}
    return content


def reply_content(reply: Reply, *, in_reply_to: str, sender: str) -> dict[str, Any]:
    return {
        **notice(reply.text, reply.html, in_reply_to=in_reply_to, mentions=[sender]),
        "opsbot": reply.result,
    }


def edit_content(reply: Reply, *, original: str) -> dict[str, Any]:
    """Replaces the text of an earlier reply (`m.replace`), for work that reports progress."""
    new = {**notice(reply.text, reply.html), "opsbot": reply.result}
    return {
        **new,
        "body": f"* {new['body']}",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }


PAGE_BUDGET = 24 * 1024
"""Characters of serialized content one message may carry. Matrix refuses an event over 64 KiB;
encrypted, the content is JSON inside a ciphertext in base64 (4/3 of it) plus an envelope, so a
page of 24 KiB stays well under the limit."""
MAX_PAGES = 10
"""A reply longer than this many pages is cut: a wall of messages helps nobody."""
_MARKER = "(part {number}/{count})"


def serialized_size(content: dict[str, Any]) -> int:
    """The size the homeserver sees, counted high: every non-ASCII character as a JSON escape."""
    return len(json.dumps(content))


def pages(content: dict[str, Any], budget: int = PAGE_BUDGET) -> list[dict[str, Any]]:
    """`content` as one message, or, when its serialized size is over `budget`, as several.

    Each page starts with "(part i/n)" and carries its share of the body's lines, split on line
    boundaries (only a line longer than a page is cut); its HTML is built from its own lines,
    escaped, so no tag is ever cut in half. Everything else is copied to every page: the reply
    relation, the `opsbot` field. Only the first page mentions anyone. An edit (`m.replace`) is
    never split: it replaces one message. Past `MAX_PAGES`, the rest is cut and says so.
    """
    body = content.get("body")
    if (
        serialized_size(content) <= budget
        or "m.new_content" in content
        or not isinstance(body, str)
    ):
        return [content]
    widest = _MARKER.format(number=MAX_PAGES, count=MAX_PAGES)
    room = budget - serialized_size(_page(content, widest + "\n", first=True))
    if room < 256:  # the other fields alone fill a page: sent whole, the refusal path copes
        return [content]
    split = _split(body.split("\n"), room)
    if len(split) > MAX_PAGES:
        cut = sum(len(lines) for lines in split[MAX_PAGES:])
        split = split[:MAX_PAGES]
        last = split[-1]
        while last and _cost([*last, _cut_note(cut)]) > room:
            cut += 1
            last.pop()
        last.append(_cut_note(cut))
    count = len(split)
    return [
        _page(
            content,
            _MARKER.format(number=number, count=count) + "\n" + "\n".join(lines),
            first=number == 1,
        )
        for number, lines in enumerate(split, start=1)
    ]


def _cut_note(lines: int) -> str:
    return f"… and {lines} more lines, not shown: ask for less"


def _page(content: dict[str, Any], text: str, *, first: bool) -> dict[str, Any]:
    page = {**content, "body": text}
    if "formatted_body" in content:
        page["formatted_body"] = text_html(text)
    if not first and "m.mentions" in content:
        page["m.mentions"] = {}  # the first page has notified them already
    return page


def _line_cost(line: str) -> int:
    """What a line adds to a page's serialized size: in the body, and escaped in the HTML."""
    return len(json.dumps(line)) - 2 + len(json.dumps(html.escape(line))) - 2


_BREAK = len("\\n") + len("<br>")
"""What a line break costs: `\\n` in the body's JSON, `<br>` in the HTML."""


def _cost(lines: list[str]) -> int:
    return sum(_line_cost(line) for line in lines) + _BREAK * max(len(lines) - 1, 0)


def _split(lines: list[str], room: int) -> list[list[str]]:
    """The lines packed in order into pages of at most `room` serialized characters each."""
    found: list[list[str]] = []
    current: list[str] = []
    used = 0
    for piece in (p for line in lines for p in _pieces(line, room)):
        cost = _line_cost(piece)
        if current and used + _BREAK + cost > room:
            found.append(current)
            current, used = [], 0
        used += cost + (_BREAK if current else 0)
        current.append(piece)
    found.append(current)
    return found


def _pieces(line: str, room: int) -> list[str]:
    """A line that fits a page, or the line cut into pieces that do."""
    if _line_cost(line) <= room:
        return [line]
    pieces, start, used = [], 0, 0
    for end, char in enumerate(line):
        cost = _line_cost(char)
        if used + cost > room:
            pieces.append(line[start:end])
            start, used = end, 0
        used += cost
    pieces.append(line[start:])
    return pieces


def replying_to(content: dict[str, Any]) -> str | None:
    """The event a message answers (`m.in_reply_to`), or None."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    reply = relates.get("m.in_reply_to")
    event_id = reply.get("event_id") if isinstance(reply, dict) else None
    return event_id if isinstance(event_id, str) else None


def refused_notice(content: dict[str, Any], *, too_large: bool, why: str) -> dict[str, Any]:
    """Sent in place of a message the homeserver refused for good, so that nobody waits for an
    answer that never comes; in reply to the same command, with the same `opsbot` field."""
    answering = replying_to(content)
    what = "reply" if answering else "notice"
    if too_large:
        text = f"the {what} was too long to send; ask for less, or read the state repo's git log"
    else:
        text = f"the homeserver refused the {what} ({why}), so it was not sent"
    fallback = notice(text, in_reply_to=answering)
    for key in ("m.mentions", "opsbot"):
        if key in content:
            fallback[key] = content[key]
    return fallback
