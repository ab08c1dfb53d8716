"""The reader of policy.toml: every problem kept (the file, the key, what is wrong), none
stopping the rest. The core's sections are read by the methods here; a feature's declared
section (bot/state/policy_section.py) by its own function, with the same helpers (`problem`,
`table`, `strings`, `users`), so that its problems read like the core's."""

from collections.abc import Set as AbstractSet
from typing import Any

from bot.core.errors import InvalidRecord
from bot.core.ids import DEVICE_ID, ROOM_ID, USER_ID, is_ed25519_key
from bot.core.text import clean
from bot.state.roles import ADMIN, EVERYONE, CommandRule, Role


class PolicyReader:
    """Reads the sections of policy.toml, keeping every problem instead of stopping at one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[InvalidRecord] = []

    def problem(self, where: str, what: str) -> None:
        # Keys are the file's text: shown on a terminal and in chat only once made plain.
        self.problems.append(InvalidRecord(self.path, clean(where), clean(what)))

    def table(self, where: str, value: Any) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(where, "must be a table")
        return None

    def flag(self, where: str, value: Any, *, otherwise: bool) -> bool:
        """A true or false; `otherwise` (what grants less) for anything else, reported."""
        if isinstance(value, bool):
            return value
        self.problem(where, "must be true or false")
        return otherwise

    def strings(self, where: str, value: Any) -> list[str] | None:
        """The strings of a list (the others reported and left out); None if not a list."""
        if not isinstance(value, list):
            self.problem(where, "must be a list of strings")
            return None
        for item in value:
            if not isinstance(item, str):
                self.problem(where, f"{item!r} is not a string")
        return [item for item in value if isinstance(item, str)]

    def unknown(self, where: str, table: dict[str, Any], allowed: AbstractSet[str]) -> list[str]:
        extra = sorted(set(table) - allowed)
        for key in extra:
            self.problem(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(allowed))})")
        return extra

    def users(self, where: str, value: Any, *, everyone: bool = False) -> tuple[str, ...]:
        found = []
        for user in self.strings(where, value) or []:
            if (everyone and user == EVERYONE) or USER_ID.fullmatch(user):
                found.append(user)
            else:
                self.problem(where, f"{user!r} is not a Matrix user id")
        return tuple(found)

    def roles(self, table: dict[str, Any]) -> list[Role]:
        roles = []
        for name, body in table.items():
            where = f"roles.{name}"
            if (body := self.table(where, body)) is None:
                continue
            # The admin role's rights do not depend on its fields; any other role's do, and a
            # field that cannot be read (a misspelt `environments`) may be the limit of them.
            limits_unread = bool(self.unknown(where, body, {"members", "commands", "environments"}))
            members = self.users(f"{where}.members", body.get("members", []), everyone=True)
            commands = self.strings(f"{where}.commands", body.get("commands", []))
            envs = body.get("environments")
            environments = None if envs is None else self.strings(f"{where}.environments", envs)
            limits_unread |= commands is None or (envs is not None and environments is None)
            if limits_unread and name != ADMIN:
                self.problem(where, "skipped: what it may run, and where, cannot be read")
                continue
            roles.append(
                Role(
                    name=name,
                    members=members,
                    commands=tuple(commands or ()),
                    environments=None if environments is None else tuple(environments),
                )
            )
        return roles

    def commands(self, table: dict[str, Any]) -> dict[str, CommandRule]:
        rules = {}
        for name, body in table.items():
            where = f"commands.{name}"
            if (body := self.table(where, body)) is None:
                rules[name] = CommandRule(unreadable=clean(f"[{where}] is not a table"))
                continue
            bad = self.unknown(where, body, {"min_power_level", "require_verified_device"})
            level = body.get("min_power_level")
            if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
                self.problem(f"{where}.min_power_level", "must be a whole number")
                bad.append("min_power_level")
            verified = body.get("require_verified_device", False)
            if not isinstance(verified, bool):
                self.problem(f"{where}.require_verified_device", "must be true or false")
                bad.append("require_verified_device")
            if bad:
                rules[name] = CommandRule(unreadable=clean(f"[{where}] {bad[0]} cannot be read"))
            else:
                rules[name] = CommandRule(level, verified)
        return rules

    def devices(self, table: dict[str, Any]) -> dict[str, dict[str, str]]:
        devices: dict[str, dict[str, str]] = {}
        for user, body in table.items():
            where = f"devices.{user}"
            if not USER_ID.fullmatch(user):
                self.problem(where, "is not a Matrix user id")
                continue
            if (body := self.table(where, body)) is None:
                continue
            pins = {}
            for device, key in body.items():
                if not DEVICE_ID.fullmatch(device):
                    self.problem(f"{where}.{device}", "is not a device id")
                elif not is_ed25519_key(key):
                    self.problem(
                        f"{where}.{device}", "must be the device's ed25519 key, unpadded base64"
                    )
                else:
                    pins[device] = key
            devices[user] = pins
        return devices

    def identities(self, table: dict[str, Any]) -> dict[str, str]:
        found = {}
        for user, key in table.items():
            where = f"identities.{user}"
            if not USER_ID.fullmatch(user):
                self.problem(where, "is not a Matrix user id")
            elif not is_ed25519_key(key):
                self.problem(where, "must be the master key, in unpadded base64")
            else:
                found[user] = key
        return found

    def rooms(self, table: dict[str, Any] | None) -> tuple[bool, tuple[str, ...]]:
        """Whether commands need an encrypted room (on, when that cannot be read), and the
        announcement rooms."""
        if table is None:
            return True, ()
        closed = bool(self.unknown("rooms", table, {"require_encryption", "announce"}))
        value = table.get("require_encryption", False)
        if not isinstance(value, bool):
            self.problem("rooms.require_encryption", "must be true or false")
            value = True
        announce = []
        for room in self.strings("rooms.announce", table.get("announce", [])) or []:
            if ROOM_ID.fullmatch(room):
                announce.append(room)
            else:
                self.problem(
                    "rooms.announce", f"{room!r} is not a Matrix room id (like !abc:example.org)"
                )
        return value or closed, tuple(dict.fromkeys(announce))
