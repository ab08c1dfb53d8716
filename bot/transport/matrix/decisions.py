"""The verifications waiting for the operator, shared by the running bot and `opsbot keys`.

The bot writes a row when a person's client and the bot have exchanged keys (the emojis are
known); the operator reads it on the host (`opsbot keys verifications`), compares the emojis
with the person over a channel they trust, and writes the decision (`opsbot keys confirm` or
`reject`); the bot, polling, acts on it and writes the outcome. Only a "waiting" row can be
decided, and only once: a decision never lands on a verification that was meanwhile cancelled
or timed out. One SQLite file in the state directory, beside the crypto store.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.text import escaped
from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

FILE = "verifications.sqlite"
WAITING, CONFIRMED, REJECTED = "waiting", "confirmed", "rejected"
SENT = "sent"  # confirmed, and the bot's MAC is out: the person's side has yet to confirm
VERIFIED, CANCELLED = "verified", "cancelled"
KEEP = 20  # finished verifications kept for `opsbot keys verifications` to show
STEPS: list[Step] = [
    sql(
        """
        CREATE TABLE IF NOT EXISTS verifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT UNIQUE, user_id TEXT,
            device_id TEXT, room_id TEXT, emoji TEXT, decimals TEXT, their_master TEXT,
            state TEXT, reason TEXT, created REAL, updated REAL)
        """
    ),
]


@dataclass(frozen=True)
class Verification:
    id: int
    flow: str
    user_id: str
    device_id: str
    room_id: str
    emoji: list[tuple[str, str]]
    decimals: tuple[int, ...]
    their_master: str | None
    state: str
    reason: str | None
    created: float

    def shown(self) -> str:
        """The emojis as Element lists them: the symbol, with its name under it."""
        return "  ".join(f"{symbol} {name}" for symbol, name in self.emoji)


class DecisionJournal:
    def __init__(self, path: Path) -> None:
        self.conn = connect(path, durable=True)
        upgrade(self.conn, path, STEPS)

    def close(self) -> None:
        self.conn.close()

    def offer(
        self,
        flow: str,
        user_id: str,
        device_id: str,
        room_id: str,
        emoji: list[tuple[str, str]],
        decimals: tuple[int, ...],
        their_master: str | None,
    ) -> int:
        """A verification waiting for the operator; its id, as `opsbot keys confirm` takes it."""
        now = time.time()
        cursor = self.conn.execute(
            "INSERT INTO verifications (flow, user_id, device_id, room_id, emoji, decimals, "
            "their_master, state, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                flow,
                user_id,
                device_id,
                room_id,
                json.dumps(emoji, ensure_ascii=False),
                json.dumps(list(decimals)),
                their_master,
                WAITING,
                now,
                now,
            ],
        )
        self._prune()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def decide(self, number: int, decision: str) -> Verification | None:
        """The operator's decision on a waiting verification; the row as it is afterwards, or
        None if there is no such verification. Decides nothing unless it was waiting."""
        assert decision in (CONFIRMED, REJECTED)
        self.conn.execute(
            "UPDATE verifications SET state = ?, updated = ? WHERE id = ? AND state = ?",
            [decision, time.time(), number, WAITING],
        )
        return self.get(number)

    def finish(
        self, number: int, state: str, reason: str | None = None, their_master: str | None = None
    ) -> None:
        """What became of a verification (the bot's side): verified (with the master key their
        MAC vouched for, if any), or cancelled and why (escaped: the person's client wrote
        part of it, and `opsbot keys verifications` shows it)."""
        self.conn.execute(
            "UPDATE verifications SET state = ?, reason = ?, updated = ?, "
            "their_master = coalesce(?, their_master) WHERE id = ?",
            [state, escaped(reason) if reason else reason, time.time(), their_master, number],
        )

    def abandon(self, reason: str) -> None:
        """Ends what an earlier run of the bot left open: its flows died with it."""
        self.conn.execute(
            "UPDATE verifications SET state = ?, reason = ?, updated = ? WHERE state IN (?, ?, ?)",
            [CANCELLED, reason, time.time(), WAITING, CONFIRMED, SENT],
        )

    def get(self, number: int) -> Verification | None:
        row = self.conn.execute(f"{_SELECT} WHERE id = ?", [number]).fetchone()
        return _verification(row) if row else None

    def waiting(self) -> list[Verification]:
        rows = self.conn.execute(f"{_SELECT} WHERE state = ? ORDER BY id", [WAITING])
        return [_verification(r) for r in rows]

    def recent(self, limit: int = 5) -> list[Verification]:
        rows = self.conn.execute(
            f"{_SELECT} WHERE state != ? ORDER BY id DESC LIMIT ?", [WAITING, limit]
        )
        return [_verification(r) for r in rows]

    def _prune(self) -> None:
        self.conn.execute(
            "DELETE FROM verifications WHERE state IN (?, ?) AND id NOT IN "
            "(SELECT id FROM verifications ORDER BY id DESC LIMIT ?)",
            [VERIFIED, CANCELLED, KEEP],
        )


_SELECT = (
    "SELECT id, flow, user_id, device_id, room_id, emoji, decimals, their_master, state, "
    "reason, created FROM verifications"
)


def _verification(row: Any) -> Verification:
    emoji = [(str(s), str(n)) for s, n in json.loads(row[5])]
    return Verification(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        emoji,
        tuple(json.loads(row[6])),
        row[7],
        row[8],
        row[9],
        row[10],
    )
