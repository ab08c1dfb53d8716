"""The bot as a real process against the real homeserver, the people who talk to it, and what
their clients see of it."""

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import HostPaths
from bot.service.assemble import init_repo
from bot.state.in_force import InForceRecord
from bot.state.message import Message
from bot.state.repo import Identity, StateRepo
from bot.state.signing import SigningKey
from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.git import git


def unique(name: str) -> str:
    return f"{name}{secrets.token_hex(3)}"


async def person(homeserver: Homeserver, root: Path, name: str, *, admin: bool = False) -> Person:
    localpart = unique(name)
    password = secrets.token_urlsafe(12)
    user_id = homeserver.register(localpart, password, admin=admin, displayname=name.title())
    someone = Person(homeserver.base_url, user_id, password, root / localpart)
    await someone.login()
    return someone


class BotProcess:
    """`opsbot run --config ...` in its own process, logging JSON lines to a file."""

    def __init__(
        self, homeserver: Homeserver, root: Path, admins: list[str], matrix_config: str = ""
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        localpart = unique("opsbot")
        password = secrets.token_urlsafe(12)
        self.user_id = homeserver.register(localpart, password)
        (root / "password").write_text(password)
        self.paths = HostPaths(root / "state.git", root / "state")
        init_repo(self.paths, admins=admins, bot_id=self.user_id)
        self.hooks = root / "hooks"
        self.hooks.mkdir()
        self.config = root / "opsbot.toml"
        self.config.write_text(
            f'[matrix]\nhomeserver = "{homeserver.base_url}"\nuser_id = "{self.user_id}"\n'
            f'password_file = "{root / "password"}"\n{matrix_config}'
            # The nio persons of these tests have no cross-signing: share room keys with them.
            + ("" if "share_keys_with" in matrix_config else 'share_keys_with = "all"\n')
            + f'[paths]\nstate_dir = "{self.paths.state_dir}"\nrepo = "{self.paths.repo}"\n'
            f'hooks_dir = "{self.hooks}"\n'
            "[reconcile]\ntimeout_seconds = 10\nretries = 1\n"
        )
        self.log = root / "bot.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def repo(self) -> Path:
        return self.paths.repo

    def start(self, timeout: float = 60, env: dict[str, str] | None = None) -> None:
        """Starts the bot and waits until it logs "ready"; `env` adds to its environment."""
        self.starts += 1
        cfg = self.config
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "--log-format",
                    "json",
                    "run",
                    "--config",
                    str(cfg),
                ],
                stdout=log,
                stderr=log,
                env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **(env or {})},
            )
        deadline = time.monotonic() + timeout
        while sum(1 for f in self.facts() if f.get("msg") == "ready") < self.starts:
            if self.process.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot did not get ready:\n{self.tail()}")
            time.sleep(0.1)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def facts(self) -> list[dict[str, Any]]:
        facts = []
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            # Skips the lines of a logged traceback, and third-party noise.
            with contextlib.suppress(ValueError):
                facts.append(json.loads(line))
        return facts

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:]) if self.log.exists() else ""

    def hook(self, name: str, script: str) -> Path:
        """An executable in the bot's hooks directory."""
        path = self.hooks / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
        return path

    def edit_repo(self, changes: dict[str, str], message: str, author: str) -> None:
        """A change made by a person with their own Git: clone, commit, push."""
        clone = self.root / f"clone-{secrets.token_hex(3)}"
        subprocess.run(["git", "clone", "-q", str(self.repo), str(clone)], check=True)
        for path, text in changes.items():
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            (clone / path).write_text(text)
        git(clone, "add", "-A")
        git(
            clone, "-c", "user.name=Someone", "-c", f"user.email={author}", "commit", "-qm", message
        )
        git(clone, "push", "-q", "origin", "HEAD:main")

    def configure(self, changes: dict[str, str], message: str, author: str) -> None:
        """A change signed with the bot's key, as an admin makes it with `opsbot shell`: in
        force at once, unlike an unsigned push (see `edit_repo`), which waits for `!adopt`."""
        repo = StateRepo(
            self.repo,
            committer=Identity("opsbot", self.user_id),
            signer=SigningKey.load(self.paths.signing_key),
            in_force=InForceRecord(self.paths.in_force),
        )
        with repo.locked():
            repo.commit(
                {path: text.encode() for path, text in changes.items()},
                Message(message),
                Identity(author, author),
                datetime.now(UTC),
                parent=repo.head(),
            )

    def commits_for(self, event_id: str) -> list[str]:
        out = git(
            self.repo, "log", "--format=%H", "--fixed-strings", f"--grep=Matrix-Event: {event_id}"
        )
        return out.split()


async def ops_room(alice: Person, opsbot: BotProcess, *others: Person) -> str:
    room = await alice.create_room(invite=[opsbot.user_id, *(o.user_id for o in others)])
    await alice.until_joined(room, opsbot.user_id)
    for other in others:
        await join(other, room)
    return room


async def join(someone: Person, room: str) -> None:
    await someone.until(
        lambda: room in someone.client.invited_rooms or room in someone.client.rooms, "an invite"
    )
    await someone.client.join(room)
    await someone.until_joined(room, someone.user_id)


def edits_of(someone: Person, event_id: str) -> list[dict[str, Any]]:
    return [
        s["content"]
        for _, s in someone.events
        if s.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
        and s["content"]["m.relates_to"].get("event_id") == event_id
    ]


def files_in(someone: Person, room: str) -> list[dict[str, object]]:
    return [
        s["content"]
        for r, s in someone.events
        if r == room and s.get("content", {}).get("msgtype") in ("m.file", "m.image")
    ]


async def keys_of(person: Person, user_id: str) -> dict[str, Any]:
    """/keys/query as a person's client asks it, raw."""
    client = person.client
    response = await client.send(
        "POST",
        "/_matrix/client/v3/keys/query",
        json.dumps({"device_keys": {user_id: []}}),
        headers={"Authorization": f"Bearer {client.access_token}"},
    )
    async with response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
    return answer


def device_of(opsbot: BotProcess) -> str:
    credentials = opsbot.paths.state_dir / "matrix" / "credentials.json"
    return str(json.loads(credentials.read_text())["device_id"])


def lines_of(page: dict[str, Any]) -> list[str]:
    """The lines of one page of a paged reply, after its "(part n/m)" marker."""
    marker, *lines = page["body"].split("\n")
    assert marker.startswith("(part ")
    return lines
