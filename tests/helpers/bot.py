"""The engine on a fresh state repo, driven as the console would drive it, and the people who
talk to it."""

import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import HostPaths
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation, Reply
from bot.state.message import Message
from bot.state.repo import Identity
from tests.helpers.git import git

ROOM = "!ops:example.org"

ALICE = "@alice:example.org"  # admin
BOB = "@bob:example.org"  # deployer in dev and staging (see `with_deployer`)
MALLORY = "@mallory:example.org"  # no role but "everyone"
CAROL = "@carol:example.org"  # a second deployer, in the policies that need one


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Bot:
    """The engine on a fresh state repo, driven as the console would drive it."""

    def __init__(self, paths: HostPaths, engine: Engine, clock: Clock) -> None:
        self.paths = paths
        self.engine = engine
        self.clock = clock

    @property
    def repo(self) -> Path:
        return self.paths.repo

    def say(self, text: str, sender: str = ALICE, event_id: str | None = None) -> Reply:
        return self.say_as(text, sender, event_id)

    def say_as(
        self,
        text: str,
        sender: str = ALICE,
        event_id: str | None = None,
        sender_name: str | None = None,
    ) -> Reply:
        """`say`, with the display name the sender chose (free text, like any other)."""
        invocation = Invocation(
            sender=sender,
            sender_name=sender_name or sender.lstrip("@").split(":")[0].title(),
            text=text,
            event_id=event_id or f"${uuid.uuid4().hex}",
            received_at=self.clock(),
            room_id=ROOM,
            room_name="#ops",
            transport="matrix",
        )
        reply = self.engine.run(invocation)
        assert reply is not None, f"{text!r} was not taken as a command"
        return reply

    def head(self) -> str:
        return git(self.repo, "rev-parse", "main").strip()

    def show(self, path: str, rev: str = "main") -> str:
        return git(self.repo, "show", f"{rev}:{path}")

    def push(self, changes: dict[str, str], message: str, author: str = "Mallory") -> str:
        """A change made with plain `git` and pushed to the repo, unsigned, as anyone with
        push access could; returns the new commit."""
        clone = self.repo.parent / f"clone-{uuid.uuid4().hex[:6]}"
        subprocess.run(["git", "clone", "-q", str(self.repo), str(clone)], check=True)
        for path, text in changes.items():
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            (clone / path).write_text(text)
        git(clone, "add", "-A")
        who = ["-c", f"user.name={author}", "-c", "user.email=someone@example.org"]
        git(clone, *who, "commit", "-qm", message)
        git(clone, "push", "-q", "origin", "HEAD:main")
        return git(clone, "rev-parse", "HEAD").strip()

    def edit(self, path: str, text: str | None) -> str:
        """Commits a change as a person editing the repo by hand would (not through a command)."""
        state = self.engine.repo
        with state.locked():
            return state.commit(
                {path: None if text is None else text.encode()},
                Message(summary=f"edit {path}"),
                Identity("Alice", ALICE),
                self.clock(),
                parent=state.head(),
            )
