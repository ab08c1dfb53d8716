"""Noticing changes that reach the state repo from outside the bot.

Someone may push to the repo or commit on the host. What tells such a commit from the bot's is
its signature, never its message (which can claim anything). The watcher announces every commit
the bot's key did not sign (who, what): those no trusted key signed wait for an admin's
`!adopt` or `!discard` and are not in force meanwhile; those a key of the host's allowed
signers signed are in force. It says which files fail validation (the reconciler leaves those
alone), and asks the reconciler to look. It remembers the last HEAD it
saw in the state directory, so pushes made while the bot was down are announced on start.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from dulwich.objects import Commit

from bot.logs import fact
from bot.state.message import summary_of
from bot.state.repo import StateRepo
from bot.state.signing import public_blob, signer_of
from bot.state.view import StateView
from bot.tasks import stopped_within
from bot.text import clean

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
        signer = repo.signer
        self._own_key = public_blob(signer.public_line()) if signer is not None else None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("watching the repo failed; trying again")
            await stopped_within(stop, self.interval)

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
        signers = self.repo.signers
        unsigned = [c for c in outside if signers is not None and not signers.verifies(c)]
        lines = [f"{len(outside)} commit(s) reached the state repo from outside opsbot:"]
        for commit in outside[:MAX_LISTED]:
            author = clean(commit.author.decode("utf-8", "replace"))
            mark = "unsigned or not by a trusted key" if commit in unsigned else "signed"
            summary = clean(summary_of(commit.message))
            lines.append(f"  {commit.id.decode()[:7]} {author} ({mark}): {summary}")
        if unsigned:
            lines.append(
                f"{len(unsigned)} of them no trusted key signed: they are not in force, and "
                "nothing is written on top of them until an admin reviews them and types "
                "!adopt (or !discard)."
            )
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
            if signer_of(commit) != self._own_key:
                found.append(commit)
            sha = commit.parents[0] if commit.parents else None
        return list(reversed(found))

    def _remember(self, head: str) -> None:
        tmp = self.seen_file.with_suffix(".tmp")
        tmp.write_text(head + "\n")
        tmp.replace(self.seen_file)
