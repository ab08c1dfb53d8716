"""Tokens presented over HTTP: as a bearer token, or as the password of HTTP basic auth (what
`git clone http://opsbot:<token>@host/state.git` sends)."""

import base64
import binascii
import hmac
from pathlib import Path

from aiohttp import web

from bot.config import ConfigError


def presented(request: web.Request) -> str | None:
    """The token in the request's Authorization header, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def matches(given: str | None, expected: bytes) -> bool:
    """Compared in constant time. A header's bytes that are not UTF-8 reach us as surrogates,
    which plain `encode()` refuses: they are given back as the bytes that were sent."""
    return given is not None and hmac.compare_digest(as_sent(given), expected)


def as_sent(header: str) -> bytes:
    """The bytes of a header value as the client sent them."""
    return header.encode("utf-8", "surrogateescape")


def read_secret(path: Path, what: str) -> bytes:
    """A secret from its file (systemd credentials work), without the final newline."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path} ({e.strerror})") from None
    if not secret:
        # An empty secret would let in whoever sends an empty one.
        raise ConfigError(f"{what}: {path} is empty")
    return secret
