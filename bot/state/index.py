"""A SQLite index of the state repo's history, for queries Git answers slowly.

Derived, never authoritative: every row comes from a commit in force on main (the first parents
of the tip opsbot wrote or an admin adopted: never a pushed commit waiting, or discarded) or on a
proposal branch; `sync` catches up with the refs (including commits made while it was away),
and deleting the file loses nothing but the time to rebuild it. It answers `!history`, the
rollback target, which proposals are closed, and whether a commit is on main or a proposal
branch at all (the journal of handled invocations names a commit; this says if it landed).
Rows come from trees and refs; message trailers are kept only to show them (`!history`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dulwich.objects import Commit
from sqlite_utils import Database

from bot.state import index_notes
from bot.state.index_build import IndexBuild
from bot.state.index_rows import (
    Rows,
    main_commit,
    proposal_status,
    text_of,
)
from bot.state.index_signers import Signers
from bot.state.index_tables import IndexTable, signature
from bot.state.index_walk import BULK_FROM, read_main
from bot.state.notes import NOTES
from bot.state.repo import PROPOSALS, StateRepo
from bot.state.sqlite import connect, page_cache

SCHEMA = 5  # bump when the tables change: an older index is then rebuilt (5: the metrics' facts)

COLD_CACHE_KIB = 64 * 1024  # SQLite's page cache while the index is built from nothing


@dataclass(frozen=True)
class Entry:
    sha: str
    summary: str
    author: str
    author_id: str
    at: int
    command: str | None


@dataclass(frozen=True)
class DeployEvent:
    sha: str
    version: str | None  # None: the desired version was removed
    kind: str  # the command: deploy, redeploy, rollback or promote (outside opsbot: deploy)


class Index:
    def __init__(
        self, path: Path, tables: Sequence[IndexTable] = (), *, bulk_from: int = BULK_FROM
    ) -> None:
        """`tables`: the features' (the catalog's `index_tables()`); every process that syncs
        one index file must open it with the same, or each rebuilds it in turn. A sync of more
        than `bulk_from` commits reads them through git at once."""
        self.path = Path(path)
        self.tables = tuple(tables)
        self.bulk_from = bulk_from
        self.progress = 0.0  # of the sync under way, for "indexing, N%"
        # A build of this file under way in the background: queries refuse until it is done.
        self.building: IndexBuild | None = None
        # Each sync is one BEGIN IMMEDIATE transaction: two processes catching up at once
        # serialize on SQLite's lock instead of inserting the same rows twice.
        self.db = Database(connect(self.path))
        self._create()

    def close(self) -> None:
        self.db.conn.close()

    def _create(self) -> None:
        built_with = signature(self.tables)
        version = self.db.conn.execute("PRAGMA user_version").fetchone()[0]
        stale = version != SCHEMA or self._built_with() != built_with
        if stale:
            # An index made by another version, or with other feature tables: derived, so
            # dropped and built again.
            for table in self.db.table_names():
                self.db.conn.execute(f"DROP TABLE {table}")
            self.db.conn.execute(f"PRAGMA user_version = {SCHEMA}")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS commits (
                sha TEXT PRIMARY KEY, seq INTEGER UNIQUE, summary TEXT, author TEXT,
                author_id TEXT, at INTEGER, command TEXT, proposal INTEGER);
            CREATE INDEX IF NOT EXISTS commits_proposal ON commits(proposal);
            CREATE TABLE IF NOT EXISTS branches (ref TEXT PRIMARY KEY, tip TEXT, status TEXT);
            CREATE TABLE IF NOT EXISTS branch_commits (sha TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS paths (sha TEXT, path TEXT, app TEXT, env TEXT);
            CREATE INDEX IF NOT EXISTS paths_app ON paths(app, sha);
            CREATE INDEX IF NOT EXISTS paths_env ON paths(env, sha);
            CREATE INDEX IF NOT EXISTS paths_sha ON paths(sha);
            CREATE TABLE IF NOT EXISTS deployments (
                sha TEXT, seq INTEGER, env TEXT, app TEXT, version TEXT, kind TEXT,
                at INTEGER, requested_at INTEGER, first_requested_at INTEGER,
                applied_at INTEGER, failed_at INTEGER);
            CREATE INDEX IF NOT EXISTS deployments_target ON deployments(env, app, seq);
            CREATE INDEX IF NOT EXISTS deployments_sha ON deployments(sha);
            CREATE INDEX IF NOT EXISTS deployments_version
                ON deployments(app, version, requested_at);
            CREATE TABLE IF NOT EXISTS firsts (
                app TEXT, version TEXT, at INTEGER, PRIMARY KEY (app, version));
            CREATE INDEX IF NOT EXISTS deployments_at ON deployments(at);
            """
            + index_notes.TABLES
            + "".join(table.schema for table in self.tables)
        )
        if stale:  # written once, not at every open: the engine, the reconciler, the CLI open it
            self.db.conn.execute("INSERT OR REPLACE INTO meta VALUES ('tables', ?)", [built_with])

    # keeping up with the repo

    def sync(self, repo: StateRepo) -> int:
        """Indexes the commits not yet indexed; returns how many of main's. Nothing while a
        build is under way in the background: it holds the index until it is whole."""
        if self.building is not None and not self.building.done:
            return 0
        # A cold index writes about 100 MB in one transaction: with SQLite's default page cache
        # (2 MB) the pages of its indexes go to the WAL and are read back as it grows. A larger
        # one took about a third off SQLite's own time in a cold build of 100,000 commits.
        indexed = self._meta("head")
        with page_cache(self.db.conn, COLD_CACHE_KIB if indexed is None else None):
            added = self._sync_main(repo, indexed)
            self._sync_branches(repo)
            self._sync_notes(repo)
        return added

    def _sync_notes(self, repo: StateRepo) -> None:
        """The reconciler's outcomes, from the notes that changed since the last sync."""
        if repo.tip(NOTES) == self._meta("notes"):
            return
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            tip = index_notes.sync_notes(conn, repo, self._meta("notes"))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('notes', ?)", [tip])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _sync_main(self, repo: StateRepo, indexed: str | None) -> int:
        # Only what is in force is history: commits pushed and not adopted (or discarded) never
        # become deploys to roll back to, entries of !history, or merged proposals.
        head = repo.trust().commit
        if head is None or head == indexed:
            return 0
        conn = self.db.conn
        signers = Signers()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read both again under SQLite's write lock: another process may have indexed (and
            # main moved) while we waited, and a stale HEAD would look like rewritten history.
            head = repo.trust().commit
            done = self._meta("head")
            if head is None or head == done:
                conn.execute("COMMIT")
                return 0
            todo, read = read_main(repo, head, done, self.bulk_from, self.tables, signers)
            if (
                done is not None
                and todo
                and (not todo[0].parents or todo[0].parents[0] != done.encode())
            ):
                # main no longer contains what we indexed: history was rewritten outside
                # opsbot. The index is derived, so start over rather than serve stale rows.
                self._clear()
                todo, read = read_main(repo, head, None, self.bulk_from, self.tables, signers)
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commits").fetchone()[0]
            rows = Rows(conn)
            # A feature's table keeps what the newest commit that touched a file left of it, so
            # only that commit's version of each file is handed over (in that commit's order).
            kept: dict[str, tuple[IndexTable, bytes | None]] = {}
            readers = [(t.prefix, t.on_commit(conn)) for t in self.tables if t.on_commit]
            for n, step in enumerate(todo, 1):
                seq += 1
                rows.add(repo, read, step, seq, self.tables, kept)
                for prefix, reader in readers:
                    reader.add(main_commit(repo, read, step, seq, prefix))
                if len(rows) >= Rows.FLUSH:
                    rows.flush()
                    self.progress = n / len(todo)
            for path, (table, blob) in kept.items():
                table.on_change(conn, path, text_of(read(blob) if blob else None))
            for _prefix, reader in readers:
                reader.close()
            rows.flush()
            if todo:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('head', ?)", [head])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            signers.close()
        return len(todo)

    def _sync_branches(self, repo: StateRepo) -> None:
        """Records which commits are on proposal branches (a redelivered `!deploy` that opened a
        proposal must find its commit) and each branch's status as its tip's record says. Only
        branches whose tip moved are read."""
        tips = repo.refs_under(PROPOSALS)
        conn = self.db.conn
        known = dict(conn.execute("SELECT ref, tip FROM branches").fetchall())
        moved = {ref: tip for ref, tip in tips.items() if known.get(ref) != tip}
        if not moved:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            for ref, tip in moved.items():
                sha: bytes | None = tip.encode()
                while sha is not None and not self.knows(sha.decode()):
                    commit = repo.git[sha]
                    assert isinstance(commit, Commit)
                    conn.execute("INSERT INTO branch_commits VALUES (?)", [sha.decode()])
                    sha = commit.parents[0] if commit.parents else None
                status = proposal_status(repo, ref, tip)
                conn.execute("INSERT OR REPLACE INTO branches VALUES (?, ?, ?)", [ref, tip, status])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def cold(self) -> bool:
        """Whether nothing of main is indexed yet (a new file, or one built by another version)."""
        return self._meta("head") is None

    def knows(self, sha: str) -> bool:
        """Whether a commit is indexed already, on main or on a branch: where a walk stops."""
        self.ready()
        row = self.db.conn.execute(
            "SELECT 1 FROM commits WHERE sha = ?1 "
            "UNION ALL SELECT 1 FROM branch_commits WHERE sha = ?1",
            [sha],
        ).fetchone()
        return row is not None

    def rebuild(self, repo: StateRepo) -> int:
        self.db.conn.execute("BEGIN IMMEDIATE")
        self._clear()
        self.db.conn.execute("COMMIT")
        return self.sync(repo)

    def _clear(self) -> None:
        # Every table is derived, the features' too (a feature's schema may hold several).
        for table in self.db.table_names():
            self.db.conn.execute(f"DELETE FROM {table}")
        self.db.conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('tables', ?)", [signature(self.tables)]
        )

    def _built_with(self) -> str | None:
        """The signature of the feature tables the index holds (None: a new or older file)."""
        if "meta" not in self.db.table_names():
            return None
        return self._meta("tables")

    def _meta(self, key: str) -> str | None:
        row = self.db.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    # queries

    def ready(self) -> None:
        """Refuses (`Indexing`, "indexing, N%") while a build is under way in the background."""
        if self.building is not None:
            if not self.building.done:
                raise self.building.refusal()
            self.building = None

    def closed_proposals(self) -> set[int]:
        """The proposals main has merged or someone rejected: never open again."""
        self.ready()
        rows = self.db.conn.execute(
            "SELECT proposal FROM commits WHERE proposal IS NOT NULL "
            "UNION SELECT CAST(ref AS INTEGER) FROM branches WHERE status = 'rejected'"
        ).fetchall()
        return {row[0] for row in rows}

    def merge_of(self, proposal: int) -> str | None:
        """The commit on main that merged proposal `proposal`, if it is merged."""
        self.ready()
        row = self.db.conn.execute(
            "SELECT sha FROM commits WHERE proposal = ? ORDER BY seq LIMIT 1", [proposal]
        ).fetchone()
        return row[0] if row else None

    def history(
        self, *, app: str | None = None, env: str | None = None, limit: int = 10
    ) -> list[Entry]:
        self.ready()
        # EXISTS walks commits newest first and stops at `limit`; `sha IN (...)` would build
        # and sort the app's whole history on every call.
        where, args = "", []
        if app is not None:
            where = "WHERE EXISTS (SELECT 1 FROM paths p WHERE p.app = ? AND p.sha = c.sha)"
            args = [app]
        elif env is not None:
            where = "WHERE EXISTS (SELECT 1 FROM paths p WHERE p.env = ? AND p.sha = c.sha)"
            args = [env]
        rows = self.db.conn.execute(
            f"SELECT sha, summary, author, author_id, at, command FROM commits c {where} "
            "ORDER BY seq DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [Entry(*row) for row in rows]

    def deploy_events(self, env: str, app: str) -> list[DeployEvent]:
        self.ready()
        rows = self.db.conn.execute(
            "SELECT sha, version, kind FROM deployments WHERE env = ? AND app = ? ORDER BY seq",
            [env, app],
        ).fetchall()
        return [DeployEvent(*row) for row in rows]

    def resolve(self, prefix: str) -> list[str]:
        self.ready()
        rows = self.db.conn.execute(
            "SELECT sha FROM commits WHERE sha >= ? AND sha < ? ORDER BY seq DESC LIMIT 5",
            [prefix, prefix + "g"],
        ).fetchall()
        return [row[0] for row in rows]
