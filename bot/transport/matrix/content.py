"""The content of the events opsbot sends: replies, edits, and their transaction ids."""

import hashlib
from typing import Any

from bot.engine.types import Reply, text_html


def txn_id(kind: str, event_id: str) -> str:
    """A transaction id derived from the command's event: a retried send is the same send, and
    the homeserver answers it with the event it already made instead of posting twice."""
    return "opsbot-" + hashlib.sha256(f"{kind}:{event_id}".encode()).hexdigest()[:32]


def notice(text: str, html: str | None = None, *, in_reply_to: str | None = None) -> dict[str, Any]:
    """A notice of the bot's own; `html` defaults to `text`, escaped."""
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": text_html(text) if html is None else html,
    }
    if in_reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": in_reply_to}}
    return content


def reply_content(reply: Reply, *, in_reply_to: str, sender: str) -> dict[str, Any]:
    return {
        **notice(reply.text, reply.html, in_reply_to=in_reply_to),
        "m.mentions": {"user_ids": [sender]},
        "opsbot": reply.result,
    }


def edit_content(reply: Reply, *, original: str) -> dict[str, Any]:
    """Replaces the text of an earlier reply (`m.replace`), for work that reports progress."""
    new = {**notice(reply.text, reply.html), "opsbot": reply.result}
    return {
        **new,
        "body": f"* {reply.text}",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }
