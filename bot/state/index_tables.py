"""Tables a feature keeps in the index, derived from main as the index syncs.

The index (bot/state/index.py) owns the history: commits, paths, deployments and the
reconciler's outcomes. A feature that needs more of main at hand (the metrics need each
incident's times and each version's build time) declares its tables here: their schema, a
version, and what to do when a file under the paths it reads changes on main. Like every table
of the index they are derived: a change of version rebuilds the whole index from Git.

A table that needs the commit itself, not just a file's new text (the audit report: who signed
it, what a file said before, what else its tree held at that moment), declares `on_commit`: it
is called once for every commit main's first parents bring, oldest first, with the changes under
its prefix (none, for a commit that changes nothing: an adopt) and a way to read the rest.
"""

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from dulwich.objects import Commit

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

    commit: Commit  # the signed object: its author, times, parents and signature
    seq: int  # its place on main, 1 for the first commit
    changes: tuple[FileChange, ...]  # against its first parent, under the table's prefix
    read: Callable[[str], str | None]  # a file of this commit's tree (None: absent)
    get: Callable[[bytes], Commit]  # another commit (a parent, a commit it left out)
    between: Callable[[str, str], list[str]]  # the paths that differ between two commits


OnCommit = Callable[[sqlite3.Connection, MainCommit], None]


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
