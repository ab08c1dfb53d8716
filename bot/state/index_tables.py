"""Tables a feature keeps in the index, derived from main as the index syncs.

The index (bot/state/index.py) owns the history: commits, paths, deployments and the
reconciler's outcomes. A feature that needs more of main at hand (the metrics need each
incident's times and each version's build time) declares its tables here: their schema, a
version, and what to do when a file under the paths it reads changes on main. Like every table
of the index they are derived: a change of version rebuilds the whole index from Git.
"""

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

OnChange = Callable[[sqlite3.Connection, str, str | None], None]
"""Keeps the tables as main's commit that changed the file at `path` left it: its text, or
None when the file was removed (or is not UTF-8). What it writes depends on that text alone: a
sync of many commits hands over only the newest version of each file (a cold index of 100,000
commits does not replay every incident's every edit)."""


@dataclass(frozen=True)
class IndexTable:
    name: str
    version: int  # bump when `schema` changes: the index is then rebuilt
    schema: str  # CREATE TABLE IF NOT EXISTS ...; CREATE INDEX IF NOT EXISTS ...
    prefix: str  # the directory of the state repo whose files it reads ("incidents/")
    on_change: OnChange


def signature(tables: Sequence[IndexTable]) -> str:
    """What the index was built with: another set of tables, or another version, rebuilds it."""
    return " ".join(f"{table.name}:{table.version}" for table in sorted(tables, key=_name))


def _name(table: IndexTable) -> str:
    return table.name
