"""People's cross-signing identities, as the homeserver's /keys/query shows them.

For each person the bot shares a room with: their master key, and which of their devices their
self-signing key (itself signed by the master key) signed. Learnt per key query (after a sync
that says a device list changed, or a person the bot never queried), never per message; the
engine reads the master keys (`!trust @alice`, and the verified-device rule through the
invocation), and the send side uses the signatures: with `share_keys_with = "cross-signed"` (the
default, the MSC4153 rule Element follows) a device its owner did not sign is blacklisted in
nio's store, so no room key of the bot's reaches it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nio import AsyncClient

from bot.core.ids import fingerprint, is_ed25519_key
from bot.core.logs import fact
from bot.transport.matrix.homeserver_keys import QUERY, Homeserver
from bot.transport.matrix.signed_json import key_public, verifies

log = logging.getLogger("opsbot.matrix")

CROSS_SIGNED = "cross-signed"
SHARE_MODES = (CROSS_SIGNED, "all")


@dataclass(frozen=True)
class PersonKeys:
    master: str | None
    signed: frozenset[tuple[str, str]] = frozenset()  # (device id, ed25519) cross-signed
    devices: frozenset[str] = field(default_factory=frozenset)


def person_keys(answer: Mapping[str, Any], user_id: str) -> PersonKeys:
    """What one /keys/query answer says of `user_id`, every signature checked here."""
    master_obj = answer.get("master_keys", {}).get(user_id)
    master = key_public(master_obj)
    if master is not None and "master" not in (master_obj or {}).get("usage", []):
        master = None
    ssk_obj = answer.get("self_signing_keys", {}).get(user_id) or {}
    ssk = key_public(ssk_obj)
    usable = (
        master is not None
        and ssk is not None
        and ssk_obj.get("user_id") == user_id
        and "self_signing" in ssk_obj.get("usage", [])
        and verifies(ssk_obj, user_id, master)
    )
    devices = answer.get("device_keys", {}).get(user_id) or {}
    signed = set()
    for device_id, device in devices.items():
        if not isinstance(device, dict):
            continue
        key = device.get("keys", {}).get(f"ed25519:{device_id}")
        if (
            usable
            and is_ed25519_key(key)
            and device.get("user_id") == user_id
            and device.get("device_id") == device_id
            and verifies(device, user_id, str(ssk))
        ):
            signed.add((device_id, key))
    return PersonKeys(master, frozenset(signed), frozenset(devices))


class People:
    """The identities of the people the bot talks to; an `IdentityDirectory` for the engine."""

    def __init__(
        self,
        client: AsyncClient,
        share_keys_with: str = CROSS_SIGNED,
        on_identity: Callable[[str, str | None], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.share_keys_with = share_keys_with
        self.on_identity = on_identity
        self.known: dict[str, PersonKeys] = {}
        self._lock = asyncio.Lock()

    def master_of(self, user_id: str) -> str | None:
        known = self.known.get(user_id)
        return known.master if known else None

    def cross_signed(self, user_id: str, device_id: str, key: str) -> bool | None:
        known = self.known.get(user_id)
        return None if known is None else (device_id, key) in known.signed

    async def upkeep(self) -> None:
        """After nio's own key upkeep: the people whose devices changed, or never queried."""
        stale = set()
        for user_id, devices in self.client.device_store.items():
            known = self.known.get(user_id)
            active = {d.id for d in devices.values() if not d.deleted}
            if known is None or not active <= known.devices:
                stale.add(user_id)
        await self.refresh(stale)

    async def query(self) -> None:
        """nio's key query, and ours for the same people (their cross-signing keys)."""
        assert self.client.olm is not None
        users = set(self.client.olm.users_for_key_query)
        if self.client.should_query_keys:
            await self.client.keys_query()
        await self.refresh(users)

    async def refresh(self, users: Iterable[str]) -> None:
        users = sorted(set(users))
        if not users:
            return
        async with self._lock:
            status, answer = await Homeserver(self.client).post(
                QUERY, {"device_keys": {u: [] for u in users}}
            )
            if status != 200:
                fact(log, "cross-signing keys query failed", logging.WARNING, status=status)
                return
            for user_id in users:
                keys = person_keys(answer, user_id)
                before = self.known.get(user_id)
                self.known[user_id] = keys
                if before is not None and before.master != keys.master:
                    fact(
                        log,
                        "cross-signing identity changed",
                        logging.WARNING,
                        user=user_id,
                        before=fingerprint(before.master or "none"),
                        now=fingerprint(keys.master or "none"),
                    )
                if self.on_identity is not None and (
                    before is None or before.master != keys.master
                ):
                    await self.on_identity(user_id, keys.master)
                self.share_rule(user_id)

    def share_rule(self, user_id: str) -> None:
        """Blacklists in nio the devices of `user_id` that get no room key, unblacklists the
        others; nio renews a room's session when a device it was shared with is blacklisted."""
        if self.client.olm is None:
            return
        for device in self.client.device_store.active_user_devices(user_id):
            if device.id == self.client.device_id and user_id == self.client.user_id:
                continue
            allowed = self.share_keys_with != CROSS_SIGNED or bool(
                self.cross_signed(user_id, device.id, device.ed25519)
            )
            blacklisted = self.client.olm.is_device_blacklisted(device)
            if not allowed and not blacklisted:
                self.client.blacklist_device(device)
                fact(
                    log,
                    "room keys withheld from a device its owner did not cross-sign",
                    user=user_id,
                    device=device.id,
                )
            elif allowed and blacklisted:
                self.client.unblacklist_device(device)
