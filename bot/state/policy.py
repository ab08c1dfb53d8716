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

import tomlkit

from bot.errors import InvalidRecord
from bot.ids import ROOM_ID, SEVERITIES, USER_ID
from bot.state.records import parse_toml, strings

PATH = "policy.toml"
ADMIN = "admin"
EVERYONE = "*"
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MASTER_KEY = re.compile(r"[A-Za-z0-9+/]{43}")  # an Ed25519 public key, unpadded base64


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
        return self.commands.get(command, CommandRule())

    def pinned_key(self, user_id: str, device_id: str) -> str | None:
        return self.devices.get(user_id, {}).get(device_id)

    def pinned_identity(self, user_id: str) -> str | None:
        return self.identities.get(user_id)


@functools.lru_cache(maxsize=8)  # every command reads the policy; it is frozen, like its text
def decode_policy(text: str, path: str = PATH) -> Policy:
    data = parse_toml(path, text)
    known = {"roles", "commands", "rooms", "devices", "identities", "incidents", "trust", "metrics"}
    for section in data:
        if section not in known:
            raise InvalidRecord(
                path, section, f"unknown section (known: {', '.join(sorted(known))})"
            )
    require_encryption, announce = _rooms(path, _table(path, "rooms", data.get("rooms", {})))
    incident_roles, notify = _incidents(path, _table(path, "incidents", data.get("incidents", {})))
    return Policy(
        roles=tuple(_roles(path, _table(path, "roles", data.get("roles", {})))),
        commands=_commands(path, _table(path, "commands", data.get("commands", {}))),
        devices=_devices(path, _table(path, "devices", data.get("devices", {}))),
        identities=_identities(path, _table(path, "identities", data.get("identities", {}))),
        require_encryption=require_encryption,
        announce=announce,
        incident_roles=incident_roles,
        incident_notify=notify,
        confirm_keys=_trust(path, _table(path, "trust", data.get("trust", {}))),
        weekly_digest=_metrics(path, _table(path, "metrics", data.get("metrics", {}))),
    )


def _roles(path: str, table: dict[str, Any]) -> list[Role]:
    roles = []
    for name, body in table.items():
        where = f"roles.{name}"
        body = _table(path, where, body)
        _only(path, where, body, {"members", "commands", "environments"})
        members = strings(path, f"{where}.members", body.get("members", []))
        for member in members:
            if member != EVERYONE and not USER_ID.fullmatch(member):
                raise InvalidRecord(path, f"{where}.members", f"{member!r} is not a Matrix user id")
        envs = body.get("environments")
        roles.append(
            Role(
                name=name,
                members=tuple(members),
                commands=tuple(strings(path, f"{where}.commands", body.get("commands", []))),
                environments=None
                if envs is None
                else tuple(strings(path, f"{where}.environments", envs)),
            )
        )
    return roles


def _commands(path: str, table: dict[str, Any]) -> dict[str, CommandRule]:
    rules = {}
    for name, body in table.items():
        where = f"commands.{name}"
        body = _table(path, where, body)
        _only(path, where, body, {"min_power_level", "require_verified_device"})
        level = body.get("min_power_level")
        if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
            raise InvalidRecord(path, f"{where}.min_power_level", "must be a whole number")
        verified = body.get("require_verified_device", False)
        if not isinstance(verified, bool):
            raise InvalidRecord(path, f"{where}.require_verified_device", "must be true or false")
        rules[name] = CommandRule(level, verified)
    return rules


def _devices(path: str, table: dict[str, Any]) -> dict[str, dict[str, str]]:
    devices: dict[str, dict[str, str]] = {}
    for user, body in table.items():
        if not USER_ID.fullmatch(user):
            raise InvalidRecord(path, f"devices.{user}", "is not a Matrix user id")
        body = _table(path, f"devices.{user}", body)
        for device, key in body.items():
            if not isinstance(key, str):
                raise InvalidRecord(
                    path, f"devices.{user}.{device}", "must be the device's ed25519 key"
                )
        devices[user] = dict(body)
    return devices


def _identities(path: str, table: dict[str, Any]) -> dict[str, str]:
    for user, key in table.items():
        if not USER_ID.fullmatch(user):
            raise InvalidRecord(path, f"identities.{user}", "is not a Matrix user id")
        if not isinstance(key, str) or not MASTER_KEY.fullmatch(key):
            raise InvalidRecord(
                path, f"identities.{user}", "must be the master key, in unpadded base64"
            )
    return dict(table)


def _trust(path: str, table: dict[str, Any]) -> bool:
    _only(path, "trust", table, {"confirm_keys"})
    confirm = table.get("confirm_keys", False)
    if not isinstance(confirm, bool):
        raise InvalidRecord(path, "trust.confirm_keys", "must be true or false")
    return confirm


def _metrics(path: str, table: dict[str, Any]) -> bool:
    _only(path, "metrics", table, {"weekly_digest"})
    digest = table.get("weekly_digest", False)
    if not isinstance(digest, bool):
        raise InvalidRecord(path, "metrics.weekly_digest", "must be true or false")
    return digest


def _rooms(path: str, table: dict[str, Any]) -> tuple[bool, tuple[str, ...]]:
    _only(path, "rooms", table, {"require_encryption", "announce"})
    value = table.get("require_encryption", False)
    if not isinstance(value, bool):
        raise InvalidRecord(path, "rooms.require_encryption", "must be true or false")
    announce = strings(path, "rooms.announce", table.get("announce", []))
    for room in announce:
        if not ROOM_ID.fullmatch(room):
            raise InvalidRecord(
                path, "rooms.announce", f"{room!r} is not a Matrix room id (like !abc:example.org)"
            )
    return value, tuple(dict.fromkeys(announce))


def _incidents(
    path: str, table: dict[str, Any]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    _only(path, "incidents", table, {"roles", "notify"})
    roles = strings(path, "incidents.roles", table.get("roles", []))
    for role in roles:
        if not ROLE_NAME.fullmatch(role):
            raise InvalidRecord(
                path, "incidents.roles", f"{role!r} must be a lowercase word like liaison"
            )
    notify = _table(path, "incidents.notify", table.get("notify", {}))
    _only(path, "incidents.notify", notify, set(SEVERITIES))
    people: dict[str, tuple[str, ...]] = {}
    for severity, members in notify.items():
        where = f"incidents.notify.{severity}"
        users = strings(path, where, members)
        for user in users:
            if not USER_ID.fullmatch(user):
                raise InvalidRecord(path, where, f"{user!r} is not a Matrix user id")
        people[severity] = tuple(dict.fromkeys(users))
    return tuple(dict.fromkeys(roles)), people


def _table(path: str, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRecord(path, where, "must be a table")
    return value


def _only(path: str, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise InvalidRecord(
            path, f"{where}.{extra[0]}", f"unknown field (known: {', '.join(sorted(allowed))})"
        )


# Edits that keep every comment a person wrote.


def add_admin(text: str, user_id: str) -> str:
    if not USER_ID.fullmatch(user_id):
        raise ValueError(f"{user_id!r} is not a Matrix user id (like @alice:example.org)")
    doc = tomlkit.parse(text)
    roles = doc.setdefault("roles", tomlkit.table(is_super_table=True))
    admin = roles.setdefault(ADMIN, tomlkit.table())
    members = admin.setdefault("members", tomlkit.array())
    if user_id not in members:
        members.append(user_id)
    return tomlkit.dumps(doc)


def pin_device(text: str, user_id: str, device_id: str, key: str) -> str:
    doc = tomlkit.parse(text)
    devices = doc.setdefault("devices", tomlkit.table(is_super_table=True))
    user = devices.setdefault(user_id, tomlkit.table())
    user[device_id] = key
    return tomlkit.dumps(doc)


def pin_identity(text: str, user_id: str, key: str) -> str:
    doc = tomlkit.parse(text)
    identities = doc.setdefault("identities", tomlkit.table())
    identities[user_id] = key
    return tomlkit.dumps(doc)


def add_member(text: str, role: str, user_id: str) -> str:
    """policy.toml with `user_id` among the members of `role` (which must exist)."""
    doc = tomlkit.parse(text)
    members = doc["roles"][role].setdefault("members", tomlkit.array())
    if user_id not in members:
        members.append(user_id)
    return tomlkit.dumps(doc)


def remove_member(text: str, role: str, user_id: str) -> str:
    """policy.toml without `user_id` among the members of `role`."""
    doc = tomlkit.parse(text)
    members = doc["roles"][role].get("members", [])
    while user_id in members:
        members.remove(user_id)
    return tomlkit.dumps(doc)
