"""The host side of a bot, stepped by the test: its hooks directory, the reconcilers that run its
deploy hooks, and the executor that runs its runbooks' programs."""

import asyncio
import time
import uuid
from collections.abc import Callable, Collection
from functools import cached_property
from pathlib import Path

from bot import config
from bot.core.effects import Upload
from bot.engine.answers import answer_id
from bot.engine.services import Services
from bot.engine.types import Invocation, Reply
from bot.features.catalog import index_tables, sections
from bot.features.downloads.host import Downloads
from bot.features.runbooks.executor import Executor
from bot.reconcile.reconciler import OnOutcome, Reconciler
from bot.service.assemble import open_engine
from bot.transport.http import HttpListener
from tests.helpers.bot import ALICE, ROOM, Bot
from tests.helpers.git import git
from tests.helpers.hooks import write_hook
from tests.helpers.http import http_listener

RECORD = 'echo "$@" >> {calls}\necho "deploying $1 $2 to $3"\n'
"""A deploy hook that appends its argv to a file the test reads."""

READ_ARGS = '[ "$1" = -- ] && shift\n'
"""How a hook reads its positional arguments: after the `--` that opsbot always passes."""

ECHO = """
summary = "say hello"
program = "hello"
args = ["{who}"]
timeout_seconds = 5
[params.who]
type = "enum"
values = ["world", "team"]
default = "world"
"""
"""The runbook `hello`, whose program greets whom a person picks."""


class Host:
    """The bot's host: a hooks directory holding its deploy hooks and its runbooks' programs, the
    reconcilers made on its repo, and the executor (made when first asked for).

    `secrets` and `grants` are the host config's runbook secrets and who may have them. With
    `downloads_quota`, the host also has a config with [http] on a free port and [downloads] of
    that many bytes, and the listener that serves the links; `upload_limit` is what the
    homeserver would take as one file."""

    def __init__(
        self,
        bot: Bot,
        tmp_path: Path,
        secrets: dict[str, Path] | None = None,
        *,
        grants: dict[str, list[str]] | None = None,
        downloads_quota: int | None = None,
        upload_limit: int | None = None,
    ) -> None:
        self.bot = bot
        self.hooks = tmp_path / "hooks.d"
        self.hooks.mkdir()
        self.calls = tmp_path / "calls"
        self.secrets = secrets or {}
        self.grants = grants
        self.made: list[Reconciler] = []
        self.seen: dict[str, list[str]] = {}
        self.config: config.Config | None = None
        self.downloads: Downloads | None = None
        self.listener: HttpListener | None = None
        if downloads_quota is not None:
            path = tmp_path / "opsbot.toml"
            path.write_text(
                f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
                f'[http]\nlisten = "127.0.0.1:0"\n[downloads]\nquota_bytes = {downloads_quota}\n'
            )
            self.config = config.load(path, sections())
            self.downloads = Downloads.of(self.config)
            self.listener = http_listener(bot, self.config)
        self.services = Services(bot.engine, self.config)
        self.services.media_limit = upload_limit

    # The deploy hooks and the reconcilers that run them.

    def hook(self, name: str, body: str = RECORD, mode: int = 0o755) -> Path:
        return write_hook(self.hooks, name, READ_ARGS + body.format(calls=self.calls), mode)

    def reconciler(
        self,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.05,
        interval: float = 300,
        on_outcome: OnOutcome | None = None,
        announcing: Callable[[Collection[str]], bool] = lambda _commits: False,
    ) -> Reconciler:
        made = Reconciler(
            self.bot.engine.repo,
            self.bot.paths.state_dir,
            self.hooks,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            interval=interval,
            on_outcome=on_outcome,
            announcing=announcing,
            index_tables=index_tables(),
        )
        self.made.append(made)
        return made

    def close(self) -> None:
        for reconciler in self.made:
            reconciler.close()

    def with_runtime(self, reconciler: Reconciler) -> Bot:
        """The bot's engine built again, with `reconciler` as what it knows of the host."""
        engine = open_engine(
            self.bot.paths, repo=self.bot.engine.repo, runtime=reconciler, clock=self.bot.clock
        )
        return Bot(self.bot.paths, engine, self.bot.clock)

    def deploy(self, app: str, version: str, env: str = "dev") -> str:
        reply = self.bot.say(f"!deploy {app} {version} to {env}")
        assert reply.ok, reply.text
        assert reply.commit is not None
        return reply.commit

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def log_with_notes(self, commit: str) -> str:
        return git(self.bot.repo, "log", "--notes=opsbot", "-1", commit)

    def note(self, commit: str) -> str:
        return git(self.bot.repo, "notes", "--ref=opsbot", "show", commit)

    # The runbooks, their programs and the executor that runs them.

    @cached_property
    def executor(self) -> Executor:
        return Executor(
            self.bot.engine.repo,
            self.bot.engine.ledger,
            self.services,
            self.hooks,
            self.bot.paths.state_dir,
            self.secrets,
            edit_every=0.2,
            grants=self.grants,
            downloads=self.downloads,
        )

    def program(self, name: str, body: str) -> None:
        path = self.hooks / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)

    def runbook(self, name: str, text: str) -> None:
        self.bot.edit(f"runbooks/{name}.toml", text)

    def say(self, text: str, sender: str = ALICE, room: str = ROOM) -> tuple[Reply, str]:
        """`text` as a message in `room`, answered in place; the reply, and the message's id."""
        event = f"${uuid.uuid4().hex}"
        invocation = Invocation(
            sender=sender,
            sender_name=sender[1:].split(":")[0].title(),
            text=text,
            event_id=event,
            received_at=self.bot.clock(),
            room_id=room,
            room_name="#ops",
            transport="matrix",
            answer=True,
        )
        reply = self.bot.engine.run(invocation)
        assert reply is not None
        return reply, event

    def answer(self, event: str) -> str:
        found = self.bot.engine.ledger.answer_by_identity(answer_id(event))
        assert found is not None
        return found[1].text

    async def until(self, event: str, done: Callable[[str], bool], timeout: float = 20) -> str:
        """Steps the executor until the reply to `event` satisfies `done`; every text the
        reply had on the way is kept in `seen`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.executor.step()
            text = self.answer(event)
            if not self.seen.setdefault(event, []) or self.seen[event][-1] != text:
                self.seen[event].append(text)
            if done(text):
                return text
            await asyncio.sleep(0.02)
        raise AssertionError(f"not yet: {self.answer(event)!r}")

    def runs(self, *args: str) -> str:
        return git(self.bot.repo, "log", "refs/opsbot/runs", *args)

    def record(self, run: str) -> str:
        month = self.bot.clock().strftime("%Y-%m")
        return git(self.bot.repo, "show", f"refs/opsbot/runs:runs/{month}/{run}.toml")

    def uploads(self) -> list[Upload]:
        owed = self.bot.engine.ledger.due()
        return [o.effect for o in owed if isinstance(o.effect, Upload)]


def ended(text: str) -> bool:
    """Whether a run's reply says it is over, whichever way."""
    words = (" exit ", "failed", "timed out", "refused", "cancelled", "interrupted")
    return any(word in text for word in words)
