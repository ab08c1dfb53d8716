"""A journal: a SQLite file of the state directory, where a part of opsbot keeps what Git does
not (the commands handled, the outbox, the runs of the host). Each says its file, the newest
schema version this release writes, and how to open it: opening one runs the migration steps
it lacks. `opsbot migrate` and the service at start bring every journal up; a file newer than
this release knows stops both (bot/service/upgrade.py). A backup copies them all.

A feature's journals are declared with it (`Feature.journals`), the core's in upgrade.py.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Closable(Protocol):
    def close(self) -> None: ...


Restored = Callable[[Path, Callable[[str], bool]], str | None]
"""After a restore onto a repo the backup's commits may be missing from: given the journal's
path and whether the repo has a commit, what the journal remembers that the repo lacks is
forgotten or done again; answers one line for the operator, or None when nothing was."""


@dataclass(frozen=True)
class JournalFile:
    path: str  # relative to the state directory
    schema: int  # the newest version this code knows
    open: Callable[[Path], Closable]  # opening it runs the steps it lacks
    restored: Restored | None = None
