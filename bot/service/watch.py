"""Noticing changes that reach the state repo from outside the bot.

Someone may push to the repo or commit on the host. What tells such a commit from the bot's is
what the bot remembers writing (bot/state/in_force.py), never its message (which can claim
anything) nor a signature alone (the bot's key signs proposal branches too). The watcher
announces, once, every commit on main the bot did not write (who, what): those a team key of the
host's allowed signers signed are in force; the others wait for an admin's `!adopt` or
`!discard`, as does a main moved somewhere else entirely (a force-push). It says which files
fail validation (the reconciler leaves those alone), and asks the reconciler to look. It
remembers the last HEAD it saw in the state directory, so pushes made while the bot was down
are announced on start.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from dulwich.objects import Commit

from bot.core.logs import fact
from bot.core.tasks import stopped_within
from bot.core.text import clean
from bot.features.catalog import checks, policy_sections
from bot.state.in_force import Trust
from bot.state.message import summary_of
from bot.state.repo import StateRepo
from bot.state.signing import public_blob, signer_of
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
        """Announces what reached main from outside the bot since the last check, once;
        returns the commits it named."""
        head = self.repo.head()
        seen, seen_tip = self._seen()
        if head is None or head == seen:
            return []
        trust = await asyncio.to_thread(self.repo.trust)
        if seen is None:
            self._remember(head, trust.commit)  # first start: everything so far is history
            return []
        if trust.diverged:
            lines = self._diverged(trust)
            named = [c.id.decode() for c in trust.outside]
        else:
            found, met = await asyncio.to_thread(self._outside_commits, head, seen, trust)
            # Every commit opsbot writes on main moves the tip in force: main that moved while
            # it stayed put was moved by someone else (back onto what is in force, say).
            ours = met and (seen_tip is None or trust.commit != seen_tip)
            if not found and ours:
                self._remember(head, trust.commit)  # only opsbot's own commits since
                return []
            lines = self._listed(found, trust) if found else []
            if not found or not met:
                lines.insert(0, f"main was moved outside opsbot, from {seen[:7]} to {head[:7]}.")
            named = [c.id.decode() for c, _ in found]
        problems = await asyncio.to_thread(
            lambda: StateView(self.repo.snapshot(), checks(), policy_sections()).problems()
        )
        self.problems = len(problems)
        if problems:
            lines.append("These files fail validation and are not applied:")
            lines += [f"  {clean(p.message)}" for p in problems]
        self._remember(head, trust.commit)
        fact(
            log,
            "outside commits",
            count=len(named),
            head=head,
            problems=len(problems),
            diverged=trust.diverged,
        )
        await self.announce("\n".join(lines))
        self.on_change()
        return named

    def _diverged(self, trust: Trust) -> list[str]:
        assert trust.head is not None
        since = f"the tip opsbot wrote, {trust.commit[:7]}" if trust.commit else "what opsbot wrote"
        lines = [
            f"main was moved outside opsbot: it is now {trust.head[:7]}, which does not "
            f"descend from {since} (a force-push, or another branch moved onto main).",
            "Nothing of it is in force, and nothing is written until an admin reviews it and "
            f"types !adopt {trust.head[:7]} or !discard.",
        ]
        for commit in trust.outside[-MAX_LISTED:]:
            author = clean(commit.author.decode("utf-8", "replace"))
            summary = clean(summary_of(commit.message))
            lines.append(f"  {commit.id.decode()[:7]} {author}: {summary}")
        return lines

    def _listed(self, found: list[tuple[Commit, bool]], trust: Trust) -> list[str]:
        waiting = [commit for commit, in_force in found if not in_force]
        lines = [f"{len(found)} commit(s) reached the state repo from outside opsbot:"]
        for commit, in_force in found[-MAX_LISTED:]:
            author = clean(commit.author.decode("utf-8", "replace"))
            mark = "signed by a team key, in force" if in_force else "not in force"
            summary = clean(summary_of(commit.message))
            lines.append(f"  {commit.id.decode()[:7]} {author} ({mark}): {summary}")
        if waiting:
            newest = (trust.head or "")[:7]
            lines.append(
                f"{len(waiting)} of them opsbot did not write and no team key signed: they are "
                "not in force, and nothing is written on top of them until an admin reviews "
                f"them and types !adopt {newest} (or !discard)."
            )
        return lines

    def _outside_commits(
        self, head: str, seen: str, trust: Trust
    ) -> tuple[list[tuple[Commit, bool]], bool]:
        """The commits on main since `seen` that opsbot did not write, oldest first, each with
        whether it is in force (a team key signed it); and whether main got from `seen` to
        `head` by commits on top of it (opsbot only ever moves main that way: anything else,
        even back to a commit of its own, was someone else)."""
        waiting = {c.id for c in trust.outside}
        found: list[tuple[Commit, bool]] = []
        sha: bytes | None = head.encode()
        for _ in range(1000):
            if sha is None:
                break
            if sha.decode() == seen:
                return list(reversed(found)), True
            commit = self.repo.git[sha]
            assert isinstance(commit, Commit)
            if sha in waiting:
                found.append((commit, False))
            elif signer_of(commit) != self._own_key:
                found.append((commit, True))
            if seen.encode() in commit.parents[1:]:  # a merge, an adopt or a discard of it
                return list(reversed(found)), True
            sha = commit.parents[0] if commit.parents else None
        return list(reversed(found)), False

    def _seen(self) -> tuple[str | None, str | None]:
        """main's tip at the last look, and the tip in force then (None: not known)."""
        words = self.seen_file.read_text().split() if self.seen_file.exists() else []
        tip = words[1] if len(words) > 1 and words[1] != "-" else None
        return (words[0] if words else None), tip

    def _remember(self, head: str, tip: str | None) -> None:
        tmp = self.seen_file.with_suffix(".tmp")
        tmp.write_text(f"{head} {tip or '-'}\n")
        tmp.replace(self.seen_file)
