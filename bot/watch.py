"""Noticing changes that reach the state repo from outside the bot.

Someone may push to the repo or commit on the host. Such commits carry no `Opsbot-Command`
trailer. The watcher announces them (who, what), says which files fail validation (the
reconciler leaves those alone), and asks the reconciler to look. It remembers the last HEAD it
saw in the state directory, so pushes made while the bot was down are announced on start.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from dulwich.objects import Commit

from bot.logs import fact
from bot.state.message import read_trailers, summary_of
from bot.state.repo import StateRepo
from bot.state.view import StateView

log = logging.getLogger("opsbot.watch")

Announce = Callable[[str], Awaitable[None]]
MAX_LISTED = 10


class Watcher:
    def __init__(
        self,
        repo: StateRepo,
        seen_file: Path,
        announce: Announce,
        on_change: Callable[[], None],
        interval: float = 2.0,
        problems: int = 0,
    ) -> None:
        self.repo = repo
        self.seen_file = seen_file
        self.announce = announce
        self.on_change = on_change
        self.interval = interval
        # How many records fail validation. Only commits from outside can change it (the engine
        # writes records it made itself), so it is counted again only when they arrive.
        self.problems = problems

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("watching the repo failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def check(self) -> list[str]:
        """Announces the commits made outside the bot since the last check; returns them."""
        head = self.repo.head()
        seen = self.seen_file.read_text().strip() if self.seen_file.exists() else None
        if head is None or head == seen:
            return []
        if seen is None:
            self._remember(head)  # first start: everything so far is history, not news
            return []
        outside = await asyncio.to_thread(self._outside_commits, head, seen)
        self._remember(head)
        if not outside:
            return []
        lines = [f"{len(outside)} commit(s) reached the state repo from outside opsbot:"]
        for commit in outside[:MAX_LISTED]:
            author = commit.author.decode("utf-8", "replace")
            lines.append(f"  {commit.id.decode()[:7]} {author}: {summary_of(commit.message)}")
        problems = await asyncio.to_thread(lambda: StateView(self.repo.snapshot()).problems())
        self.problems = len(problems)
        if problems:
            lines.append("These files fail validation and are not applied:")
            lines += [f"  {p.message}" for p in problems]
        fact(log, "outside commits", count=len(outside), head=head, problems=len(problems))
        await self.announce("\n".join(lines))
        self.on_change()
        return [c.id.decode() for c in outside]

    def _outside_commits(self, head: str, seen: str) -> list[Commit]:
        found: list[Commit] = []
        sha: bytes | None = head.encode()
        while sha is not None and sha.decode() != seen and len(found) < 1000:
            commit = self.repo.git[sha]
            assert isinstance(commit, Commit)
            if "Opsbot-Command" not in read_trailers(commit.message):
                found.append(commit)
            sha = commit.parents[0] if commit.parents else None
        return list(reversed(found))

    def _remember(self, head: str) -> None:
        tmp = self.seen_file.with_suffix(".tmp")
        tmp.write_text(head + "\n")
        tmp.replace(self.seen_file)
