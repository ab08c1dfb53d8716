"""Tokens presented over HTTP: as a bearer token, or as the password of HTTP basic auth (what
`git clone http://opsbot:<token>@host/state.git` sends). Reading secrets and comparing
tokens is bot/config/tokens.py's, shared with the pages that authenticate themselves."""

import base64
import binascii

from aiohttp import web

from bot.config.tokens import as_sent, matches, read_secret

__all__ = ["as_sent", "matches", "presented", "read_secret"]


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
