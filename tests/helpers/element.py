"""A person whose client is the Element stack: matrix-js-sdk with its Rust crypto, run in Node
from tests/js."""

import asyncio
import json
import os
import secrets
from typing import Any

from bot.transport.matrix.signed_json import key_public
from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.matrix import BotProcess, keys_of, unique
from tests.helpers.paths import JS

SCRIPT = JS / "element_client.mjs"


def installed() -> bool:
    """Whether tests/js is installed, and not older than its lock file."""
    stamp = JS / "node_modules" / ".package-lock.json"
    return stamp.exists() and stamp.stat().st_mtime >= (JS / "package-lock.json").stat().st_mtime


class ElementPerson:
    """A person on the test homeserver whose client is matrix-js-sdk; each `say` is one fresh
    login (a new cross-signed device) that sends one message and reports the bot's reply."""

    def __init__(self, homeserver: Homeserver, node: str) -> None:
        self.homeserver = homeserver
        self.node = node
        self.password = secrets.token_urlsafe(12)
        self.user_id = homeserver.register(unique("eve"), self.password, displayname="Eve")

    async def say(
        self, room: str, bot: str, text: str, isolation: str = "all", timeout: float = 60
    ) -> dict[str, Any]:
        # Each value joined to its option: a password may begin with "-", which Node's
        # parseArgs would take for an option of its own.
        process = await asyncio.create_subprocess_exec(
            self.node,
            str(SCRIPT),
            f"--homeserver={self.homeserver.base_url}",
            f"--user={self.user_id}",
            f"--password={self.password}",
            f"--room={room}",
            f"--bot={bot}",
            f"--text={text}",
            f"--isolation={isolation}",
            f"--timeout={timeout}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout + 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        tail = "\n".join(err.decode(errors="replace").splitlines()[-30:])
        assert process.returncode == 0, f"the Element-stack client failed:\n{tail}"
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result


async def shared_room(alice: Person, opsbot: BotProcess, eve: ElementPerson) -> str:
    """An encrypted room made by alice with the bot in it and eve invited (her client joins)."""
    room = await alice.create_room(invite=[opsbot.user_id, eve.user_id])
    await alice.until_joined(room, opsbot.user_id)
    return room


async def master_of(alice: Person, opsbot: BotProcess) -> str:
    master = key_public((await keys_of(alice, opsbot.user_id))["master_keys"][opsbot.user_id])
    assert master is not None
    return master
