"""The index's table of what the reconciler made of each deploy request (`outcomes`), from the
git notes under `refs/notes/opsbot` (the `Opsbot-Run` lines), and each deployment row settled
from it: applied at its first `ok`, failed for good at its last final `failed`. Only the notes
that changed since the notes tip last indexed are read again.

Nothing here is read from a commit message.
"""

import json
import sqlite3
from collections.abc import Callable

from dulwich.diff_tree import tree_changes
from dulwich.objects import Tree

from bot.state import index_bulk
from bot.state.notes import NOTES, parse_note
from bot.state.repo import StateRepo

TABLES = """
CREATE TABLE IF NOT EXISTS outcomes (
    commit_sha TEXT, env TEXT, app TEXT, version TEXT, status TEXT, attempt INTEGER,
    final INTEGER, at INTEGER);
CREATE INDEX IF NOT EXISTS outcomes_target ON outcomes(env, app, at);
CREATE INDEX IF NOT EXISTS outcomes_commit ON outcomes(commit_sha);
"""


def sync_notes(conn: sqlite3.Connection, repo: StateRepo, done: str | None) -> str | None:
    """Brings `outcomes` up to the notes ref's tip from `done` (the tip last indexed); returns
    the new tip. Run inside the caller's transaction.

    The notes that changed are read first, then written in a few statements: each changed
    commit's outcomes are those of its note at the tip (none if it was removed), and its
    deployment rows are settled again."""
    tip = repo.tip(NOTES)
    if tip == done:
        return tip
    old_tree = None
    if done is not None:
        try:
            old_tree = repo.git[done.encode()].tree  # type: ignore[attr-defined]
        except KeyError:
            old_tree = None
    if old_tree is None or tip is None:
        conn.execute("DELETE FROM outcomes")
        conn.execute("UPDATE deployments SET applied_at = NULL, failed_at = NULL")
    if tip is None:
        return None
    new_tree = repo.git[tip.encode()].tree  # type: ignore[attr-defined]
    changed: set[str] = set()
    rows: list[tuple[object, ...]] = []
    notes, read = _changed_notes(repo, old_tree, new_tree)
    for path, sha in notes:
        commit = path.replace("/", "")
        if len(commit) != 40:
            continue
        changed.add(commit)
        text = read(sha) if sha is not None else None
        if text is None:
            continue
        for o in parse_note(commit, text.decode("utf-8", "replace")):
            rows.append(
                (
                    commit,
                    o.env,
                    o.app,
                    o.version,
                    o.status,
                    o.attempt,
                    int(o.final),
                    int(o.at.timestamp()),
                )
            )
    shas = json.dumps(sorted(changed))
    if old_tree is not None:
        conn.execute(
            "DELETE FROM outcomes WHERE commit_sha IN (SELECT value FROM json_each(?))", [shas]
        )
    conn.executemany("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute(_SETTLE + "WHERE sha IN (SELECT value FROM json_each(?))", [shas])
    return tip


def _changed_notes(
    repo: StateRepo, old_tree: bytes | None, new_tree: bytes
) -> tuple[list[tuple[str, bytes | None]], Callable[[bytes], bytes | None]]:
    """The notes that changed (path, blob; None: removed), and how to read a blob (None: not
    a note's text). Every note, read at once through git, when none was indexed before."""
    if old_tree is None:
        listed = index_bulk.iter_tree(repo.path, new_tree.decode())
        if listed is not None:
            notes: list[tuple[str, bytes | None]] = list(listed)
            blobs = index_bulk.cat(repo.path, [sha for _, sha in notes if sha is not None])
            if blobs is not None:
                return notes, blobs.get
    changes: list[tuple[str, bytes | None]] = []
    for change in tree_changes(repo.git.object_store, old_tree, new_tree):  # type: ignore[arg-type]
        entry = change.new if change.new and change.new.path else change.old
        assert entry is not None and entry.path is not None
        new = change.new.sha if change.new is not None else None
        changes.append((entry.path.decode(), new))
    return changes, lambda sha: _blob(repo, sha)


def _blob(repo: StateRepo, sha: bytes) -> bytes | None:
    found = repo.git[sha]
    return None if isinstance(found, Tree) else bytes(found.as_raw_string())


_SETTLE = """
UPDATE deployments SET
    applied_at = (SELECT MIN(at) FROM outcomes
                  WHERE commit_sha = deployments.sha AND status = 'ok'),
    failed_at = (SELECT MAX(at) FROM outcomes
                 WHERE commit_sha = deployments.sha AND status = 'failed' AND final = 1)
"""
"""What became of a deploy request, kept in its `deployments` row so that a window's deploys
are read in one pass: applied at its first `ok`, else failed for good at its last final
`failed`."""


def settle_since(conn: sqlite3.Connection, rowid: int) -> None:
    """The same, for the deploy rows after `rowid` whose notes were indexed before them (they
    are read first only when main and the notes were indexed by different syncs)."""
    conn.execute(_SETTLE + "WHERE rowid > ? AND sha IN (SELECT commit_sha FROM outcomes)", [rowid])
