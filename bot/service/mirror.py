"""Mirrors: copies of the state repo elsewhere (`[mirrors] remotes` in the host config).

After each commit, `main`, the notes ref (`refs/notes/opsbot`), the refs features keep beside
main (the runs ref, `refs/opsbot/runs`, the record of every runbook run) and the proposal
branches (`proposals/<n>`) are pushed to every remote,
in the background: a slow or unreachable mirror never holds up a command. Each remote has its
own task, so one failing remote does not delay the others. A failed push is retried with
exponential backoff (new commits do not shorten the wait); a remote that keeps failing is
announced once, not once per commit, and announced again when it recovers. The refs are
also compared every `poll` seconds, so commits made without a `trigger()` (notes written by the
reconciler, runs recorded by the runbooks executor, `opsbot` on the command line, a push into
the repo) reach the mirrors too.

A mirror is never force-pushed: opsbot never rewrites history, so a remote whose `main` has
commits the state repo lacks was changed by someone else, and is reported rather than
overwritten.
"""

import asyncio
import contextlib
import io
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dulwich import porcelain
from dulwich.refs import Ref
from dulwich.repo import Repo

from bot.core.logs import fact
from bot.core.tasks import first, stopped_within
from bot.state.notes import NOTES
from bot.state.repo import MAIN, PROPOSALS, StateRepo

log = logging.getLogger("opsbot.mirror")

Announce = Callable[[str], Awaitable[None]]
Tips = dict[bytes, bytes]  # ref -> commit
REFS = (MAIN, NOTES)  # and those the features keep (`refs`)
POLL = 30.0
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 600.0
REPORT_AFTER = 2  # consecutive failures before a mirror is announced as failing (not a blip)


class MirrorFailed(Exception):
    pass


def local_tips(repo: Path, refs: Sequence[Ref] = ()) -> Tips:
    """The refs a mirror gets (`refs` beside main and the notes), as they are now (a Repo of its
    own: this runs in a thread)."""
    with contextlib.closing(Repo(str(repo))) as git:
        found = {}
        for ref in (*REFS, *refs):
            with contextlib.suppress(KeyError):
                found[bytes(ref)] = bytes(git.refs[ref])
        # Proposal branches too: they only ever grow (never deleted, never rewritten), and a
        # repo restored from a mirror must still hold the proposals waiting for approval.
        for name, sha in git.refs.as_dict(Ref(PROPOSALS.rstrip(b"/"))).items():
            found[PROPOSALS + name] = bytes(sha)
        return found


def push(repo: Path, remote: str, tips: Tips) -> None:
    """Pushes `tips` to `remote` (a path or a URL), fast-forward only; raises MirrorFailed."""
    output = io.BytesIO()
    refspecs = [ref + b":" + ref for ref in tips]
    try:
        result = porcelain.push(
            str(repo), remote, refspecs, outstream=output, errstream=output, force=False
        )
    except porcelain.DivergedBranches:
        raise MirrorFailed(
            "the mirror has commits the state repo does not (someone pushed to it); "
            "a mirror is never overwritten"
        ) from None
    except Exception as e:  # dulwich raises many kinds: no repo, no route, hang-ups, ssh exits
        raise MirrorFailed(shown(_one_line(f"{type(e).__name__}: {e}"))) from None
    refused = {ref.decode(): why for ref, why in (result.ref_status or {}).items() if why}
    if refused:
        raise MirrorFailed(
            f"the mirror refused {', '.join(f'{r} ({w})' for r, w in refused.items())}"
        )


def shown(text: str) -> str:
    """A remote (or an error naming it) as it may be logged and announced: without the
    password of a URL."""
    return re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1:***@", text)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Mirror:
    remote: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pushed: Tips = field(default_factory=dict)  # what the remote was last given
    failures: int = 0
    retry_at: float = 0.0
    reported: bool = False
    error: str = ""


class Mirrors:
    def __init__(
        self,
        repo: StateRepo | Path,
        remotes: Sequence[str],
        announce: Announce,
        *,
        refs: Sequence[Ref] = (),
        poll: float = POLL,
        backoff_first: float = BACKOFF_FIRST,
        backoff_cap: float = BACKOFF_CAP,
        report_after: int = REPORT_AFTER,
    ) -> None:
        self.repo = repo.path if isinstance(repo, StateRepo) else Path(repo)
        self.announce = announce
        self.refs = tuple(refs)
        self.poll = poll
        self.backoff_first = backoff_first
        self.backoff_cap = backoff_cap
        self.report_after = report_after
        self._mirrors = [_Mirror(remote) for remote in dict.fromkeys(remotes)]
        self._loop: asyncio.AbstractEventLoop | None = None

    def trigger(self) -> None:
        """Something was committed: push it soon. Safe to call from any thread, and before
        `run` has started (the first pass pushes anyway)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for mirror in self._mirrors:
            mirror.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Keeps every mirror up to date until `stop` is set."""
        if not self._mirrors:
            return
        self._loop = asyncio.get_running_loop()
        fact(log, "mirroring", remotes=", ".join(shown(m.remote) for m in self._mirrors))
        try:
            await asyncio.gather(*(self._serve(mirror, stop) for mirror in self._mirrors))
        finally:
            self._loop = None

    def failing(self) -> list[str]:
        """The remotes whose last push failed (for a status line)."""
        return [m.remote for m in self._mirrors if m.failures]

    async def _serve(self, mirror: _Mirror, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if mirror.failures:
                # Backing off: new commits wait for the retry, which pushes them all at once.
                await stopped_within(stop, mirror.retry_at - time.monotonic())
                if stop.is_set():
                    return
            mirror.wake.clear()
            try:
                tips = await asyncio.to_thread(local_tips, self.repo, self.refs)
                if tips and (tips != mirror.pushed or mirror.failures):
                    await self._push(mirror, tips)
            except Exception:  # a bug here must not end mirroring for good
                log.exception(
                    "mirroring failed", extra={"fields": {"remote": shown(mirror.remote)}}
                )
            if not mirror.failures:
                await first(mirror.wake, stop, timeout=self.poll)

    async def _push(self, mirror: _Mirror, tips: Tips) -> None:
        try:
            await asyncio.to_thread(push, self.repo, mirror.remote, tips)
        except MirrorFailed as e:
            await self._failed(mirror, str(e))
            return
        attempts, mirror.failures, mirror.pushed = mirror.failures, 0, tips
        head = tips.get(bytes(MAIN), b"").decode()[:7]
        fact(log, "mirrored", remote=shown(mirror.remote), main=head)
        if mirror.reported:
            mirror.reported = False
            await self.announce(
                f"mirror {shown(mirror.remote)} is back: main at {head} pushed after "
                f"{attempts} failed attempt{'s' if attempts != 1 else ''}"
            )

    async def _failed(self, mirror: _Mirror, error: str) -> None:
        mirror.failures += 1
        mirror.error = error
        delay = min(self.backoff_first * 2 ** (mirror.failures - 1), self.backoff_cap)
        mirror.retry_at = time.monotonic() + delay
        fact(
            log,
            "mirror push failed",
            logging.WARNING if mirror.failures == 1 else logging.INFO,
            remote=shown(mirror.remote),
            attempt=mirror.failures,
            retry_in=f"{delay:.0f}s",
            error=error,
        )
        if mirror.failures >= self.report_after and not mirror.reported:
            mirror.reported = True
            await self.announce(
                f"mirror {shown(mirror.remote)} is failing: {error}. opsbot keeps retrying "
                "(with backoff) and will say when it is back; commits are safe in the state repo"
            )
