"""Reading a request body no larger than a limit, without holding more than the limit."""

from aiohttp import web

CHUNK = 64 * 1024


class TooLarge(Exception):
    pass


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
