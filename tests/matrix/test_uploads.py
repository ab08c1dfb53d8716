"""Files over a real Synapse: what the outbox owes as an `Upload` reaches the room once,
encrypted in an encrypted room, and a person's own client downloads and decrypts it to the
bytes that were owed."""

import base64
import hashlib
import os

from bot.core.effects import Upload
from bot.service.assemble import open_ledger
from devtools.devclient import Person
from tests.helpers.matrix import BotProcess, files_in, ops_room


async def test_a_file_owed_arrives_encrypted_and_decrypts_to_the_same_bytes(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    payload = os.urandom(300_000)
    path = opsbot.root / "output.log"
    path.write_bytes(payload)
    ledger = open_ledger(opsbot.paths)
    ledger.enqueue([("test:file", Upload(room, "output.log", "text/plain", path=str(path)))])
    ledger.close()

    await alice.until(lambda: bool(files_in(alice, room)), "the file")

    [content] = files_in(alice, room)
    assert "url" not in content and content["file"]["url"].startswith("mxc://")  # type: ignore[index]
    assert content["info"] == {"size": len(payload), "mimetype": "text/plain"}
    assert (
        hashlib.sha256(await alice.download(content)).digest() == hashlib.sha256(payload).digest()
    )


async def test_an_image_owed_in_memory_carries_its_dimensions(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)  # the bytes matter, not the picture
    image = Upload(
        room,
        "chart.png",
        "image/png",
        data=base64.b64encode(png).decode(),
        msgtype="m.image",
        caption="weekly deploys",
        width=800,
        height=400,
    )
    ledger = open_ledger(opsbot.paths)
    ledger.enqueue([("test:image", image)])
    ledger.close()

    await alice.until(lambda: bool(files_in(alice, room)), "the image")

    [content] = files_in(alice, room)
    assert content["msgtype"] == "m.image" and content["body"] == "weekly deploys"
    assert content["info"] == {"size": len(png), "mimetype": "image/png", "w": 800, "h": 400}
    assert await alice.download(content) == png
