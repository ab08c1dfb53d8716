"""The outbox: every effect opsbot owes (answers, notices, rooms, edits, jobs) until it is carried
out, and which invocation made which commit (bot/state/handled.py), both in outbox.sqlite
(bot/state/outbox_file.py).

Neither is derivable from Git, so both live in the state directory. The engine writes them once
the commit's objects are durable and before the ref moves, in one transaction (one wait for the
disk): the commit's effects (the reply, notices, rooms) as prepared, and which invocation the
commit is for. After the move they are marked ready. So a crash at any point loses no effect
and doubles none:

- before the ref moved: the rows name a commit nobody can reach; `settle` drops them at the next
  start, and the redelivered command runs again, writing them anew;
- after it: `settle` finds the commit in the repo and marks them ready.

A redelivered command is "already done" only if the commit its row names really landed; what a
commit message says is never read for it (a display name could forge a `Matrix-Event` line).

Effects are delivered in id order per room by the deliverer (answers in a row a few at once),
which records each one as sent (with the event id it became), retried, or failed for good (with
the reason), and prunes what was sent after `RETENTION`. Until the bot's own sync shows an
answer it sent, the outbox remembers it as on its way (`being_announced`), for the reconciler,
which acts on a command's commit once the room has its answer.
"""

import functools
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot.core.effects import Amend, Answer, Edit, Effect, dump, load
from bot.state.handled import Handled
from bot.state.outbox_answers import Unheard, amended, edited
from bot.state.outbox_file import Owed, insert, open_outbox, transaction
from bot.state.sqlite import connect

RETENTION = 14 * 24 * 3600.0  # seconds a sent or failed effect is kept, for `opsbot` to show
NEXT_FEW = 4  # effects owed ahead of an answer that still leave it among the next to go


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """One caller at a time: the engine writes from its worker thread while the deliverer and
    the reconciler read and write from the event loop, on the same connections, and a statement
    of one must never land inside the other's transaction."""

    @functools.wraps(method)
    def run(self: "Outbox", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


class Outbox:
    def __init__(self, outbox: Path) -> None:
        self._lock = threading.RLock()
        self.path = Path(outbox)
        self._conn = open_outbox(self.path)
        self.handled = Handled(self._conn)
        # What a send became is kept without waiting for the disk: lost on a power cut, the
        # send is made again with the same transaction id, which the homeserver recognises.
        # What is owed (`prepare`, `enqueue`, `amend`) is durable before anything depends on it.
        self._quick = connect(self.path)
        self._in_flight: dict[int, str | None] = {}  # being sent now: id -> an answer's commit
        self._unheard = Unheard()
        self.on_ready: Callable[[], None] = lambda: None  # set by a deliverer, to be woken
        # Told when an effect was sent or given up, or an answer came back in the bot's sync:
        # what `being_announced` says may have changed (the reconciler waits on it).
        self.on_progress: Callable[[], None] = lambda: None

    @_locked
    def close(self) -> None:
        self._quick.close()
        self._conn.close()

    # which invocation made which commit

    @_locked
    def commit_of(self, invocation: str) -> str | None:
        """The commit last prepared for `invocation`; whether it landed is the repo's answer."""
        return self.handled.commit_of(invocation)

    @_locked
    def prepare(
        self, invocation: str, commit: str, at: int, effects: Sequence[tuple[str, Effect]]
    ) -> None:
        """Records that `invocation` makes `commit` and owes `effects` (identity, effect) once
        it lands. Called before the ref moves; one transaction, so that a crash never leaves a
        handled command whose effects are missing."""
        with transaction(self._conn):
            # A row left by an attempt whose commit never landed is replaced by this one.
            self._conn.executemany(
                "DELETE FROM outbox WHERE identity = ? AND state = 'prepared'",
                [[identity] for identity, _ in effects],
            )
            insert(self._conn, effects, commit, "prepared")
            self.handled.record(invocation, commit, at)

    @_locked
    def landed(self, commit: str) -> None:
        """The ref names `commit` now: its effects are due. (Not waiting for the disk: a mark
        lost on a power cut is made again by `settle`, from the repo.)"""
        self._quick.execute(
            "UPDATE outbox SET state = 'ready' WHERE commit_id = ? AND state = 'prepared'", [commit]
        )
        self.on_ready()

    @_locked
    def settle(self, reachable: Callable[[str], bool]) -> tuple[int, int]:
        """After a crash: the prepared effects of commits that landed become due, the others
        are dropped. (What was being sent is still owed: its transaction id makes the second
        send the same as the first.) Returns (made due, dropped)."""
        rows = self._conn.execute(
            "SELECT DISTINCT commit_id FROM outbox WHERE state = 'prepared'"
        ).fetchall()
        due = dropped = 0
        for (commit,) in rows:
            if reachable(commit):
                due += self._conn.execute(
                    "UPDATE outbox SET state = 'ready' WHERE commit_id = ? AND state = 'prepared'",
                    [commit],
                ).rowcount
            else:
                dropped += self._conn.execute(
                    "DELETE FROM outbox WHERE commit_id = ? AND state = 'prepared'", [commit]
                ).rowcount
        return due, dropped

    # the outbox

    @_locked
    def enqueue(self, effects: Iterable[tuple[str, Effect]], commit: str | None = None) -> None:
        """Effects due now (no commit to wait for). An identity already owed or sent is not
        owed twice: a redelivered event, a task run again after a restart."""
        with transaction(self._conn):
            insert(self._conn, list(effects), commit, "ready")
        self.on_ready()

    @_locked
    def owe(self, identity: str, effect: Effect) -> None:
        """One effect owed outside a command (news of a deploy): later news of a commit goes
        into the answer that announced it (`amend`), anything else is queued."""
        if isinstance(effect, Amend):
            self.amend(effect, identity)
        else:
            self.enqueue([(identity, effect)])

    def amend(self, amend: Amend, identity: str) -> None:
        """`amend`'s text goes into the answer that announced its commit if that answer is not
        sent yet (one message instead of a message and its edit); else it is owed as an edit."""
        with transaction(self._conn):
            row = self._conn.execute(
                "SELECT id, effect FROM outbox WHERE commit_id = ? AND kind = 'Answer' "
                "AND state IN ('prepared', 'ready') ORDER BY id LIMIT 1",
                [amend.commit],
            ).fetchone()
            if row and row[0] in self._in_flight:
                row = None
            answer = load(row[1]) if row else None
            if row and isinstance(answer, Answer):
                updated = amended(answer, amend.text)
                self._conn.execute(
                    "UPDATE outbox SET effect = ? WHERE id = ?", [dump(updated), row[0]]
                )
            else:
                insert(self._conn, [(identity, amend)], amend.commit, "ready")
        self.on_ready()

    @_locked
    def due(self) -> list[Owed]:
        """Every effect owed, in the order it was owed (the deliverer holds back the later
        effects of a room whose earlier one waits for its retry)."""
        rows = self._conn.execute(
            "SELECT id, identity, effect, attempts, next_at FROM outbox "
            "WHERE state = 'ready' AND kind != 'Job' ORDER BY id"
        ).fetchall()
        return [Owed(row[0], row[1], load(row[2]), row[3], row[4]) for row in rows]

    @_locked
    def jobs(self, executor: str) -> list[Owed]:
        """The `Job`s owed to `executor`, in order: not the deliverer's (`due` leaves them
        out); the executor marks each `sent` once it has taken it in."""
        rows = self._conn.execute(
            "SELECT id, identity, effect, attempts, next_at FROM outbox "
            "WHERE state = 'ready' AND kind = 'Job' ORDER BY id"
        ).fetchall()
        owed = [Owed(row[0], row[1], load(row[2]), row[3], row[4]) for row in rows]
        return [o for o in owed if getattr(o.effect, "executor", None) == executor]

    @_locked
    def edit(self, edit: Edit, identity: str) -> None:
        """`edit` replaces the text of the answer it names: in the answer itself while that is
        not sent yet (one message, no edit), else as an edit owed in place of any older edit of
        the same answer still waiting (only the newest text matters)."""
        with transaction(self._conn):
            row = self._conn.execute(
                "SELECT id, effect FROM outbox WHERE identity = ? AND kind = 'Answer' "
                "AND state IN ('prepared', 'ready')",
                [edit.answer],
            ).fetchone()
            answer = load(row[1]) if row and row[0] not in self._in_flight else None
            if row and isinstance(answer, Answer):
                self._conn.execute(
                    "UPDATE outbox SET effect = ? WHERE id = ?",
                    [dump(edited(answer, edit)), row[0]],
                )
            else:
                for old_id, old in self._conn.execute(
                    "SELECT id, effect FROM outbox WHERE kind = 'Edit' AND state = 'ready'"
                ).fetchall():
                    older = load(old)
                    mine = isinstance(older, Edit) and older.answer == edit.answer
                    if mine and old_id not in self._in_flight:
                        self._conn.execute("DELETE FROM outbox WHERE id = ?", [old_id])
                insert(self._conn, [(identity, edit)], None, "ready")
        self.on_ready()

    @_locked
    def answer_by_identity(self, identity: str) -> tuple[str, Answer] | None:
        """(state, answer) of the answer owed under `identity`, sent or not; its event id is
        `sent_event(identity)`."""
        row = self._conn.execute(
            "SELECT state, effect FROM outbox WHERE identity = ? AND kind = 'Answer'", [identity]
        ).fetchone()
        answer = load(row[1]) if row else None
        return (row[0], answer) if row and isinstance(answer, Answer) else None

    @_locked
    def sent_event(self, identity: str) -> str | None:
        """The event id the effect owed under `identity` became, once sent."""
        row = self._conn.execute(
            "SELECT event_id FROM outbox WHERE identity = ? AND state = 'sent'", [identity]
        ).fetchone()
        return row[0] if row else None

    @_locked
    def sending(self, owed: Owed) -> None:
        """It is being sent: an `amend` no longer changes it, and becomes an edit instead."""
        effect = owed.effect
        self._in_flight[owed.id] = effect.commit if isinstance(effect, Answer) else None

    @_locked
    def sent(self, owed: Owed, event_id: str | None) -> None:
        commit = self._in_flight.pop(owed.id, None)
        if commit is not None and event_id is not None:
            self._unheard.sent(event_id, commit)
        self._quick.execute(
            "UPDATE outbox SET state = 'sent', event_id = ?, at = ? WHERE id = ?",
            [event_id, time.time(), owed.id],
        )
        self.on_progress()

    @_locked
    def retry(self, owed: Owed, at: float, error: str) -> None:
        self._in_flight.pop(owed.id, None)
        self._quick.execute(
            "UPDATE outbox SET state = 'ready', attempts = attempts + 1, next_at = ?, error = ? "
            "WHERE id = ?",
            [at, error, owed.id],
        )

    @_locked
    def failed(self, owed: Owed, error: str) -> None:
        self._in_flight.pop(owed.id, None)
        self._quick.execute(
            "UPDATE outbox SET state = 'failed', error = ?, at = ? WHERE id = ?",
            [error, time.time(), owed.id],
        )
        self.on_progress()

    @_locked
    def answer_of(self, commit: str) -> Answer | None:
        """The answer that announces `commit`, sent or not."""
        row = self._conn.execute(
            "SELECT effect FROM outbox WHERE commit_id = ? AND kind = 'Answer' ORDER BY id",
            [commit],
        ).fetchone()
        answer = load(row[0]) if row else None
        return answer if isinstance(answer, Answer) else None

    @_locked
    def answer_event(self, commit: str) -> tuple[str, str, Answer] | None:
        """(room, event id, answer) of the sent answer that announced `commit`."""
        for event_id, effect in self._conn.execute(
            "SELECT event_id, effect FROM outbox WHERE commit_id = ? AND kind = 'Answer' "
            "AND state = 'sent' AND event_id IS NOT NULL ORDER BY id",
            [commit],
        ):
            answer = load(effect)
            if isinstance(answer, Answer):
                return answer.room, event_id, answer
        return None

    @_locked
    def being_announced(self, commits: Collection[str]) -> bool:
        """Whether the answer announcing one of `commits` is on its way to the room: among the
        next few effects to go, being sent, or sent but not yet back in the bot's own sync (the
        room's members are receiving it). An answer further back in the queue is not: the news
        of the work will be folded into it before it goes."""
        if not commits:
            return False
        if self._unheard.announces(commits):
            return True
        marks = ", ".join("?" * len(commits))
        (first,) = self._conn.execute(
            f"SELECT MIN(id) FROM outbox WHERE commit_id IN ({marks}) AND kind = 'Answer' "
            "AND state IN ('prepared', 'ready')",  # prepared: the ref has moved, or is moving
            list(commits),
        ).fetchone()
        if first is None:
            return False
        (ahead,) = self._conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE state IN ('prepared', 'ready') "
            "AND kind != 'Job' AND id < ?",
            [first],
        ).fetchone()
        return bool(ahead < NEXT_FEW)

    @_locked
    def heard(self, event_id: str) -> None:
        """The bot's own sync returned `event_id`: the room's members have it too."""
        self._unheard.heard(event_id)
        self.on_progress()

    @_locked
    def waiting(self, identity_prefix: str) -> bool:
        """Whether an effect whose identity starts so is still owed (not sent, not failed)."""
        row = self._conn.execute(
            "SELECT 1 FROM outbox WHERE state IN ('prepared', 'ready') "
            "AND identity >= ? "
            "AND identity < ? LIMIT 1",
            [identity_prefix, identity_prefix + "\uffff"],
        ).fetchone()
        return row is not None

    @_locked
    def counts(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))

    @_locked
    def prune(self, now: float) -> int:
        return self._quick.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND at < ?", [now - RETENTION]
        ).rowcount

    # rooms made by `CreateRoom`

    @_locked
    def room_made(self, key: str, room_id: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO rooms VALUES (?, ?)", [key, room_id])

    @_locked
    def room_found(self, key: str, room_id: str) -> None:
        """A room that says it was made for `key`, seen in a sync: kept unless one is known
        already (the first room made for a key stays the one, whatever else claims it)."""
        self._conn.execute("INSERT OR IGNORE INTO rooms VALUES (?, ?)", [key, room_id])

    @_locked
    def room_of(self, key: str) -> str | None:
        row = self._conn.execute("SELECT room_id FROM rooms WHERE key = ?", [key]).fetchone()
        return row[0] if row else None
