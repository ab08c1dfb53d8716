"""The content of the events opsbot sends: replies, edits, and their transaction ids.

Every message is built by `notice`, which sets `m.mentions` explicitly: only the people the
bot means to ping, never the room. Text from outside (alert labels, webhook payloads, incident
titles, reasons) is shown as it came except for `@room`, which older clients that ignore
`m.mentions` would take as a room-wide ping: a word joiner after the `@` keeps it readable.
"""

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from bot.engine.types import Reply, text_html


def txn_id(kind: str, event_id: str) -> str:
    """A transaction id derived from the command's event: a retried send is the same send, and
    the homeserver answers it with the event it already made instead of posting twice."""
    return "opsbot-" + hashlib.sha256(f"{kind}:{event_id}".encode()).hexdigest()[:32]


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
