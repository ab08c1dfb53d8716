"""The deliverer: the only code that sends to the homeserver, from the outbox of the ledger.

Effects are carried out in the order they were owed, per room, except that up to `WINDOW`
answers in a row are sent at once (each replies to its own command): an effect that cannot be
delivered yet (the homeserver is away, a room the bot has only just made is not synced yet)
holds back the later effects for that room, and no other room. It starts only once the client
is ready (first sync done, rooms known). Each send has a transaction id derived from the
effect's identity, so a send repeated after a crash is the same send to the homeserver, which
does not post it twice. An effect that can never be delivered (the bot was kicked, the room is
gone) is recorded as failed with the reason, logged once, and holds back nothing.

Effects are data written by the engine, routes, tasks and the reconciler, in this process or
another (the console): the deliverer is woken for its own and looks again every `POLL`
seconds for the others.

Each kind of effect has its sender (`Deliverer.senders`): answers and their edits (replies.py),
notices (notices.py), rooms (rooms.py) and files (uploads.py); how any of them gets a message
into a room is sending.py's.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from nio import AsyncClient

from bot.core.effects import Amend, Answer, CreateRoom, Edit, Effect, Job, Notify, Upload
from bot.core.logs import fact
from bot.core.tasks import first as _first
from bot.core.tasks import set_within
from bot.engine.dispatch import Engine
from bot.state.outbox import Outbox
from bot.state.outbox_file import Owed
from bot.transport.matrix.notices import NoticeSender
from bot.transport.matrix.people import People
from bot.transport.matrix.replies import AmendSender, AnswerSender, EditSender
from bot.transport.matrix.rooms import RoomCreator
from bot.transport.matrix.sending import Fatal, NotYet, Sender, Undeliverable
from bot.transport.matrix.uploads import Uploader

log = logging.getLogger("opsbot.matrix")

POLL = 1.0  # seconds between looks for effects other processes owe
PRUNE_EVERY = 3600.0  # seconds between prunings of what was sent long ago
BACKOFF_CAP = 60.0
MAX_ATTEMPTS = 12  # a room that stays unknown this long (about 8 minutes) is given up on
# Answers sent at once. Each replies to its own command, so their order among themselves is
# not what a person reads them by; sent one after the other, a burst of commands was answered
# at the pace of one round trip to the homeserver each (docs/benchmarks.md).
WINDOW = 4

E = TypeVar("E", contravariant=True)


class EffectSender(Protocol[E]):
    """How one kind of effect is delivered."""

    def order_key(self, effect: E) -> str:
        """Effects with the same key go out in the order they were owed (mostly: its room)."""

    async def send(self, effect: E, identity: str) -> str | None:
        """Carries `effect` out; the id of the event that shows it, if any."""


class _NotMine:
    """A job is its executor's: `Outbox.due` leaves jobs out, so none comes here."""

    def order_key(self, job: Job) -> str:
        return f"job:{job.executor}"

    async def send(self, job: Job, identity: str) -> str | None:
        raise Undeliverable(f"a job for {job.executor}, not for the deliverer")


class InFlight:
    """The effects of one pass being sent, at most `WINDOW` at once."""

    def __init__(
        self,
        attempt: Callable[[Owed, float], Awaitable[str]],
        held: set[str],
        order_key: Callable[[Effect], str],
    ) -> None:
        self._attempt = attempt
        self._held = held
        self._order_key = order_key
        self._tasks: dict[asyncio.Task[str], Owed] = {}
        self.sent = 0

    async def start(self, owed: Owed, now: float) -> None:
        if len(self._tasks) >= WINDOW:
            await self._collect(asyncio.FIRST_COMPLETED)
        self._tasks[asyncio.ensure_future(self._attempt(owed, now))] = owed

    async def finish(self) -> None:
        """Waits for everything started."""
        if self._tasks:
            await self._collect(asyncio.ALL_COMPLETED)

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _collect(self, until: str) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=until)
        for task in done:
            owed = self._tasks.pop(task)
            outcome = task.result()  # a Fatal is raised here, and ends the pass
            if outcome == "held":
                self._held.add(self._order_key(owed.effect))
            self.sent += outcome == "sent"


class Deliverer:
    def __init__(
        self,
        client: AsyncClient,
        engine: Engine,
        ledger: Outbox,
        *,
        clock: Callable[[], float] = time.time,
        people: People | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        sender = Sender(client, people)
        # Keyed on the effect's type: a kind missing here is an error, never sent as another.
        self.senders: dict[type[Effect], EffectSender[Any]] = {
            Answer: AnswerSender(sender),
            Edit: EditSender(ledger, sender),
            Amend: AmendSender(ledger, sender),
            Notify: NoticeSender(client, engine, ledger, sender),
            CreateRoom: RoomCreator(client, engine, ledger, sender),
            Upload: Uploader(client, sender),
            Job: _NotMine(),
        }
        self._wake = asyncio.Event()
        self.delivered = 0
        self._pruned = 0.0

    async def run(self, ready: asyncio.Event, stop: asyncio.Event) -> None:
        """Delivers what is owed until `stop`; nothing before `ready` (rooms are known)."""
        loop = asyncio.get_running_loop()

        # Effects are owed from the engine's worker thread too: wake the loop the safe way.
        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self.ledger.on_ready = wake
        if not await _first(ready, stop):
            return
        # A stop sets the wake event too, so the loop waits on that one event alone: woken, it
        # drains at the loop's next step (an answer's send waited behind `first`'s few steps).
        stopping = asyncio.ensure_future(stop.wait())
        stopping.add_done_callback(lambda _: self._wake.set())
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.drain()
                except Fatal:
                    raise
                except Exception:
                    log.exception("delivering effects failed; trying again")
                await set_within(self._wake, POLL)
        finally:
            stopping.cancel()

    async def drain(self) -> int:
        """One pass over what is owed, in order; returns how many were delivered."""
        now = self.clock()
        held: set[str] = set()  # rooms whose earlier effect waits: later ones wait behind it
        sending = InFlight(self._attempt, held, self._order_key)
        try:
            for owed in self.ledger.due():
                where = self._order_key(owed.effect)
                if where in held:
                    continue
                if owed.next_at > now:
                    held.add(where)
                    continue
                if isinstance(owed.effect, Answer):
                    await sending.start(owed, now)
                    continue
                # Anything else waits for the answers owed before it, and only then is it known
                # whether one of them holds its room back.
                await sending.finish()
                if where not in held:
                    await sending.start(owed, now)
                    await sending.finish()
            await sending.finish()
        finally:
            await sending.cancel()
        self.delivered += sending.sent
        if now - self._pruned > PRUNE_EVERY:
            self.ledger.prune(now)
            self._pruned = now
        return sending.sent

    async def _attempt(self, owed: Owed, now: float) -> str:
        """One try at delivering `owed`, recorded in the ledger: "sent", "held" (its room must
        wait for its retry) or "failed"."""
        self.ledger.sending(owed)
        try:
            event_id = await self.senders[type(owed.effect)].send(owed.effect, owed.identity)
        except NotYet as e:
            if owed.attempts + 1 >= MAX_ATTEMPTS:
                self._failed(owed, f"gave up: {e}")
                return "failed"
            self.ledger.retry(owed, now + min(2.0**owed.attempts, BACKOFF_CAP), str(e))
            return "held"
        except Undeliverable as e:
            self._failed(owed, str(e))
            return "failed"
        except BaseException:
            self.ledger.retry(owed, now + 1.0, "interrupted")
            raise
        self.ledger.sent(owed, event_id)
        return "sent"

    def _failed(self, owed: Owed, why: str) -> None:
        self.ledger.failed(owed, why)
        fact(
            log,
            "effect not delivered",
            logging.WARNING,
            effect=owed.identity,
            kind=type(owed.effect).__name__,
            error=why,
        )

    def _order_key(self, effect: Effect) -> str:
        return self.senders[type(effect)].order_key(effect)
