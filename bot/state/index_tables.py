"""Tables a feature keeps in the index, derived from main as the index syncs.

The index (bot/state/index.py) owns the history: commits, paths, deployments and the
reconciler's outcomes. A feature that needs more of main at hand (the metrics need each
incident's times and each version's build time) declares its tables here: their schema, a
version, and what to do when a file under the paths it reads changes on main. Like every table
of the index they are derived: a change of version rebuilds the whole index from Git.

A table that needs the commit itself, not just a file's new text (the audit report: who signed
it, what a file said before, what else its tree held at that moment), declares `on_commit`: for
each sync (one transaction) it gives a `CommitReader`, which is handed every commit main's first
parents bring, oldest first, with the changes under its prefix (none, for a commit that changes
nothing: an adopt) and a way to read the rest, then closed.
"""

import functools
import sqlite3
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from dulwich.objects import Commit

from bot.state import flat_toml

OnChange = Callable[[sqlite3.Connection, str, str | None], None]
"""Keeps the tables as main's commit that changed the file at `path` left it: its text, or
None when the file was removed (or is not UTF-8). What it writes depends on that text alone: a
sync of many commits hands over only the newest version of each file (a cold index of 100,000
commits does not replay every incident's every edit)."""


@dataclass(frozen=True)
class FileChange:
    """One file a commit changed: its text before and after (None: absent, or not UTF-8), read
    when first asked for (a table reads the few files it cares about, not every timeline)."""

    path: str
    old_blob: bytes | None
    new_blob: bytes | None
    text_of: Callable[[bytes | None], str | None] = field(repr=False, compare=False)

    @cached_property
    def old(self) -> str | None:
        return self.text_of(self.old_blob)

    @cached_property
    def new(self) -> str | None:
        return self.text_of(self.new_blob)


@dataclass(frozen=True)
class MainCommit:
    """A commit as main's first parents bring it, for `on_commit`."""

    sha: str
    author: bytes  # "Name <id>", as the commit names its author
    author_time: int
    commit_time: int
    seq: int  # its place on main, 1 for the first commit
    changes: tuple[FileChange, ...]  # against its first parent, under the table's prefix
    read: Callable[[str], str | None]  # a file of this commit's tree (None: absent)
    get: Callable[[bytes], Commit]  # another commit (a parent, a commit it left out)
    between: Callable[[str, str], list[str]]  # the paths that differ between two commits
    # The key whose valid signature the commit carries (None: unsigned, or it does not verify);
    # checked once, and for a long read in another process (bot/state/index_signers.py).
    signer: Callable[[], bytes | None]
    load: Callable[[], Commit] = field(repr=False, compare=False)

    @cached_property
    def commit(self) -> Commit:
        """The object itself (its parents, committer, signature), parsed when first asked for:
        most commits need no more than the fields above, read with the commit's id."""
        return self.load()


class CommitReader(Protocol):
    """A table's reading of whole commits for one sync of the index: what it keeps in memory
    lasts that transaction, no longer (another process may sync the file next)."""

    def add(self, main: MainCommit) -> None:
        """Keeps the table as `main` leaves it (the commits come oldest first)."""

    def close(self) -> None:
        """The sync's last commit is read: writes whatever was kept back, before it commits."""


OnCommit = Callable[[sqlite3.Connection], CommitReader]


@functools.lru_cache(maxsize=1024)
def toml_of(text: str | None) -> Mapping[str, Any] | None:
    """A file's TOML table (None: absent, or not TOML), read only: parsed once for all who read
    it as the index syncs (the index and the audit report's table both read every deployment
    record a commit writes, and the next deploy reads it again as the record it replaced)."""
    if text is None:
        return None
    try:
        return flat_toml.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _nothing(conn: sqlite3.Connection, path: str, text: str | None) -> None:
    """For a table that reads whole commits (`on_commit`) and no file on its own."""


@dataclass(frozen=True)
class IndexTable:
    name: str
    version: int  # bump when `schema` changes: the index is then rebuilt
    schema: str  # CREATE TABLE IF NOT EXISTS ...; CREATE INDEX IF NOT EXISTS ...
    prefix: str  # the directory of the state repo whose files it reads ("incidents/")
    on_change: OnChange = _nothing
    on_commit: OnCommit | None = None

    @property
    def reads_files(self) -> bool:
        """Whether it reads files one by one (`on_change`), rather than whole commits alone."""
        return self.on_change is not _nothing


def signature(tables: Sequence[IndexTable]) -> str:
    """What the index was built with: another set of tables, or another version, rebuilds it."""
    return " ".join(f"{table.name}:{table.version}" for table in sorted(tables, key=_name))


def _name(table: IndexTable) -> str:
    return table.name
