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

from collections.abc import Callable, Iterable
from typing import Any

from nio.crypto import OlmDevice, TrustState
from nio.store import SqliteStore


class CryptoStore(SqliteStore):  # type: ignore[misc]  # nio's store is untyped
    def __post_init__(self) -> None:
        super().__post_init__()
        self._trust: dict[tuple[str, str], TrustState] = {}

    def _state(self, device: OlmDevice) -> TrustState:
        key = (device.user_id, device.id)
        state = self._trust.get(key)
        if state is None:
            state = self._trust[key] = self._read_state(device)
        return state

    def _read_state(self, device: OlmDevice) -> TrustState:
        with self.database.bind_ctx(self.models):
            row = self._get_device(device)
            if not row:
                return TrustState.unset  # as SqliteStore: an unknown device is none of the three
            try:
                return TrustState(row.trust_state[0].state)
            except IndexError:
                return TrustState.unset

    def _changing(
        self, change: Callable[..., Any], devices: Iterable[OlmDevice], *args: Any
    ) -> Any:
        try:
            return change(*args)
        finally:
            for device in devices:
                self._trust.pop((device.user_id, device.id), None)

    # what nio asks

    def is_device_verified(self, device: OlmDevice) -> bool:
        return bool(self._state(device) == TrustState.verified)

    def is_device_blacklisted(self, device: OlmDevice) -> bool:
        return bool(self._state(device) == TrustState.blacklisted)

    def is_device_ignored(self, device: OlmDevice) -> bool:
        return bool(self._state(device) == TrustState.ignored)

    # every change of trust: written by SqliteStore, then read again at the next question

    def verify_device(self, device: OlmDevice) -> bool:
        return bool(self._changing(super().verify_device, [device], device))

    def unverify_device(self, device: OlmDevice) -> bool:
        return bool(self._changing(super().unverify_device, [device], device))

    def blacklist_device(self, device: OlmDevice) -> bool:
        return bool(self._changing(super().blacklist_device, [device], device))

    def unblacklist_device(self, device: OlmDevice) -> bool:
        return bool(self._changing(super().unblacklist_device, [device], device))

    def ignore_device(self, device: OlmDevice) -> bool:
        return bool(self._changing(super().ignore_device, [device], device))

    def unignore_device(self, device: OlmDevice) -> bool:
        return bool(self._changing(super().unignore_device, [device], device))

    def ignore_devices(self, devices: list[OlmDevice]) -> None:
        self._changing(super().ignore_devices, devices, devices)

    # the rooms a sync found encrypted

    def save_encrypted_rooms(self, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        if rooms:  # most syncs bring none: no empty transaction for them
            super().save_encrypted_rooms(rooms)
