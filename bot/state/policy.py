"""policy.toml: who may run which command, where, and on what conditions.

    [roles.deployer]                 # a role: its members and what they may run
    members = ["@bob:example.org"]   # Matrix ids, or "*" for anyone who can reach the bot
    commands = ["deploy", "rollback"]
    environments = ["dev", "staging"]

    [commands.deploy]                # optional conditions on a command, over Matrix
    min_power_level = 50
    require_verified_device = true

    [rooms]
    require_encryption = true        # refuse commands from unencrypted rooms
    announce = ["!ann:example.org"]  # rooms told of sev1/sev2 incidents

    [incidents]
    roles = ["liaison"]              # incident roles besides commander, communications, scribe

    [incidents.notify]               # invited to a new incident's room, and mentioned when an
    sev1 = ["@oncall:example.org"]   # incident becomes this severity (keys sev1 .. sev5)

    [devices."@bob:example.org"]     # device keys the team has reviewed (!trust writes these)
    BOBPHONE = "ed25519 key, base64"

    [identities]                     # people's master cross-signing keys (!trust @alice):
    "@alice:example.org" = "master key, unpadded base64"   # any device she signed is verified

    [metrics]
    weekly_digest = true             # the week's engineering metrics, posted to the announce
                                     # rooms each Monday (UTC)

    [hotfix]                         # `!deploy ... --hotfix INC-7`, for roles granted "hotfix"
    severities = ["sev1", "sev2"]    # only while the incident is open at one of these
    review_within_hours = 24         # its review proposal is due this long after

    [trust]
    confirm_keys = true              # !trust pins no key it has only seen: it shows the key and
                                     # asks for !trust @alice <key>, compared out of band first

The admin role may run every command everywhere, whatever else the file says, so that an edit
can never lock the admins out.
"""

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import InvalidRecord
from bot.core.ids import DEVICE_ID, ROOM_ID, SEVERITIES, USER_ID, is_ed25519_key
from bot.core.text import clean
from bot.state.records import parse_toml

PATH = "policy.toml"
ADMIN = "admin"
EVERYONE = "*"
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Role:
    name: str
    members: tuple[str, ...]
    commands: tuple[str, ...]
    environments: tuple[str, ...] | None  # None: every environment

    def has(self, user_id: str) -> bool:
        return user_id in self.members or EVERYONE in self.members

    def grants(self, command: str, env: str | None) -> bool:
        if self.name == ADMIN:
            return True
        if command not in self.commands and EVERYONE not in self.commands:
            return False
        return env is None or self.environments is None or env in self.environments


@dataclass(frozen=True)
class CommandRule:
    min_power_level: int | None = None
    require_verified_device: bool = False
    unreadable: str | None = None
    """Why the conditions cannot be read. A condition nobody can read must not pass for none:
    only admins may then run the command, and from a verified device."""


@dataclass(frozen=True)
class Policy:
    roles: tuple[Role, ...]
    commands: dict[str, CommandRule] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    """Master cross-signing keys the team has reviewed, per person ([identities])."""
    require_encryption: bool = False
    announce: tuple[str, ...] = ()
    """Announcement rooms ([rooms] announce): told when an incident is sev1 or sev2."""
    incident_roles: tuple[str, ...] = ()
    """Incident roles besides commander, communications and scribe ([incidents] roles)."""
    incident_notify: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Who to bring in, per severity ([incidents.notify] sev1 = [...])."""
    confirm_keys: bool = False
    """`!trust` pins only a key typed in full, never one the bot has only seen ([trust])."""
    weekly_digest: bool = False
    """The week's engineering metrics are posted to the announcement rooms ([metrics])."""
    hotfix_severities: tuple[str, ...] = ("sev1", "sev2")
    """A hotfix passes only while its incident is open at one of these ([hotfix])."""
    hotfix_review_hours: int = 24
    """A hotfix's review is due this long after it ([hotfix] review_within_hours)."""
    closed: str | None = None
    """Why every command's conditions are unreadable (a section opsbot does not know may be a
    misspelt [commands]): only admins act until the file is repaired."""
    problems: tuple[InvalidRecord, ...] = ()
    """The entries that did not validate, skipped (see `decode_policy`)."""

    def notify_for(self, severity: str) -> tuple[str, ...]:
        return self.incident_notify.get(severity, ())

    def roles_of(self, user_id: str) -> list[Role]:
        return [role for role in self.roles if role.has(user_id)]

    def allows(self, user_id: str, command: str, env: str | None = None) -> bool:
        return any(role.grants(command, env) for role in self.roles_of(user_id))

    def allows_somewhere(self, user_id: str, command: str) -> bool:
        return any(
            role.name == ADMIN or command in role.commands or EVERYONE in role.commands
            for role in self.roles_of(user_id)
        )

    def is_admin(self, user_id: str) -> bool:
        return any(r.name == ADMIN and user_id in r.members for r in self.roles)

    def rule(self, command: str) -> CommandRule:
        if self.closed is not None:
            return CommandRule(unreadable=self.closed)
        return self.commands.get(command, CommandRule())

    def pinned_key(self, user_id: str, device_id: str) -> str | None:
        return self.devices.get(user_id, {}).get(device_id)

    def pinned_identity(self, user_id: str) -> str | None:
        return self.identities.get(user_id)


@functools.lru_cache(maxsize=8)  # every command reads the policy; it is frozen, like its text
def decode_policy(text: str, path: str = PATH) -> Policy:
    """The policy in force. Only text that is not TOML at all is refused whole: an entry that
    does not validate is skipped and kept in `problems` (for `opsbot check`, `!adopt` and the
    announcement of pushed commits), so that one bad line cannot stop every command, `!trust`
    and `!adopt` included, and an admin can repair it from chat. Skipping always grants less:
    a member, a pinned key or a command name that cannot be read is left out, and a limit or a
    condition that cannot be read closes what it would have limited."""
    data = parse_toml(path, text)
    read = _Reader(path)
    sections = {name: read.table(name, value) for name, value in data.items()}
    unknown = sorted(set(sections) - _SECTIONS)
    closed = None
    if unknown:
        # A misspelt [commands.deploy] would be a lost condition: nobody but the admins acts.
        closed = f"[{clean(unknown[0])}] is not a section opsbot knows"
        read.problem(unknown[0], f"unknown section (known: {', '.join(sorted(_SECTIONS))})")

    def section(name: str, *, fallback: Any = _EMPTY) -> Any:
        found = sections.get(name, {})
        return fallback if found is None else found

    roles = read.roles(section("roles"))
    commands = section("commands", fallback=None)
    if commands is None:
        closed = closed or "[commands] is not a table"
    require_encryption, announce = read.rooms(section("rooms", fallback=None))
    incident_roles, notify = read.incidents(section("incidents"))
    return Policy(
        roles=tuple(roles),
        commands=read.commands(commands or {}),
        devices=read.devices(section("devices")),
        identities=read.identities(section("identities")),
        require_encryption=require_encryption,
        announce=announce,
        incident_roles=incident_roles,
        incident_notify=notify,
        confirm_keys=read.confirm_keys(section("trust", fallback=None)),
        weekly_digest=read.weekly_digest(section("metrics")),
        **read.hotfix(section("hotfix")),
        closed=closed,
        problems=tuple(read.problems),
    )


_SECTIONS = {
    *("roles", "commands", "rooms", "devices", "identities", "incidents", "trust", "metrics"),
    "hotfix",
}
_EMPTY: dict[str, Any] = {}


class _Reader:
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

    def strings(self, where: str, value: Any) -> list[str] | None:
        """The strings of a list (the others reported and left out); None if not a list."""
        if not isinstance(value, list):
            self.problem(where, "must be a list of strings")
            return None
        for item in value:
            if not isinstance(item, str):
                self.problem(where, f"{item!r} is not a string")
        return [item for item in value if isinstance(item, str)]

    def unknown(self, where: str, table: dict[str, Any], allowed: set[str]) -> list[str]:
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

    def confirm_keys(self, table: dict[str, Any] | None) -> bool:
        """Unreadable, it is on: a key is then pinned only when typed in full."""
        if table is None or self.unknown("trust", table, {"confirm_keys"}):
            return True
        confirm = table.get("confirm_keys", False)
        if not isinstance(confirm, bool):
            self.problem("trust.confirm_keys", "must be true or false")
            return True
        return confirm

    def weekly_digest(self, table: dict[str, Any]) -> bool:
        self.unknown("metrics", table, {"weekly_digest"})
        digest = table.get("weekly_digest", False)
        if not isinstance(digest, bool):
            self.problem("metrics.weekly_digest", "must be true or false")
            return False
        return digest

    def hotfix(self, table: dict[str, Any]) -> dict[str, Any]:
        """[hotfix]: what cannot be read grants less (no severity; the default deadline)."""
        self.unknown("hotfix", table, {"severities", "review_within_hours"})
        found: dict[str, Any] = {}
        if "severities" in table:
            given = self.strings("hotfix.severities", table["severities"]) or []
            if wrong := [s for s in given if s not in SEVERITIES]:
                self.problem("hotfix.severities", f"{wrong[0]!r} is not one of {SEVERITIES}")
            found["hotfix_severities"] = tuple(s for s in given if s in SEVERITIES)
        hours = table.get("review_within_hours", 24)
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 30:
            self.problem("hotfix.review_within_hours", "must be a whole number from 1 to 720")
        else:
            found["hotfix_review_hours"] = hours
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

    def incidents(
        self, table: dict[str, Any]
    ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        self.unknown("incidents", table, {"roles", "notify"})
        roles = []
        for role in self.strings("incidents.roles", table.get("roles", [])) or []:
            if ROLE_NAME.fullmatch(role):
                roles.append(role)
            else:
                self.problem("incidents.roles", f"{role!r} must be a lowercase word like liaison")
        notify = self.table("incidents.notify", table.get("notify", {})) or {}
        people: dict[str, tuple[str, ...]] = {}
        for severity, members in notify.items():
            where = f"incidents.notify.{severity}"
            if severity not in SEVERITIES:
                self.problem(where, f"unknown field (known: {', '.join(SEVERITIES)})")
                continue
            people[severity] = tuple(dict.fromkeys(self.users(where, members)))
        return tuple(dict.fromkeys(roles)), people
