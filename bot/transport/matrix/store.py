"""nio's SQLite crypto store, without its database round trips on every message.

nio asks its store, for every message it decrypts, whether the sending device is verified, and
`SqliteStore` answers with three queries each time (the account, the device, its trust row);
it also writes the set of encrypted rooms after every sync, in a transaction of its own even
when the sync brought none. Both sat on every command's way from the sync to the engine: about
a millisecond each, where nio's default store (the echo bot's) answers the first from memory.

Here each device's trust state is kept in memory once read. Only the running bot opens its
crypto store, and every change of trust goes through the methods below, which forget what
they change: what is kept is what is on disk.
"""

import functools
from collections.abc import Callable, Iterable
from typing import TypeVar

from nio.crypto import OlmDevice, TrustState
from nio.store import SqliteStore

T = TypeVar("T")


def _forgets(change: Callable[..., T]) -> Callable[..., T]:
    """`SqliteStore`'s `change` of the trust of a device (or a list of them), after which the
    store reads each one's trust again."""

    @functools.wraps(change)
    def method(self: "CryptoStore", devices: OlmDevice | list[OlmDevice]) -> T:
        try:
            return change(self, devices)
        finally:
            for device in devices if isinstance(devices, list) else [devices]:
                self._trust.pop((device.user_id, device.id), None)

    return method


class CryptoStore(SqliteStore):  # type: ignore[misc]  # nio's store is untyped
    def __post_init__(self) -> None:
        super().__post_init__()
        self._trust: dict[tuple[str, str], TrustState] = {}

    def _state(self, device: OlmDevice) -> TrustState:
        key = (device.user_id, device.id)
        if key not in self._trust:  # asked of SqliteStore once (an unknown device: unset)
            self._trust[key] = (
                TrustState.verified
                if super().is_device_verified(device)
                else TrustState.blacklisted
                if super().is_device_blacklisted(device)
                else TrustState.ignored
                if super().is_device_ignored(device)
                else TrustState.unset
            )
        return self._trust[key]

    # what nio asks

    def is_device_verified(self, device: OlmDevice) -> bool:
        return bool(self._state(device) == TrustState.verified)

    def is_device_blacklisted(self, device: OlmDevice) -> bool:
        return bool(self._state(device) == TrustState.blacklisted)

    def is_device_ignored(self, device: OlmDevice) -> bool:
        return bool(self._state(device) == TrustState.ignored)

    # every change of trust, as SqliteStore writes it

    verify_device = _forgets(SqliteStore.verify_device)
    unverify_device = _forgets(SqliteStore.unverify_device)
    blacklist_device = _forgets(SqliteStore.blacklist_device)
    unblacklist_device = _forgets(SqliteStore.unblacklist_device)
    ignore_device = _forgets(SqliteStore.ignore_device)
    unignore_device = _forgets(SqliteStore.unignore_device)
    ignore_devices = _forgets(SqliteStore.ignore_devices)

    # the rooms a sync found encrypted

    def save_encrypted_rooms(self, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        if rooms:  # most syncs bring none: no empty transaction for them
            super().save_encrypted_rooms(rooms)
