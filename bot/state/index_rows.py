"""What a sync of main writes into the index (bot/state/index.py), and how it reads the trees.

A cold index ran nine SQL statements per commit and read every tree twice (as a commit's,
then as its child's parent's): rows are now written a few thousand at a time, and the trees of
the last commits are kept.
"""

import functools
import re
import sqlite3
import tomllib
from collections.abc import Callable, Sequence
from datetime import datetime

from dulwich.objects import Commit, ObjectID, ShaFile
from dulwich.refs import Ref

from bot.state import index_notes
from bot.state.index_bulk import Step
from bot.state.index_tables import FileChange, IndexTable, MainCommit, toml_of
from bot.state.message import read_trailers, summary_of
from bot.state.reader import Snapshot
from bot.state.repo import PROPOSALS, StateRepo
from bot.state.signing import signer_of

PROPOSAL_FILE = re.compile(r"proposals/([0-9]{1,9})\.toml")


class Trees:
    """The object store for tree diffs along main, read through the repo's object cache: a
    commit's trees are its child's parent trees, and the newest commit's were kept as they were
    written, so each is read (and parsed) at most once."""

    def __init__(self, repo: StateRepo) -> None:
        self.repo = repo

    def __getitem__(self, sha: ObjectID) -> ShaFile:
        return self.repo.get(sha)


class Rows:
    """The rows a sync of main adds, written a few thousand at a time with `executemany`
    rather than one statement each."""

    FLUSH = 5000  # commits

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.commits: list[tuple[object, ...]] = []
        self.paths: list[tuple[object, ...]] = []
        self.deployments: list[tuple[object, ...]] = []
        self.firsts: dict[tuple[str, str], int] = {}  # every version this sync has seen
        self.changed: set[tuple[str, str]] = set()  # those not yet written
        # The table holds no more than `firsts` unless it held something before this sync
        # (rebuilding from nothing, it did not): only then is a version not seen looked up.
        self.lookup = conn.execute("SELECT 1 FROM firsts LIMIT 1").fetchone() is not None

    def __len__(self) -> int:
        return len(self.commits)

    def first(self, app: str, version: str, asked: int) -> int:
        """The first request of `version` of `app` so far, this one (`asked`) included."""
        known = self.firsts.get((app, version))
        if known is None and self.lookup:
            row = self.conn.execute(
                "SELECT at FROM firsts WHERE app = ? AND version = ?", [app, version]
            ).fetchone()
            known = row[0] if row else None
        first = asked if known is None else min(known, asked)
        self.firsts[app, version] = first
        self.changed.add((app, version))
        return first

    def add(
        self,
        repo: StateRepo,
        read: Callable[[bytes], bytes],
        step: Step,
        seq: int,
        tables: Sequence[IndexTable],
        kept: dict[str, tuple[IndexTable, bytes | None]],
    ) -> None:
        """The rows of main's commit `step`, the `seq`th; the newest version of each file a
        feature's table reads goes into `kept`, for the table to read once."""
        name, _, email = step.author.decode("utf-8", "replace").partition(" <")
        summary = summary_of(step.message)
        # Records written before opsbot kept the command in them say nothing: for those, and
        # only those, the summary is all there is to tell a rollback by.
        legacy = "rollback" if summary.startswith("rollback:") else "deploy"
        # A proposal is merged by the commit that brings its record into main's tree, merging
        # the proposal's branch: a record that arrives any other way merges nothing.
        merged = next(
            (
                n
                for c in step.changes
                if c.new
                and c.old is None
                and (m := PROPOSAL_FILE.fullmatch(c.path))
                and _merges_branch(repo, step.parents, n := int(m[1]))
            ),
            None,
        )
        self.commits.append(
            (
                step.sha,
                seq,
                summary,
                name,
                email.rstrip(">"),
                step.author_time,
                read_trailers(step.message).get("Opsbot-Command"),
                merged,
            )
        )
        for change in step.changes:
            path = change.path
            app, env = subject_of(path)
            self.paths.append((step.sha, path, app, env))
            if path.startswith("deployments/") and app and env:
                found = deployment_of(read(change.new)) if change.new else (None, None, None)
                version, kind, requested = found
                asked = requested or step.author_time
                # The first request of a version in any environment, as far as indexed:
                # where the lead time starts when no CI said when it was built.
                first = self.first(app, version, asked) if version is not None else None
                self.deployments.append(
                    (
                        step.sha,
                        seq,
                        env,
                        app,
                        version,
                        kind or legacy,
                        step.author_time,
                        asked,
                        first,
                    )
                )
            else:
                for table in tables:
                    if path.startswith(table.prefix) and table.reads_files:
                        kept.pop(path, None)
                        kept[path] = (table, change.new)

    def flush(self) -> None:
        conn = self.conn
        since = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM deployments").fetchone()[0]
        conn.executemany("INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.commits)
        conn.executemany("INSERT INTO paths VALUES (?, ?, ?, ?)", self.paths)
        conn.executemany(
            "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            self.deployments,
        )
        conn.executemany(
            "INSERT INTO firsts VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET at = excluded.at",
            [(app, version, self.firsts[app, version]) for app, version in self.changed],
        )
        # The notes may have been indexed before these commits (by an earlier sync).
        index_notes.settle_since(conn, since)
        self.commits, self.paths, self.deployments = [], [], []
        self.changed = set()


# what a changed file says


def subject_of(path: str) -> tuple[str | None, str | None]:
    """(app, env) that a changed path is about, for filtering history by either."""
    parts = path.removesuffix(".toml").split("/")
    match parts:
        case ["deployments", env, app]:
            return app, env
        case ["apps", app]:
            return app, None
        case ["environments" | "freezes", env]:
            return None, env
    return None, None


def deployment_of(raw: bytes) -> tuple[str | None, str | None, int | None]:
    """A deployment record's version, the command that wrote it and when it was asked for."""
    data = toml_of(text_of(raw))
    if data is None:
        return None, None, None
    version, command, at = data.get("version"), data.get("command"), data.get("requested_at")
    return (
        version if isinstance(version, str) else None,
        command if isinstance(command, str) and command else None,
        int(at.timestamp()) if isinstance(at, datetime) and at.tzinfo else None,
    )


def text_of(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def main_commit(
    repo: StateRepo, read: Callable[[bytes], bytes], step: Step, seq: int, prefix: str
) -> MainCommit:
    """`step` for a table's `on_commit`: the files it changed under `prefix`, whose texts before
    and after are read when asked for, and the commit object, parsed when asked for."""

    def text(blob: bytes | None) -> str | None:
        return text_of(read(blob)) if blob is not None else None

    def tree_text(path: str) -> str | None:
        return Snapshot(repo, step.sha, main.commit.tree).text(path)

    files = tuple(
        FileChange(c.path, c.old, c.new, text) for c in step.changes if c.path.startswith(prefix)
    )
    main = MainCommit(
        step.sha,
        step.author,
        step.author_time,
        step.commit_time,
        seq,
        files,
        tree_text,
        repo.commit_of,
        lambda old, new: sorted(repo.changes_between(old, new)),
        step.signer or (lambda: signer_of(main.commit)),
        functools.partial(signed_commit, repo, step),
    )
    return main


def signed_commit(repo: StateRepo, step: Step) -> Commit:
    """The commit object of `step`: as read (dulwich), parsed from git's bytes (a cold index),
    or looked up."""
    if step.signed is not None:
        return step.signed
    if step.raw:
        found = ShaFile.from_raw_string(Commit.type_num, step.raw, sha=ObjectID(step.sha.encode()))
        assert isinstance(found, Commit)
        return found
    return repo.commit_of(step.sha.encode())


def proposal_status(repo: StateRepo, ref: str, tip: str) -> str | None:
    """The status the proposal's record says at the branch's tip (None: no such record)."""
    text = repo.snapshot(tip).text(f"proposals/{ref}.toml")
    try:
        status = tomllib.loads(text).get("status") if text is not None else None
    except tomllib.TOMLDecodeError:
        return None
    return status if isinstance(status, str) else None


def _merges_branch(repo: StateRepo, parents: list[bytes], number: int) -> bool:
    """Whether a commit of `parents` merges the branch `proposals/<number>` (its tip is a
    further parent)."""
    tip = repo.tip(Ref(PROPOSALS + str(number).encode()))
    return tip is not None and tip.encode() in parents[1:]
