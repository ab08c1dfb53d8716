"""Secrets read from their files, and tokens compared with them: one way for every route and
page that asks for a token (the listener's routes, `/state.git`, `/metrics`).

An empty secret would let in whoever sends an empty one, or nothing at all: a file with nothing
but whitespace is refused where it is read, naming its key and file, and a comparison with an
empty expected token is false whatever was given, in case one reaches it another way.
"""

import hmac
from pathlib import Path

from bot.config.problems import ConfigError


def read_secret(path: Path, what: str) -> bytes:
    """A secret from its file (systemd credentials work), without the final newline; `what`
    names its key (`[metrics] token_file`) for the ConfigError when it is unreadable or empty."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path} ({e.strerror})") from None
    if not secret:
        raise ConfigError(f"{what}: {path} is empty; put the token in it")
    return secret


def matches(given: str | None, expected: bytes) -> bool:
    """Compared in constant time; never true for an empty token on either side. A header's
    bytes that are not UTF-8 reach us as surrogates, which plain `encode()` refuses: they are
    compared as the bytes that were sent."""
    if not given or not expected:
        return False
    return hmac.compare_digest(as_sent(given), expected)


def as_sent(header: str) -> bytes:
    """The bytes of a header value as the client sent them."""
    return header.encode("utf-8", "surrogateescape")


def bearer(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header's value, if that is what it is."""
    scheme, _, value = authorization.partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None
