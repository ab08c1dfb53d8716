"""Fixtures that build real things: a real bare repo from the template, the real engine, and the
real `git` CLI to read it back."""

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import HostPaths
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation, Reply
from bot.service.assemble import init_repo, open_engine
from devtools.devserver import Homeserver

if TYPE_CHECKING:
    from matrix_harness import BotProcess

    from bot.config import Config
    from bot.transport.http import HttpListener
    from devtools.devclient import Person
from bot.state.message import Message
from bot.state.repo import Identity

ALICE = "@alice:example.org"  # admin
BOB = "@bob:example.org"  # deployer in dev and staging (see `with_deployer`)
MALLORY = "@mallory:example.org"  # no role but "everyone"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def git(repo: Path, *args: str, check: bool = True) -> str:
    """The real git CLI on the repo, isolated from the machine's and the user's config."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent)}
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


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
            room_id="!ops:example.org",
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


def http_listener(bot: Bot, host_config: "Config") -> "HttpListener":
    """The HTTP listener as the service builds it: every feature's routes and pages, effects
    owed."""
    from bot.engine.services import Services
    from bot.features.catalog import FEATURES
    from bot.transport.http import HttpListener

    routes = [route for feature in FEATURES for route in feature.routes]
    pages = [page for feature in FEATURES for page in feature.pages]
    readers = [reader for feature in FEATURES for reader in feature.readers]
    return HttpListener(
        host_config, Services(bot.engine, host_config), routes, pages=pages, readers=readers
    )


def owed_notices(bot: Bot, source: str) -> list[tuple[str, str]]:
    """The notices owed in the outbox by `source` (a route, the webhooks): (room, or
    "announcement rooms", text), in order; what the deliverer will send."""
    from bot.core.effects import Notify

    return [
        (owed.effect.rooms[0] if owed.effect.rooms else "announcement rooms", owed.effect.text)
        for owed in bot.engine.ledger.due()
        if isinstance(owed.effect, Notify)
        and owed.identity.startswith(f"{source}:")
        and "#" not in owed.identity
    ]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_bot(tmp_path: Path, clock: Clock) -> Callable[..., Bot]:
    def make(name: str = "state", admins: tuple[str, ...] = (ALICE,)) -> Bot:
        paths = HostPaths.beside(tmp_path / name)
        init_repo(paths, admins=list(admins))
        engine = open_engine(paths, clock=clock)
        return Bot(paths, engine, clock)

    return make


@pytest.fixture
def bot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot()


DEPLOYER_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}"]
commands = ["deploy", "rollback"]
environments = ["dev", "staging"]

[roles.everyone]
members = ["*"]
commands = ["help", "whoami", "status", "history", "show"]
"""


@pytest.fixture
def with_deployer(bot: Bot) -> Bot:
    bot.edit("policy.toml", DEPLOYER_POLICY)
    return bot


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """One real Synapse on 127.0.0.1 for the whole session, started only if a test needs it."""
    with Homeserver(tmp_path_factory.mktemp("homeserver")) as server:
        yield server


# People and the bot on the real homeserver, for the Matrix tests. Imported here, not at the top:
# the harness uses this module's `git`.


@pytest.fixture
async def alice(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator["Person"]:
    from matrix_harness import person

    someone = await person(homeserver, tmp_path / "people", "alice")
    yield someone
    await someone.close()


@pytest.fixture
async def bob(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator["Person"]:
    from matrix_harness import person

    someone = await person(homeserver, tmp_path / "people", "bob")
    yield someone
    await someone.close()


@pytest.fixture
def opsbot(homeserver: Homeserver, tmp_path: Path, alice: "Person") -> Iterator["BotProcess"]:
    """The bot as a process, alice its admin; not started (tests start it as they need)."""
    from matrix_harness import BotProcess

    bot = BotProcess(homeserver, tmp_path / "bot", admins=[alice.user_id])
    yield bot
    if bot.process and bot.process.poll() is None:
        bot.stop()
