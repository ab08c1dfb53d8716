"""The kinds of argument access's commands take: a device id, and a device's key."""

import re

from bot.core.ids import is_ed25519_key
from bot.engine.kinds import ArgError, ArgKind

_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEVICE_KEY = re.compile(r"[A-Za-z0-9+/]{43}=?")


def device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise ArgError("must be a device id like ABCDEFGHIJ")
    return value


def device_key(value: str) -> str:
    key = value.removesuffix("=")
    if not _DEVICE_KEY.fullmatch(value) or not is_ed25519_key(key):
        raise ArgError("must be an ed25519 key: 43 base64 characters, as the client shows it")
    return key


KINDS = (ArgKind("device", device), ArgKind("key", device_key))
