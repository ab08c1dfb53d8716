"""A cold index built in the background, so that the bot answers from the start.

A state repo of 100,000 commits takes a quarter of a minute to index from nothing (after
`opsbot restore --no-index`, or an upgrade that changed the index's tables). Most commands do
not read the index (`!help`, `!freeze`, `!incident open`); those that do are told how far the
build has come ("indexing, 40%") until it is done. The build runs in a thread of its own, with
its own connection to the index file: one SQLite transaction, which the engine's connection
sees only once it is whole.
"""

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from bot.core.errors import Refused
from bot.core.logs import fact
from bot.state.repo import StateRepo

log = logging.getLogger("opsbot.index")


class Indexing(Refused):
    """The index is being built from nothing: a command that reads it waits for the build."""

    code = "indexing"


class Building(Protocol):
    """What the build needs of the index (bot/state/index.py, which imports this module)."""

    progress: float

    def sync(self, repo: StateRepo) -> int: ...

    def knows(self, sha: str) -> bool: ...

    def close(self) -> None: ...


class IndexBuild:
    """Builds the index from `repo` in a thread of its own."""

    def __init__(
        self,
        index: Building,
        repo: StateRepo,
        then: Callable[[Building], object] = lambda _index: None,
    ) -> None:
        """`index`: a connection of its own to the index file; `repo`: the repo opened again for
        the build alone (dulwich's object store is not to be read from two threads at once);
        both are closed when the build is done. `then` runs on the index once it is built,
        before any command may read it."""
        self._index = index
        self._repo = repo
        self._then = then
        self._done = threading.Event()
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="opsbot-index", daemon=True)

    def start(self) -> "IndexBuild":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            count = self._index.sync(self._repo)
            fact(log, "index built", commits=count)
            self._then(self._index)
        except BaseException as e:  # the engine's own sync tries again at its next command
            self.failed = e
            log.exception("building the index failed")
        finally:
            self._index.close()
            self._repo.close()
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def percent(self) -> int:
        return min(99, int(self._index.progress * 100))

    def refusal(self) -> Indexing:
        return Indexing(
            f"indexing, {self.percent}%: the history is being read after a restore or an upgrade",
            hint="try again in a minute; commands that do not read the history answer now",
        )
