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
"""

import asyncio
import base64
import hashlib
import html
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    ContentRepositoryConfigResponse,
    RoomCreateResponse,
    RoomSendResponse,
    UploadResponse,
)

from bot.core.effects import Amend, Answer, CreateRoom, Edit, Effect, Job, Notify, Upload
from bot.core.logs import fact
from bot.core.tasks import first as _first
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation, Reply, text_html
from bot.state.outbox import Outbox
from bot.state.outbox_answers import amended, edited
from bot.state.outbox_file import Owed
from bot.transport.matrix.content import (
    edit_content,
    notice,
    pages,
    refused_notice,
    reply_content,
    replying_to,
    serialized_size,
)
from bot.transport.matrix.people import People

log = logging.getLogger("opsbot.matrix")

POLL = 1.0  # seconds between looks for effects other processes owe
PRUNE_EVERY = 3600.0  # seconds between prunings of what was sent long ago
BACKOFF_CAP = 60.0
MAX_ATTEMPTS = 12  # a room that stays unknown this long (about 8 minutes) is given up on
# Answers sent at once. Each replies to its own command, so their order among themselves is
# not what a person reads them by; sent one after the other, a burst of commands was answered
# at the pace of one round trip to the homeserver each (docs/benchmarks.md).
WINDOW = 4
ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
# A room the deliverer makes says which `CreateRoom` made it, in its own state: a crash between
# the homeserver making the room and the outbox recording it is repaired by the next sync,
# which finds the room by this (see `MatrixTransport`), instead of making a second one.
ROOM_KEY = "org.opsbot.room"


def room_key_state(key: str) -> dict[str, Any]:
    return {"type": ROOM_KEY, "state_key": "", "content": {"key": key}}


class Fatal(Exception):
    """The homeserver says the bot may not go on (its token was revoked)."""


class NotYet(Exception):
    """Delivery must wait: the homeserver is away, or a room is not known yet."""


class Undeliverable(Exception):
    """Delivery can never succeed: the bot cannot speak in that room."""


def pill(user_id: str) -> str:
    """A mention as clients render it: a link to the user."""
    return f'<a href="https://matrix.to/#/{html.escape(user_id)}">{html.escape(user_id)}</a>'


def mention_content(text: str, mentions: tuple[str, ...]) -> dict[str, Any]:
    plain = f"{text}\n{' '.join(mentions)}" if mentions else text
    markup = text_html(text)
    if mentions:
        markup += "<br>" + " ".join(pill(m) for m in mentions)
    return notice(plain, markup, mentions=mentions)


def txn(identity: str, part: str = "") -> str:
    """The transaction id of one send of an effect: the same for every attempt."""
    return "opsbot-" + hashlib.sha256(f"{identity}|{part}".encode()).hexdigest()[:32]


def answer_reply(answer: Answer) -> Reply:
    return Reply(answer.ok, answer.command, answer.text, answer.html, answer.commit, answer.error)


async def upload_limit(client: AsyncClient) -> int | None:
    """The largest upload the homeserver takes (`/_matrix/client/v1/media/config`); None when
    it does not say, or cannot be asked now."""
    try:
        response = await client.content_repository_config()
    except (OSError, TimeoutError):
        return None
    if isinstance(response, ContentRepositoryConfigResponse) and response.upload_size:
        return int(response.upload_size)
    return None


def _upload_source(effect: Upload) -> tuple[bytes | Path, int]:
    """What nio uploads, and its size: a file is read as it goes (nio streams a path, and
    encrypts it in chunks), so a large one does not sit in memory."""
    if effect.data:
        data = base64.b64decode(effect.data)
        return data, len(data)
    path = Path(effect.path)
    try:
        return path, path.stat().st_size
    except OSError as e:
        raise Undeliverable(f"cannot read {effect.name}: {e.strerror}") from None


class Sending:
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
        self.client = client
        self.people = people
        self.engine = engine
        self.ledger = ledger
        self.clock = clock
        self._wake = asyncio.Event()
        self._querying = asyncio.Lock()  # one key query for the answers sent at once
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
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.drain()
            except Fatal:
                raise
            except Exception:
                log.exception("delivering effects failed; trying again")
            await _first(self._wake, stop, timeout=POLL)

    async def drain(self) -> int:
        """One pass over what is owed, in order; returns how many were delivered."""
        now = self.clock()
        held: set[str] = set()  # rooms whose earlier effect waits: later ones wait behind it
        sending = Sending(self._attempt, held, self._order_key)
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
            event_id = await self._deliver(owed)
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
        if isinstance(effect, Answer):
            return effect.room
        if isinstance(effect, Amend):
            found = self.ledger.answer_of(effect.commit)
            return found.room if found else f"commit:{effect.commit}"
        if isinstance(effect, Notify):
            return effect.rooms[0] if effect.rooms else f"key:{effect.room_key or 'announce'}"
        if isinstance(effect, Edit):
            found_answer = self.ledger.answer_by_identity(effect.answer)
            return found_answer[1].room if found_answer else f"answer:{effect.answer}"
        if isinstance(effect, Job):
            return f"job:{effect.executor}"  # never due here: `Outbox.due` leaves jobs out
        if isinstance(effect, Upload):
            return effect.room
        return effect.link_in or f"key:{effect.key}"

    async def _deliver(self, owed: Owed) -> str | None:
        effect = owed.effect
        if isinstance(effect, Answer):
            content = reply_content(
                answer_reply(effect), in_reply_to=effect.in_reply_to, sender=effect.sender
            )
            return await self._send(effect.room, content, owed.identity)
        if isinstance(effect, Amend):
            return await self._amend(effect, owed)
        if isinstance(effect, Notify):
            return await self._notify(effect, owed)
        if isinstance(effect, Edit):
            return await self._edit(effect, owed)
        if isinstance(effect, Job):
            raise Undeliverable(f"a job for {effect.executor}, not for the deliverer")
        if isinstance(effect, Upload):
            return await self._upload(effect, owed)
        return await self._create_room(effect, owed)

    async def _edit(self, edit: Edit, owed: Owed) -> str | None:
        found = self.ledger.answer_by_identity(edit.answer)
        if found is None:
            # Owed right after the work that edits it (an executor may be quicker): wait.
            raise NotYet("the answer it edits is not owed yet")
        state, answer = found
        reply_id = self.ledger.sent_event(edit.answer)
        if reply_id is None:
            if state in ("prepared", "ready"):
                raise NotYet("the answer it edits is not sent yet")
            return None  # the answer could never be sent: an edit of it cannot be either
        shown = answer_reply(edited(answer, edit))
        return await self._send(answer.room, edit_content(shown, original=reply_id), owed.identity)

    async def _amend(self, amend: Amend, owed: Owed) -> str | None:
        sent = self.ledger.answer_event(amend.commit)
        if sent is None:
            if self.ledger.answer_of(amend.commit) is not None:
                raise NotYet("the answer it amends is not sent yet")
            return None  # nothing announced the commit in a room (the console, a route)
        room, reply_id, answer = sent
        shown = answer_reply(amended(answer, amend.text))
        return await self._send(room, edit_content(shown, original=reply_id), owed.identity)

    async def _notify(self, effect: Notify, owed: Owed) -> str | None:
        rooms = list(effect.rooms)
        if effect.room_key is not None:
            made = self.ledger.room_of(effect.room_key)
            if made is not None:
                rooms.append(made)
            elif self.ledger.waiting(f"room:{effect.room_key}"):
                raise NotYet(f"the room {effect.room_key} is not made yet")
        optional = await asyncio.to_thread(self.engine.announce_rooms) if effect.announce else []
        content = mention_content(effect.text, effect.mentions)
        first: str | None = None
        for room in dict.fromkeys([*rooms, *optional]):  # each room once, in order
            if room not in self.client.rooms:
                if room in rooms:
                    raise NotYet(f"not in {room} yet")
                # An announcement room the bot was never invited to: said, not waited for.
                fact(
                    log,
                    "not in an announcement room; skipped",
                    logging.WARNING,
                    room=room,
                    effect=owed.identity,
                )
                continue
            sent = await self._send(room, content, owed.identity, room)
            first = first or sent
        return first

    async def _create_room(self, effect: CreateRoom, owed: Owed) -> str | None:
        room_id = self.ledger.room_of(effect.key)
        if room_id is None:
            me = self.client.user_id
            response = await self.client.room_create(
                name=effect.name,
                topic=effect.topic,
                invite=[u for u in effect.invite if u != me],
                initial_state=[ENCRYPTION, room_key_state(effect.key)],
            )
            if not isinstance(response, RoomCreateResponse):
                raise NotYet(f"could not create the room: {response}")
            room_id = str(response.room_id)
            self.ledger.room_made(effect.key, room_id)
            fact(log, "room created", key=effect.key, room=room_id)
        if effect.then is not None:
            request = self.engine.request_from(effect.then, room=room_id)
            invocation = Invocation(
                sender=str(self.client.user_id),
                sender_name="opsbot",
                text=f"({request.name} {room_id})",
                event_id=f"room:{effect.key}",
                received_at=datetime.now(UTC),
                room_id=effect.link_in,
                transport="matrix",
            )
            reply = await asyncio.to_thread(self.engine.request, request, invocation)
            if not reply.ok and reply.error == "internal":
                raise NotYet(f"could not record the room: {reply.text}")
        if effect.link_in and effect.link_in in self.client.rooms:
            link = f"https://matrix.to/#/{room_id}"
            content = notice(
                f"{effect.link_text}: {link}",
                f'{text_html(effect.link_text)}: <a href="{link}">{html.escape(room_id)}</a>',
            )
            await self._send(effect.link_in, content, owed.identity, "link")
        return room_id

    async def _upload(self, effect: Upload, owed: Owed) -> str | None:
        """Uploads the bytes (encrypted where the room is), then sends the event naming them.

        An upload has no transaction id: a crash between it and the send uploads again, which
        leaves an unreferenced copy on the homeserver and still one message in the room."""
        room = self.client.rooms.get(effect.room)
        if room is None:
            raise NotYet(f"not in {effect.room} yet")
        data, size = _upload_source(effect)
        response, keys = await self.client.upload(
            lambda _limited, _timeouts: data,
            content_type=effect.mimetype,
            filename=effect.name,
            encrypt=room.encrypted,
            filesize=size,
        )
        if not isinstance(response, UploadResponse):
            if response.status_code == "M_TOO_LARGE":
                raise Undeliverable(f"{effect.name} ({size} bytes) is over the upload limit")
            raise NotYet(f"upload failed: {response.status_code} {response.message}")
        info: dict[str, Any] = {"size": size, "mimetype": effect.mimetype}
        if effect.width is not None and effect.height is not None:
            info |= {"w": effect.width, "h": effect.height}
        content: dict[str, Any] = {
            "msgtype": effect.msgtype,
            "body": effect.caption or effect.name,
            "filename": effect.name,
            "info": info,
            "m.mentions": {},
        }
        if keys is not None:
            content["file"] = {**keys, "url": response.content_uri}
        else:
            content["url"] = response.content_uri
        if effect.in_reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": effect.in_reply_to}}
        event_id = await self._send_one(effect.room, content, txn(owed.identity, "upload"))
        fact(log, "file sent", room=effect.room, effect=owed.identity, size=size, event=event_id)
        return event_id

    # sending

    async def _send(
        self, room_id: str, content: dict[str, Any], identity: str, part: str = ""
    ) -> str | None:
        """Sends `content`, in pages if it is too long for one event; the first page's id."""
        first: str | None = None
        for number, page in enumerate(pages(content), start=1):
            sent = await self._send_one(room_id, page, txn(identity, f"{part}#{number}"))
            first = first or sent
        return first

    async def _send_one(
        self, room_id: str, content: dict[str, Any], txn_id: str, *, fallback: bool = True
    ) -> str | None:
        if self.people is not None:
            async with self._querying:
                if self.client.should_query_keys:
                    # Before nio shares a room key with a device it has just learnt of: its
                    # owner's signature is checked first (share_keys_with).
                    await self.people.query()
        try:
            response = await self.client.room_send(
                room_id, "m.room.message", content, tx_id=txn_id, ignore_unverified_devices=True
            )
        except (OSError, TimeoutError) as e:
            raise NotYet(f"{type(e).__name__}: {e}") from None
        if isinstance(response, RoomSendResponse):
            return str(response.event_id)
        code = response.status_code
        status = response.transport_response.status if response.transport_response else None
        if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            raise Fatal(f"the homeserver rejected the access token ({response.message})")
        if code in ("M_FORBIDDEN", "M_NOT_FOUND"):
            raise Undeliverable(f"cannot speak in {room_id}: {code}")
        too_large = code == "M_TOO_LARGE" or status == 413
        if too_large or (status is not None and 400 <= status < 500 and status != 429):
            # Sending it again would be refused again: say so in its place, and move on.
            fact(
                log,
                "the homeserver refused a message; not retrying",
                logging.WARNING,
                room=room_id,
                event=replying_to(content),
                txn=txn_id,
                error=code,
                status=status,
                size=serialized_size(content),
            )
            if not fallback:
                return None
            why = code if code and code.isascii() and code.replace("_", "").isalnum() else ""
            instead = refused_notice(content, too_large=too_large, why=why or f"HTTP {status}")
            return await self._send_one(room_id, instead, f"{txn_id}-refused", fallback=False)
        raise NotYet(f"send failed: {code} {response.message}")
