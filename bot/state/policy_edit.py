"""Edits of policy.toml that keep every comment a person wrote (tomlkit, round trip).

Each edit writes only what `decode_policy` reads back: a key that is not one would be a
policy.toml whose entry is skipped on the next read, so it is refused here, the last step
before the repo.
"""

import tomlkit

from bot.core.ids import USER_ID, is_ed25519_key
from bot.state.roles import ADMIN


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
    _refuse_unless_key(key)
    doc = tomlkit.parse(text)
    devices = doc.setdefault("devices", tomlkit.table(is_super_table=True))
    user = devices.setdefault(user_id, tomlkit.table())
    user[device_id] = key
    return tomlkit.dumps(doc)


def pin_identity(text: str, user_id: str, key: str) -> str:
    _refuse_unless_key(key)
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


def _refuse_unless_key(key: str) -> None:
    if not is_ed25519_key(key):
        raise ValueError(f"{key!r} is not an Ed25519 key in unpadded base64")
