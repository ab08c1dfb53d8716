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

    [devices."@bob:example.org"]     # device keys the team has reviewed (!trust writes these)
    BOBPHONE = "ed25519 key, base64"

    [identities]                     # people's master cross-signing keys (!trust @alice):
    "@alice:example.org" = "master key, unpadded base64"   # any device she signed is verified

The admin role may run every command everywhere, whatever else the file says, so that an edit
can never lock the admins out.

These sections are the core's: the engine reads them to authorize every command and to verify
who sends it (`[rooms] announce` is also read by several features). A section one feature reads
is declared by that feature (bot/state/policy_section.py) and read here with the others;
`Policy.section` gives it back. A section neither knows closes the policy.
"""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.core.errors import InvalidRecord
from bot.core.text import clean
from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection
from bot.state.records import parse_toml
from bot.state.roles import ADMIN, EVERYONE, CommandRule, Role

PATH = "policy.toml"

T = TypeVar("T")


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
    declared: Mapping[str, Any] = field(default_factory=dict)
    """The features' declared sections, by name, as their `read` made them (`section`)."""
    closed: str | None = None
    """Why every command's conditions are unreadable (a section opsbot does not know may be a
    misspelt [commands]): only admins act until the file is repaired."""
    problems: tuple[InvalidRecord, ...] = ()
    """The entries that did not validate, skipped (see `decode_policy`)."""

    def section(self, section: PolicySection[T]) -> T:
        """A feature's declared section: as the file has it, its default when the file has none.
        A section the decoder was not told of cannot have been read, so it grants least."""
        if section.name not in self.declared:
            return section.unreadable
        found: T = self.declared[section.name]
        return found

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


def decode_policy(
    text: str, path: str = PATH, sections: Sequence[PolicySection[Any]] = ()
) -> Policy:
    """The policy in force, with the features' declared `sections` (the catalog's
    `policy_sections()`). Only text that is not TOML at all is refused whole: an entry that
    does not validate is skipped and kept in `problems` (for `opsbot check`, `!adopt` and the
    announcement of pushed commits), so that one bad line cannot stop every command, `!trust`
    and `!adopt` included, and an admin can repair it from chat. Skipping always grants less:
    a member, a pinned key or a command name that cannot be read is left out, and a limit or a
    condition that cannot be read closes what it would have limited."""
    return _decode(text, path, tuple(sections))


@functools.lru_cache(maxsize=8)  # every command reads the policy; it is frozen, like its text
def _decode(text: str, path: str, declared: tuple[PolicySection[Any], ...]) -> Policy:
    names = [section.name for section in declared]
    if twice := sorted({n for n in names if names.count(n) > 1} | (set(names) & _CORE)):
        raise ValueError(f"sections of policy.toml declared twice: {', '.join(twice)}")
    data = parse_toml(path, text)
    read = PolicyReader(path)
    sections = {name: read.table(name, value) for name, value in data.items()}
    known = _CORE | set(names)
    unknown = sorted(set(sections) - known)
    closed = None
    if unknown:
        # A misspelt [commands.deploy] would be a lost condition: nobody but the admins acts.
        closed = f"[{clean(unknown[0])}] is not a section opsbot knows"
        read.problem(unknown[0], f"unknown section (known: {', '.join(sorted(known))})")

    def section(name: str, *, fallback: Any = _EMPTY) -> Any:
        found = sections.get(name, {})
        return fallback if found is None else found

    roles = read.roles(section("roles"))
    commands = section("commands", fallback=None)
    if commands is None:
        closed = closed or "[commands] is not a table"
    require_encryption, announce = read.rooms(section("rooms", fallback=None))
    return Policy(
        roles=tuple(roles),
        commands=read.commands(commands or {}),
        devices=read.devices(section("devices")),
        identities=read.identities(section("identities")),
        require_encryption=require_encryption,
        announce=announce,
        declared={s.name: _declared(s, sections, read) for s in declared},
        closed=closed,
        problems=tuple(read.problems),
    )


def _declared(
    section: PolicySection[T], tables: dict[str, dict[str, Any] | None], read: PolicyReader
) -> T:
    """A feature's section: its default when the file has none, what grants least when it is not
    a table (already reported), else what its `read` makes of it, unknown keys reported first."""
    if section.name not in tables:
        return section.default
    table = tables[section.name]
    if table is None:
        return section.unreadable
    read.unknown(section.name, table, section.keys)
    return section.read(table, read)


_CORE = {"roles", "commands", "rooms", "devices", "identities"}
_EMPTY: dict[str, Any] = {}
