"""Files the bot posts (a download, a chart, a runbook's output): the bytes uploaded, encrypted
where the room is, then an event naming them.

An upload has no transaction id: a crash between it and the send uploads again, which leaves an
unreferenced copy on the homeserver and still one message in the room.
"""

import base64
import logging
from pathlib import Path
from typing import Any

from nio import AsyncClient, ContentRepositoryConfigResponse, UploadResponse

from bot.core.effects import Upload
from bot.core.logs import fact
from bot.transport.matrix.sending import NotYet, Sender, Undeliverable, txn

log = logging.getLogger("opsbot.matrix")


async def upload_limit(client: AsyncClient) -> int | None:
    """The largest upload the homeserver takes (`/_matrix/client/v1/media/config`); None when
    it does not say, or cannot be asked now."""
    try:
        response = await client.content_repository_config()
    except (OSError, TimeoutError):
        return None
    if isinstance(response, ContentRepositoryConfigResponse) and response.upload_size:
        return int(response.upload_size)
    return None


def _upload_source(effect: Upload) -> tuple[bytes | Path, int]:
    """What nio uploads, and its size: a file is read as it goes (nio streams a path, and
    encrypts it in chunks), so a large one does not sit in memory."""
    if effect.data:
        data = base64.b64decode(effect.data)
        return data, len(data)
    path = Path(effect.path)
    try:
        return path, path.stat().st_size
    except OSError as e:
        raise Undeliverable(f"cannot read {effect.name}: {e.strerror}") from None


class Uploader:
    def __init__(self, client: AsyncClient, sender: Sender) -> None:
        self.client = client
        self.sender = sender

    def order_key(self, effect: Upload) -> str:
        return effect.room

    async def send(self, effect: Upload, identity: str) -> str | None:
        room = self.client.rooms.get(effect.room)
        if room is None:
            raise NotYet(f"not in {effect.room} yet")
        data, size = _upload_source(effect)
        response, keys = await self.client.upload(
            lambda _limited, _timeouts: data,
            content_type=effect.mimetype,
            filename=effect.name,
            encrypt=room.encrypted,
            filesize=size,
        )
        if not isinstance(response, UploadResponse):
            if response.status_code == "M_TOO_LARGE":
                raise Undeliverable(f"{effect.name} ({size} bytes) is over the upload limit")
            raise NotYet(f"upload failed: {response.status_code} {response.message}")
        info: dict[str, Any] = {"size": size, "mimetype": effect.mimetype}
        if effect.width is not None and effect.height is not None:
            info |= {"w": effect.width, "h": effect.height}
        content: dict[str, Any] = {
            "msgtype": effect.msgtype,
            "body": effect.caption or effect.name,
            "filename": effect.name,
            "info": info,
            "m.mentions": {},
        }
        if keys is not None:
            content["file"] = {**keys, "url": response.content_uri}
        else:
            content["url"] = response.content_uri
        if effect.in_reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": effect.in_reply_to}}
        event_id = await self.sender.send_one(effect.room, content, txn(identity, "upload"))
        fact(log, "file sent", room=effect.room, effect=identity, size=size, event=event_id)
        return event_id
