"""What a transport hands the engine, and what it gets back."""

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.errors import OpsbotError
from bot.core.text import clean, clean_multiline, without_bidi


def text_html(text: str) -> str:
    """Plain text as HTML: every character escaped (no markup a person typed reaches a client),
    line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


@dataclass(frozen=True)
class Invocation:
    """One message that may be a command: who, where, which event, what text, how trusted."""

    sender: str  # Matrix user id, also used by the console (`opsbot shell --as`)
    text: str
    event_id: str  # unique per transport; a repeated id is a redelivery, never a new command
    received_at: datetime
    sender_name: str = ""
    room_id: str | None = None
    room_name: str | None = None
    transport: str = "console"
    # What a transport knows of the sender's standing; None where it has no such notion (the
    # console is local and trusted), and then the policy's conditions on them do not apply.
    power_level: int | None = None
    device_id: str | None = None
    device_key: str | None = None  # the device's ed25519 key, as the transport saw it
    master_key: str | None = None  # the sender's master cross-signing key, as last queried
    device_cross_signed: bool | None = None
    """Whether the sender's self-signing key, signed by `master_key`, signed this device."""
    encrypted: bool | None = None
    room_members: frozenset[str] | None = None  # who is in the room, where the transport knows
    answer: bool = False
    """The reply is owed in the room, in reply to the event (through the outbox), rather than
    returned to the caller alone."""

    def trailers(self) -> list[tuple[str, str | None]]:
        """The Git trailers that say where this came from (see DESIGN.md's commit format)."""
        if self.transport == "matrix":
            return [("Matrix-Room", self.room_id), ("Matrix-Event", self.event_id)]
        return [("Opsbot-Invocation", self.event_id)]

    @property
    def display_name(self) -> str:
        # Chosen by the sender, and shown to others (replies, commit author): one plain line.
        return clean(self.sender_name).strip() or self.sender

    @property
    def place(self) -> str:
        return clean(self.room_name or "").strip() or self.room_id or f"the {self.transport}"


@dataclass(frozen=True)
class Reply:
    """The answer to an invocation: text for people, `result` for machines."""

    ok: bool
    command: str | None
    text: str
    html: str
    commit: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    effects: tuple[Any, ...] = ()  # bot.core.effects.Effect, after a successful commit

    def __post_init__(self) -> None:
        # Whatever a reply quotes (a reason, a name, a record edited by hand), it cannot reorder
        # or break the lines people read.
        object.__setattr__(self, "text", clean_multiline(self.text))
        object.__setattr__(self, "html", without_bidi(self.html))

    @classmethod
    def refusal(
        cls, error: OpsbotError, command: str | None = None, usage: str | None = None
    ) -> "Reply":
        """What was wrong, what to type instead, and the usage line where the grammar failed."""
        text = f"refused: {error.message}"
        if error.hint:
            text += f"; {error.hint}"
        if usage:
            text += f"\n{usage}"
        return cls(False, command, text, text_html(text), error=error.code)

    @property
    def result(self) -> dict[str, Any]:
        """The `opsbot` field every reply carries in its Matrix content (DESIGN.md)."""
        return {"ok": self.ok, "command": self.command, "commit": self.commit, "error": self.error}
