"""What a change of policy.toml did, line by line for the audit report: who was added to or
removed from which role, what a role may newly run or no longer run and where, and whose keys
were pinned or unpinned (`!trust`). Read from the file before and after, never from a message."""

import tomllib
from collections.abc import Iterator
from typing import Any

ROLE = "role"
KEY = "key"


def _read(text: str | None) -> dict[str, Any] | None:
    """The file's tables; {} when absent; None when it does not read (said as a change)."""
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _words(value: Any) -> set[str]:
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


def changes(old: str | None, new: str | None) -> Iterator[tuple[str, str]]:
    """(kind, what) for each thing that changed, in a stable order."""
    before, after = _read(old), _read(new)
    if after is None:
        yield ROLE, "policy.toml does not read (TOML error): the bot keeps the last policy in force"
        return
    before = before or {}
    yield from _roles(_table(before, "roles"), _table(after, "roles"))
    yield from _keys(before, after)
    was, now = (
        _table(before, "trust").get("confirm_keys"),
        _table(after, "trust").get("confirm_keys"),
    )
    if was != now:
        yield KEY, f"[trust] confirm_keys: {_shown(was)} -> {_shown(now)}"


def _roles(before: dict[str, Any], after: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for role in sorted(set(before) | set(after)):
        old, new = before.get(role), after.get(role)
        old = old if isinstance(old, dict) else {}
        new = new if isinstance(new, dict) else {}
        if role not in after:
            yield ROLE, f"role {role} removed"
        elif role not in before:
            yield ROLE, f"role {role} added"
        for member in sorted(_words(new.get("members")) - _words(old.get("members"))):
            yield ROLE, f"{member} added to {role}"
        for member in sorted(_words(old.get("members")) - _words(new.get("members"))):
            yield ROLE, f"{member} removed from {role}"
        for key, verb in (("commands", "run"), ("environments", "act in")):
            gained = sorted(_words(new.get(key)) - _words(old.get(key)))
            lost = sorted(_words(old.get(key)) - _words(new.get(key)))
            if gained and role in before:
                yield ROLE, f"{role} may now {verb}: {', '.join(gained)}"
            if lost and role in after:
                yield ROLE, f"{role} may no longer {verb}: {', '.join(lost)}"
            if key == "environments" and (key in old) != (key in new) and role in before:
                scope = "listed environments only" if key in new else "every environment"
                yield ROLE, f"{role} now acts in {scope}"


def _keys(before: dict[str, Any], after: dict[str, Any]) -> Iterator[tuple[str, str]]:
    old, new = _table(before, "identities"), _table(after, "identities")
    for user in sorted(set(old) | set(new)):
        if old.get(user) != new.get(user):
            yield KEY, f"{user} identity: {_key(old.get(user))} -> {_key(new.get(user))}"
    old, new = _table(before, "devices"), _table(after, "devices")
    for user in sorted(set(old) | set(new)):
        was, now = _table(old, user), _table(new, user)
        for device in sorted(set(was) | set(now)):
            if was.get(device) != now.get(device):
                yield (
                    KEY,
                    f"{user} device {device}: {_key(was.get(device))} -> {_key(now.get(device))}",
                )


def _key(value: Any) -> str:
    """A pinned key, short enough to read and long enough to tell apart."""
    if value is None:
        return "none"
    text = str(value)
    return f"ed25519 {text[:12]}..." if len(text) > 12 else f"ed25519 {text}"


def _shown(value: Any) -> str:
    return "unset" if value is None else str(value).lower()
