"""Reading a request body no larger than a limit, without holding more than the limit, and
reading JSON from it no deeper than a limit.

Every route that takes JSON goes through `parse_json`: the standard library's parser recurses
once per level of nesting, so `[[[[...` a hundred thousand deep would end in a RecursionError
(a 500 with a traceback, on every request). The depth is measured before the parser sees the
body, at the speed of `bytes` methods, and anything the parser refuses is a `NotJson` with a
short reason for the 400.
"""

import json
import re
from typing import Any

from aiohttp import web

CHUNK = 64 * 1024
MAX_DEPTH = 32  # Alertmanager's payload is 3 deep; a CI tool's JSON rarely passes 10

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class TooLarge(Exception):
    pass


class NotJson(ValueError):
    """A body that is not JSON, or is nested too deep; the message is the reason to answer."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body (a signature is over these exact bytes); TooLarge past `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"{declared} bytes")
    data = bytearray()
    while chunk := await request.content.read(CHUNK):
        data += chunk
        if len(data) > limit:  # a sender may lie about, or leave out, the length
            raise TooLarge(f"over {limit} bytes")
    return bytes(data)


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `body`; NotJson when it is not UTF-8 JSON or nests past `max_depth`."""
    if too_deep(body, max_depth):
        raise NotJson(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(body)
    except RecursionError:  # cannot happen below the depth limit; never a 500 if it does
        raise NotJson(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise NotJson("body is not JSON") from None


def too_deep(body: bytes, max_depth: int) -> bool:
    """True when the brackets outside strings nest deeper than `max_depth`.

    Strings are dropped, then everything but brackets (braces count as brackets), then every
    innermost pair, one level per round: the number of rounds is the depth, and no round is a
    Python loop over the bytes. Brackets that do not pair up stop the rounds early; the parser
    refuses such a body anyway.
    """
    brackets = _STRING.sub(b"", body).translate(_BRACES_AS_BRACKETS, _NOT_BRACKETS)
    for _ in range(max_depth):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return False
        brackets = shorter
    return b"[]" in brackets
