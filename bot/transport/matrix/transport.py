"""The Matrix transport: sync, and hand each event to what it is for.

Exactly once, in order: the events of a sync batch are handled one after the other, each answer
is owed in the outbox (by the engine, in the same step as its commit), each event is then marked
handled, and only after the whole batch does the sync position move. A crash anywhere replays
the batch: events already handled are skipped, a command already committed is recognised by the
engine's ledger, and an answer already owed is not owed twice. Nothing is executed twice and
nothing is dropped. A command goes to the engine through commands.py; sending is the
deliverer's (deliverer.py), which starts once this has synced.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    InviteMemberEvent,
    MatrixRoom,
    MegolmEvent,
    RoomCreateEvent,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    SyncError,
    SyncResponse,
)
from nio.api import MessageDirection
from nio.exceptions import SendRetryError

from bot.core.logs import fact
from bot.core.tasks import stopped_within, unless_stopped
from bot.engine.dispatch import Engine
from bot.engine.requests import Observer
from bot.transport.matrix.commands import RoomCommands
from bot.transport.matrix.journal import MatrixJournal
from bot.transport.matrix.keys import after_sync
from bot.transport.matrix.observations import Observations, room_message
from bot.transport.matrix.people import People
from bot.transport.matrix.rooms import ROOM_KEY
from bot.transport.matrix.sending import Fatal
from bot.transport.matrix.verification import Verifier, is_verification
from bot.transport.ratelimit import RateLimit

log = logging.getLogger("opsbot.matrix")

SYNC_TIMEOUT_MS = 30_000
BACKOFF_CAP = 30.0
# Large enough that a bot coming back from a restart sees every message it missed in one batch.
SYNC_FILTER = {"room": {"timeline": {"limit": 500}}, "presence": {"types": []}}
MAX_BACKFILL = 20_000  # events paged back over one gap; past that, the oldest are given up
TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, SendRetryError)


class Retry(Exception):
    """The homeserver failed a request in a way worth retrying later (5xx, 429 past nio's own
    retries): the batch is replayed, and the sync position does not move."""


class MatrixTransport:
    def __init__(
        self,
        client: AsyncClient,
        engine: Engine,
        journal: MatrixJournal,
        *,
        rate_limit: RateLimit,
        observers: Sequence[Observer] = (),
        sync_timeout_ms: int = SYNC_TIMEOUT_MS,
        people: People | None = None,
        room_found: Callable[[str, str], None] = lambda _key, _room: None,
        heard: Callable[[str], None] = lambda _event: None,
        verifier: Verifier | None = None,
    ) -> None:
        self.client = client
        self.verifier = verifier  # answers people who verify the bot from Element
        self.room_found = room_found  # (key, room id) of a room a `CreateRoom` made
        self.heard = heard  # the id of an event the bot sent, back in its sync
        self.engine = engine
        self.journal = journal
        self.sync_timeout_ms = sync_timeout_ms
        self.people = people  # cross-signing identities, learnt per key query
        self.me = client.user_id
        self.observations = Observations(engine, journal, observers, str(client.user_id))
        self.commands = RoomCommands(client, engine, journal, rate_limit, people)
        # The gate a stop closes: see `close`.
        self.in_flight = 0
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Syncs until `stop` is set; backs off (capped) while the homeserver is away."""
        delay, first = 1.0, True
        while not stop.is_set():
            try:
                if await unless_stopped(self._sync_once(first), stop) is None:
                    return
                if first and on_ready:
                    on_ready()
                first, delay = False, 1.0
            except (*TRANSIENT, Retry) as e:
                fact(
                    log,
                    "homeserver unavailable, retrying",
                    logging.WARNING,
                    error=f"{type(e).__name__}: {e}",
                    retry_in=f"{delay:.0f}s",
                )
                if await stopped_within(stop, delay):
                    return
                delay = min(delay * 2, BACKOFF_CAP)

    async def _sync_once(self, first: bool) -> None:
        position = self.journal.position()
        response = await self.client.sync(
            timeout=0 if first else self.sync_timeout_ms,
            sync_filter=SYNC_FILTER,
            since=position,
            # nio keeps no room state across restarts: without the full state, it would not
            # know which rooms are encrypted, and would answer in clear.
            full_state=first,
        )
        if isinstance(response, SyncError):
            if response.status_code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
                raise Fatal(f"the homeserver rejected the access token ({response.message})")
            raise Retry(f"sync failed: {response.status_code} {response.message}")
        assert isinstance(response, SyncResponse)
        await after_sync(self.client, self.people)
        self._note_room_state(response)
        await self._invites(response)
        if position is None:
            # The very first sync of this bot: everything in it happened before we were here.
            for room_id in response.rooms.join:
                self.journal.mark_joined(room_id)
        else:
            for room_id, info in response.rooms.join.items():
                events = list(info.timeline.events)
                if info.timeline.limited:
                    # Also for a room joined since our position: our join may be in the gap,
                    # and the commands after it must not pass for history.
                    gap = await self._missed(room_id, info.timeline.prev_batch, position)
                    events = gap + events
                await self._room(room_id, events)
        for room_id in response.rooms.leave:
            self.journal.forget_room(room_id)
        self.journal.advance(response.next_batch)

    async def _missed(self, room_id: str, gap_start: str | None, position: str) -> list[Any]:
        """The events a "limited" timeline left out (more arrived while the bot was away than a
        sync returns), paged back from the gap to our position: never dropped, only late."""
        missed: list[Any] = []
        token = gap_start
        while token and len(missed) < MAX_BACKFILL:
            page = await self.client.room_messages(
                room_id, start=token, end=position, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse):
                raise Retry(f"could not page back over a timeline gap: {page}")
            missed += page.chunk
            if not page.chunk or page.end == token:
                break
            token = page.end
        if len(missed) >= MAX_BACKFILL:
            fact(
                log,
                "timeline gap too large; the oldest events were not read",
                logging.WARNING,
                room=room_id,
                read=len(missed),
            )
        fact(log, "timeline gap filled", room=room_id, events=len(missed))
        return list(reversed(missed))

    # invites

    async def _invites(self, response: SyncResponse) -> None:
        for room_id, info in response.rooms.invite.items():
            inviter = next(
                (
                    e.sender
                    for e in info.invite_state
                    if isinstance(e, InviteMemberEvent)
                    and e.state_key == self.me
                    and e.membership == "invite"
                ),
                None,
            )
            if inviter is not None and await asyncio.to_thread(self.engine.may_invite, inviter):
                await self.client.join(room_id)
                fact(log, "joined", room=room_id, inviter=inviter)
            else:
                await self.client.room_leave(room_id)
                fact(log, "declined invite", logging.WARNING, room=room_id, inviter=inviter)

    # room events

    async def _room(self, room_id: str, events: list[Any]) -> None:
        room = self.client.rooms.get(room_id)
        if room is None:
            return
        if not self.journal.joined(room_id):
            # Newly joined: what came before our own join is history, not commands for us.
            joins = [i for i, e in enumerate(events) if self._is_my_join(e)]
            before = events[: joins[-1] + 1] if joins else events
            events = events[joins[-1] + 1 :] if joins else []
            self.journal.mark_joined(room_id)
            await self._asked_before_join(room_id, before)
        for event in events:
            if self._closed:
                await asyncio.Event().wait()  # held at the gate until the sync is cancelled
            self.in_flight += 1
            self._idle.clear()
            try:
                await self._event(room, event)
            except (*TRANSIENT, Retry, Fatal):
                raise
            except Exception:
                # A bug in handling one event must not stop the bot serving the others.
                log.exception(
                    "event handling failed",
                    extra={"fields": {"room": room_id, "event": getattr(event, "event_id", None)}},
                )
                self.journal.mark_handled(event.event_id, room_id, None)
            finally:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self._idle.set()

    async def _asked_before_join(self, room_id: str, events: list[Any]) -> None:
        """Verification requests sent before the bot joined: Element's "Verify" makes a DM,
        invites the bot and asks in the same breath. Only requests, addressed to the bot and
        fresh (the verifier checks both): nothing else of a room's history is acted on."""
        if self.verifier is None:
            return
        for event in events:
            source = getattr(event, "source", {})
            if (
                not isinstance(event, MegolmEvent)
                and source.get("type") == "m.room.message"
                and is_verification(source)
                and event.sender != self.me
                and not self.journal.handled(event.event_id)
            ):
                await self.verifier.receive(room_id, source)
                self.journal.mark_handled(event.event_id, room_id, None)

    def _is_my_join(self, event: Any) -> bool:
        return (
            isinstance(event, RoomMemberEvent)
            and event.state_key == self.me
            and event.membership == "join"
        )

    async def _event(self, room: MatrixRoom, event: Any) -> None:
        if getattr(event, "sender", None) == self.me:
            self.heard(event.event_id)
            return
        if self.journal.handled(event.event_id):
            return
        if isinstance(event, MegolmEvent):
            await self.commands.undecryptable(room, event)
            self.journal.mark_handled(event.event_id, room.room_id, None)
            return
        if self.verifier is not None and is_verification(event.source):
            await self.verifier.receive(room.room_id, event.source)
            self.journal.mark_handled(event.event_id, room.room_id, None)
            return
        is_text = isinstance(event, RoomMessageText) and event.source.get("content", {}).get(
            "msgtype"
        ) in (None, "m.text")
        if not is_text or self.engine.command_text(event.body) is None:
            # Conversation, not a command: the features that observe rooms may keep it.
            message = room_message(room.room_id, event)
            kept = message is not None and await asyncio.to_thread(self.observations.keep, message)
            if kept:
                self.journal.mark_handled(event.event_id, room.room_id, None)
            return
        await self.observations.flush(room=room.room_id)  # what was said comes before it
        reply = await self.commands.handle(room, event)
        self.journal.mark_handled(event.event_id, room.room_id, None)
        fact(
            log,
            "answered",
            room=room.room_id,
            event=event.event_id,
            command=reply.command,
            ok=reply.ok,
            commit=reply.commit,
            error=reply.error,
        )

    async def close(self, grace: float) -> bool:
        """Stops between two events, never inside one: the event being handled runs to its
        end (commit, reply, marked handled), the next waits at the gate until `run`'s sync is
        cancelled. The position has not moved past the waiting events, so the next start serves
        them. True once nothing is being handled; False if `grace` ran out first."""
        self._closed = True
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _note_room_state(self, response: SyncResponse) -> None:
        for room_id, info in response.rooms.join.items():
            for event in [*info.state, *info.timeline.events]:
                source = getattr(event, "source", {})
                if source.get("type") == ROOM_KEY and source.get("sender") == self.me:
                    key = source.get("content", {}).get("key")
                    if isinstance(key, str):
                        self.room_found(key, room_id)
                if isinstance(event, RoomCreateEvent):
                    self.commands.note_creators(room_id, event)
