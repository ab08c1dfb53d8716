"""Answers in the outbox: their text as it changes before they are sent, and the answers sent
but not yet heard back in the bot's own sync.

An answer still owed takes an edit or later news into itself (one message instead of a message
and its edits). Once sent, an answer is on its way to the room's members until the bot's own
sync shows it (or `HEARD_WITHIN` has passed): the reconciler waits for that before it acts on
the answer's commit, so the news of the work never comes before the answer it belongs to.
"""

import dataclasses
import html
import time
from collections.abc import Collection

from bot.core.effects import Answer, Edit

HEARD_WITHIN = 5.0  # seconds after which an answer sent counts as heard, seen in a sync or not


def edited(answer: Answer, edit: Edit) -> Answer:
    """The answer as `edit` has it now."""
    return dataclasses.replace(answer, text=edit.text, html=edit.html, ok=edit.ok, error=edit.error)


def amended(answer: Answer, news: str) -> Answer:
    """The answer with later news appended: "deploy: web 1.2 to dev · deploying… · ok"."""
    return dataclasses.replace(
        answer, text=f"{answer.text} · {news}", html=f"{answer.html} · {html.escape(news)}"
    )


class Unheard:
    """Answers sent and not yet back in the bot's own sync, by event id."""

    def __init__(self) -> None:
        self._sent: dict[str, tuple[str, float]] = {}  # event id -> (commit, when sent)

    def sent(self, event_id: str, commit: str) -> None:
        self._sent[event_id] = (commit, time.monotonic())
        self._forget_heard()

    def heard(self, event_id: str) -> None:
        self._sent.pop(event_id, None)

    def announces(self, commits: Collection[str]) -> bool:
        """Whether an answer on its way announces one of `commits`."""
        self._forget_heard()
        return any(commit in commits for commit, _ in self._sent.values())

    def _forget_heard(self) -> None:
        """Answers sent long enough ago count as heard, whether a sync showed them or not (the
        bot may have left the room): what is remembered of them stays small."""
        now = time.monotonic()
        for event_id, (_, at) in list(self._sent.items()):
            if now - at > HEARD_WITHIN:
                del self._sent[event_id]
