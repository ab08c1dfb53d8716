"""Answering "Verify" from Element: in-room emoji verification, the emojis confirmed on the host.

A person who verifies the bot from Element sends an `m.key.verification.request` in a room they
share with it (usually their DM); every later event of the flow relates to that request. The
bot answers ready, takes part in SAS (sas.py), and once the keys are exchanged shows the emojis
to its operator: a log line and `opsbot keys verifications`. Its MAC, the step that makes the
person's client trust the bot's keys, goes out only after the operator compared the emojis with
the person and ran `opsbot keys confirm <id>` (`reject` cancels the flow). Nothing said in a
room can confirm: the point of verifying is to rule out someone who controls the homeserver,
and such a someone can forge room messages from a bot device nobody verified yet.

The flow lives in memory (a restart ends it; the person starts again); the decisions live in
the state directory (decisions.py), where the `opsbot keys` subcommands write them.
Verification is transport protocol, not an effect a command owes: it is sent here, directly,
as nio's key upkeep is, not through the outbox.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nio import AsyncClient, RoomSendResponse

from bot.core.ids import DEVICE_ID, fingerprint
from bot.core.logs import fact
from bot.core.tasks import stopped_within
from bot.transport.matrix.decisions import (
    CANCELLED,
    CONFIRMED,
    FILE,
    REJECTED,
    SENT,
    VERIFIED,
    DecisionJournal,
)
from bot.transport.matrix.people import People
from bot.transport.matrix.sas import (
    CANCEL,
    DECISION_SECONDS,
    DONE,
    FLOW_EVENTS,
    KEY,
    MAC,
    MAX_AGE,
    METHOD,
    REQUEST,
    START,
    Cancelled,
    Outgoing,
    Party,
    SasFlow,
)

log = logging.getLogger("opsbot.verification")

POLL = 0.5  # seconds between looks at the operator's decisions while a flow waits for one
MAX_FLOWS = 8  # at once, one per person; a room full of people cannot make the bot hold more
FUTURE_SLACK = 300.0  # seconds a request may claim to be from the future (clock skew)


def is_verification(source: dict[str, Any]) -> bool:
    """Whether a room event (decrypted) belongs to an in-room verification."""
    if source.get("type") in FLOW_EVENTS:
        return True
    content = source.get("content")
    return (
        source.get("type") == "m.room.message"
        and isinstance(content, dict)
        and content.get("msgtype") == REQUEST
    )


class Verifier:
    def __init__(
        self,
        client: AsyncClient,
        state_dir: Path,
        master: str | None,
        people: People | None = None,
        *,
        clock: Callable[[], float] = time.time,
        decision_seconds: float = DECISION_SECONDS,
    ) -> None:
        self.client = client
        self.master = master  # the bot's master key, None while it is not cross-signed
        self.people = people
        self.clock = clock
        self.decision_seconds = decision_seconds
        self.journal = DecisionJournal(state_dir / "matrix" / FILE)
        self.journal.abandon("the bot restarted during the verification")
        self.flows: dict[str, SasFlow] = {}
        self.offered: dict[str, int] = {}  # flow id -> its row in the journal
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self.journal.close()

    async def receive(self, room_id: str, source: dict[str, Any]) -> None:
        """One verification event of a room, as the transport decrypted it."""
        async with self._lock:
            try:
                await self._receive(room_id, source)
            except Exception:  # a bad event must not stop the sync loop
                log.exception("verification event failed", extra={"fields": {"room": room_id}})

    async def _receive(self, room_id: str, source: dict[str, Any]) -> None:
        content = source.get("content")
        sender = source.get("sender")
        if not isinstance(content, dict) or not isinstance(sender, str):
            return
        kind = str(source.get("type"))
        if kind == "m.room.message":
            await self._request(room_id, source, content, sender)
            return
        relation = content.get("m.relates_to") or {}
        flow = self.flows.get(relation.get("event_id", "")) if isinstance(relation, dict) else None
        if flow is None or flow.room_id != room_id:
            return  # not a flow of ours (another pair verifying, or from before a restart)
        if flow.state in ("cancelled", "verified") and kind in (DONE, CANCEL):
            return
        try:
            flow.receive(kind, sender, content, self.clock())
            await self._step(flow, kind, content)
        except Cancelled as e:
            await self._cancel(flow, e.code, e.reason)

    async def _request(
        self, room_id: str, source: dict[str, Any], content: dict[str, Any], sender: str
    ) -> None:
        me = str(self.client.user_id)
        if content.get("to") != me or sender == me:
            return  # a verification between two others, in a room the bot is in
        event_id, device = source.get("event_id"), content.get("from_device")
        methods = content.get("methods")
        sent_at = source.get("origin_server_ts", 0) / 1000
        now = self.clock()
        if not isinstance(event_id, str) or not isinstance(device, str):
            return
        if not DEVICE_ID.fullmatch(device):
            return  # no client names its device so: it would be shown to the operator as is
        if not (now - MAX_AGE < sent_at < now + FUTURE_SLACK):
            return  # stale (history the bot reads late): the person's client gave up on it
        assert self.client.device_id is not None
        flow = SasFlow(
            event_id,
            room_id,
            Party(me, self.client.device_id),
            self._device_key(),
            self.master,
            Party(sender, device),
            now,
        )
        self._expire(now)
        if event_id in self.flows:
            return  # the same request again
        if not isinstance(methods, list) or METHOD not in methods:
            await self._send(flow, flow.cancel("m.unknown_method", f"the bot offers {METHOD}"))
            return
        # One verification per person: a new request replaces their own, never someone else's,
        # so that nobody can fill the slots and have the operator's real one refused.
        for theirs in [f for f in self.flows.values() if f.them.user_id == sender]:
            await self._replace(theirs)
        if len(self.flows) >= MAX_FLOWS:
            self._expire(now, grace=0.0)
        if len(self.flows) >= MAX_FLOWS:
            await self._send(flow, flow.cancel("m.user", "too many verifications at once"))
            return
        self.flows[event_id] = flow
        fact(log, "verification requested", user=sender, device=device, room=room_id)
        await self._send(flow, flow.ready())

    async def _step(self, flow: SasFlow, kind: str, content: dict[str, Any]) -> None:
        if kind == START:
            await self._send(flow, flow.on_start(content))
        elif kind == KEY:
            our_key = flow.on_key(content)
            self._offer(flow)  # listed for the operator before the person sees the emojis
            await self._send(flow, our_key)
        elif kind == MAC:
            device_key, master = await self._their_keys(flow)
            for outgoing in flow.on_mac(content, device_key, master):
                await self._send(flow, outgoing)
            self._finished(flow)
        elif kind == DONE:
            flow.on_done()
        elif kind == CANCEL:
            flow.on_cancel(content)
            self._end(
                flow, f"cancelled by {flow.them.user_id}: {flow.cancel_reason} ({flow.cancel_code})"
            )
        else:
            raise Cancelled("m.unexpected_message", f"{kind} is not the answering side's to get")

    def _offer(self, flow: SasFlow) -> None:
        assert flow.decimals is not None
        master = self.people.master_of(flow.them.user_id) if self.people else None
        number = self.journal.offer(
            flow.flow_id,
            flow.them.user_id,
            flow.them.device_id,
            flow.room_id,
            flow.emoji,
            flow.decimals,
            master,
        )
        self.offered[flow.flow_id] = number
        fact(
            log,
            "verification waiting for the operator",
            logging.WARNING,
            id=number,
            user=flow.them.user_id,
            device=flow.them.device_id,
            emoji=" ".join(f"{s} {n}" for s, n in flow.emoji),
            decimals=" ".join(str(d) for d in flow.decimals),
            next=f"compare the emojis with the person, then: opsbot keys confirm {number} "
            f"(or reject {number})",
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Acts on the operator's decisions, and ends the flows that waited too long."""
        while not await stopped_within(stop, POLL):
            async with self._lock:
                try:
                    await self._decisions()
                except Exception:
                    log.exception("acting on verification decisions failed")

    async def _decisions(self) -> None:
        now = self.clock()
        for flow in list(self.flows.values()):
            number = self.offered.get(flow.flow_id)
            row = self.journal.get(number) if number is not None else None
            try:
                if flow.state == "deciding" and row is not None and row.state == CONFIRMED:
                    fact(
                        log,
                        "verification confirmed by the operator",
                        id=number,
                        user=flow.them.user_id,
                    )
                    for outgoing in flow.confirm():
                        await self._send(flow, outgoing)
                    if number is not None and flow.state == "confirmed":  # their MAC to come
                        self.journal.finish(number, SENT)
                    self._finished(flow)
                elif flow.state == "deciding" and row is not None and row.state == REJECTED:
                    await self._send(flow, flow.reject())
                    self._end(flow, "rejected by the operator: the emojis did not match")
                elif (why := flow.overdue(now, self.decision_seconds)) is not None:
                    await self._cancel(flow, "m.timeout", why)
            except Cancelled as e:
                await self._cancel(flow, e.code, e.reason)
        self._expire(now)

    def _finished(self, flow: SasFlow) -> None:
        if flow.state != "verified":
            return
        number = self.offered.get(flow.flow_id)
        master = self.people.master_of(flow.them.user_id) if self.people else None
        vouched = master is not None and f"ed25519:{master}" in flow.their_verified
        if number is not None:
            self.journal.finish(number, VERIFIED, their_master=master if vouched else None)
        # Their identity was verified too: an admin may pin it, the bot does not by itself.
        fact(
            log,
            "verified by SAS",
            id=number,
            user=flow.them.user_id,
            device=flow.them.device_id,
            their_master=fingerprint(master) if vouched and master else None,
        )

    async def _cancel(self, flow: SasFlow, code: str, reason: str) -> None:
        await self._send(flow, flow.cancel(code, reason))
        self._end(flow, f"cancelled by the bot: {reason} ({code})")

    def _end(self, flow: SasFlow, why: str) -> None:
        number = self.offered.get(flow.flow_id)
        if number is not None:
            self.journal.finish(number, CANCELLED, why)
        fact(
            log,
            "verification cancelled",
            logging.WARNING,
            id=number,
            user=flow.them.user_id,
            reason=why,
        )

    def _expire(self, now: float, grace: float = 60.0) -> None:
        """Forgets the flows that ended `grace` seconds ago (a late done or cancel of theirs is
        then ignored)."""
        for flow in list(self.flows.values()):
            if flow.state in ("cancelled", "verified") and now - flow.last_at >= grace:
                self._forget(flow)

    async def _replace(self, flow: SasFlow) -> None:
        """Ends and forgets a person's earlier flow: they asked again."""
        if flow.state not in ("cancelled", "verified"):
            await self._send(flow, flow.cancel("m.user", "a newer request replaces this one"))
            self._end(flow, f"replaced by a newer request from {flow.them.user_id}")
        self._forget(flow)

    def _forget(self, flow: SasFlow) -> None:
        del self.flows[flow.flow_id]
        self.offered.pop(flow.flow_id, None)

    async def _send(self, flow: SasFlow, outgoing: Outgoing) -> None:
        kind, content = outgoing
        if self.people is not None and self.client.should_query_keys:
            await self.people.query()  # the share rule is checked before a room key goes out
        try:
            response = await self.client.room_send(
                flow.room_id, kind, content, ignore_unverified_devices=True
            )
        except (OSError, TimeoutError) as e:
            response = e
        if not isinstance(response, RoomSendResponse):
            # The other side times out and says so; nothing to retry into a flow that moved on.
            fact(
                log,
                "verification event not sent",
                logging.WARNING,
                kind=kind,
                room=flow.room_id,
                error=str(response),
            )

    async def _their_keys(self, flow: SasFlow) -> tuple[str | None, str | None]:
        """Their device's Ed25519 key and their master key, as the homeserver says."""
        for attempt in range(2):
            device = self.client.device_store.active_user_devices(flow.them.user_id)
            found = next((d.ed25519 for d in device if d.id == flow.them.device_id), None)
            if found is not None or attempt:
                break
            assert self.client.olm is not None
            self.client.olm.users_for_key_query.add(flow.them.user_id)
            if self.people is not None:
                await self.people.query()
            else:
                await self.client.keys_query()
        if self.people is not None and flow.them.user_id not in self.people.known:
            await self.people.refresh([flow.them.user_id])
        master = self.people.master_of(flow.them.user_id) if self.people else None
        return found, master

    def _device_key(self) -> str:
        assert self.client.olm is not None
        return str(self.client.olm.account.identity_keys["ed25519"])
