"""The audit report's table in the index: one row per change main brought, written as the index
syncs, so that a year of history is reported by reading rows, not trees.

Every row is read from the commit's tree and records, never from its message:

- a deployment record that changed (`deployments/<env>/<app>.toml`): the version before and
  after, the command and the requester its record names, its `hotfix` incident; the proposal
  merged by the same commit (`proposals/<n>.toml`: who approved); the approvals the
  environment required, and the freeze and the lock in its tree at that moment (and the lock's
  holder, when the commit's author is someone else); the freeze
  window of its calendar open at that moment (the `[[windows]]` of `environments/<env>.toml`
  as that tree held it, for that app);
- policy.toml: who was added to or removed from which role, what a role may run, whose keys
  were pinned (bot/features/governance/audit_policy.py); an environment's required approvals;
- an adopt (a signed commit that changes nothing and puts an outside commit in force, its
  first parent) and a discard (one that keeps the tree in force and leaves main's pushed
  commits out, as further parents): which commits and which files, and who typed it.

Each row keeps the key whose signature the commit carries (checked once, as the index syncs);
whether that key was allowed at the commit's time is the report's question, asked against the
allowed-signers files as they are when it runs (bot/features/governance/audit_history.py).
The review of a hotfix (a proposal with `kind = "review"` naming the hotfix's commit) is kept
beside, with who approved it, when (the commit that brought it to main) and when it was due; a
hotfix's row keeps when its review is due by the policy of its tree, for a review never made.
"""

import contextlib
import json
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dulwich.objects import Commit

from bot.core.errors import InvalidRecord
from bot.features.governance import audit_policy
from bot.features.governance.declaration import declared
from bot.features.governance.hotfix_policy import HOTFIX_POLICY, REVIEW_HOURS
from bot.features.governance.windows import closed_at
from bot.state.index_tables import IndexTable, MainCommit, toml_of
from bot.state.policy import decode_policy
from bot.state.signing import signer_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_changes (
    seq INTEGER, part INTEGER, sha TEXT, at INTEGER, committed INTEGER, signer BLOB,
    kind TEXT, env TEXT, app TEXT, before TEXT, after TEXT, command TEXT, requester TEXT,
    approvers TEXT, required INTEGER, proposal INTEGER, freeze TEXT, lock TEXT, window TEXT,
    hotfix TEXT, reason TEXT, detail TEXT, due INTEGER, past_lock TEXT,
    PRIMARY KEY (seq, part)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_reviews (
    proposal INTEGER PRIMARY KEY, reviews TEXT, requester TEXT, approvers TEXT, at INTEGER,
    due INTEGER);
CREATE INDEX IF NOT EXISTS audit_reviews_of ON audit_reviews(reviews);
CREATE TABLE IF NOT EXISTS audit_files (path TEXT PRIMARY KEY, text TEXT) WITHOUT ROWID;
"""
KEPT = ("environments/", "freezes/", "locks/", "policy.toml")
"""The files a change's row reads as its tree held them: kept current here as each commit
changes them, so that a cold index of a year reads no tree (a deploy would read four)."""
COLUMNS = 24
MAX_WALK = 1000  # outside commits named by one adopt or discard, at most

DEPLOY, RULE, ADOPT, DISCARD = "deploy", "rule", "adopt", "discard"


def _toml(text: str | None) -> Mapping[str, Any]:
    """A file's table, read only ({}: absent, or not TOML): parsed once (a year of deploys
    reads the same few environment, freeze and lock files, and each deploy's record was the
    previous one's new text, which the index read too)."""
    return toml_of(text) or {}


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if isinstance(value, str) and value else None


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _stamp(value: Any) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}" if isinstance(value, datetime) else ""


class _Sync:
    """The table's reading of main for one sync of the index (one transaction): the files of
    `KEPT` as main's tree holds them at the commit being read, known here as well as in
    `audit_files` (a deploy reads three), and the rows found, written a few thousand at once."""

    FLUSH = 5000  # rows

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.files: dict[str, str | None] = {}
        self.rows: list[list[Any]] = []

    def add(self, main: MainCommit) -> None:
        for change in main.changes:
            if change.path.startswith(KEPT):
                self._keep(change.path, change.new)
        rows = _Rows(main, self.kept)
        _read(self, rows, main)
        rows.sign()
        self.rows += rows.rows
        if len(self.rows) >= self.FLUSH:
            self.close()

    def close(self) -> None:
        marks = ", ".join("?" * COLUMNS)
        self.conn.executemany(f"INSERT INTO audit_changes VALUES ({marks})", self.rows)
        self.rows = []

    def kept(self, path: str) -> str | None:
        """A file of `KEPT` as main's tree holds it at the commit being read."""
        if path not in self.files:
            row = self.conn.execute("SELECT text FROM audit_files WHERE path = ?", [path])
            found = row.fetchone()
            self.files[path] = found[0] if found else None
        return self.files[path]

    def _keep(self, path: str, text: str | None) -> None:
        self.files[path] = text
        if text is None:
            self.conn.execute("DELETE FROM audit_files WHERE path = ?", [path])
        else:
            self.conn.execute("INSERT OR REPLACE INTO audit_files VALUES (?, ?)", [path, text])


class _Rows:
    """The rows of one commit, numbered in the order they are found (paths sorted, as Git
    sorts a tree's changes): the same commit always gives the same rows."""

    def __init__(self, main: MainCommit, kept: Callable[[str], str | None]) -> None:
        self.main = main
        self.rows: list[list[Any]] = []
        self.kept = kept

    def read(self, path: str) -> str | None:
        """A file of the commit's tree: from `audit_files` where it is kept there."""
        return self.kept(path) if path.startswith(KEPT) else self.main.read(path)

    def add(self, kind: str, **values: Any) -> None:
        main = self.main
        row = [main.seq, len(self.rows), main.sha, main.author_time, main.commit_time, None]
        row += [kind, values.get("env"), values.get("app"), values.get("before")]
        row += [values.get("after"), values.get("command"), values.get("requester")]
        row += [json.dumps(values.get("approvers", [])), values.get("required")]
        row += [values.get("proposal"), values.get("freeze"), values.get("lock")]
        row += [values.get("window")]
        row += [values.get("hotfix"), values.get("reason"), values.get("detail")]
        row += [values.get("due"), values.get("past_lock")]
        self.rows.append(row)

    def sign(self) -> None:
        if not self.rows:
            return
        signer = self.main.signer()  # once per commit with rows, never per report
        for row in self.rows:
            row[5] = signer


def _author(author: bytes) -> str:
    """The Matrix id a commit names as its author (a signed header, not the message)."""
    text = author.decode("utf-8", "replace")
    return text.rpartition("<")[2].rstrip(">") if "<" in text else text


def _read(sync: _Sync, rows: _Rows, main: MainCommit) -> None:
    merged = _merged_proposals(main)
    for change in main.changes:
        parts = change.path.removesuffix(".toml").split("/")
        if parts[0] == "deployments" and len(parts) == 3 and change.path.endswith(".toml"):
            _deploy(rows, parts[1], parts[2], change.old, change.new, merged)
        elif change.path == "policy.toml":
            for kind, what in audit_policy.changes(change.old, change.new):
                rows.add(kind, requester=_author(main.author), detail=what)
        elif parts[0] == "environments" and len(parts) == 2:
            was, now = _toml(change.old).get("approvals", 0), _toml(change.new).get("approvals", 0)
            if was != now and change.new is not None:
                what = f"{parts[1]} requires {now} approval(s), was {was}"
                rows.add(RULE, env=parts[1], requester=_author(main.author), detail=what)
        elif parts[0] == "proposals" and len(parts) == 2:
            _review(sync.conn, main, parts[1], change.new)
    if not main.changes:
        _outside(rows, main)


def _merged_proposals(main: MainCommit) -> dict[str, Mapping[str, Any]]:
    """The proposals this commit brings into main's tree, by environment."""
    found: dict[str, Mapping[str, Any]] = {}
    for change in main.changes:
        if change.path.startswith("proposals/") and change.new is not None:
            data = _toml(change.new)
            env = _str(data, "environment")
            if env and data.get("status") == "merged" and data.get("kind", "change") != "review":
                found[env] = data
    return found


def _deploy(
    rows: _Rows,
    env: str,
    app: str,
    old: str | None,
    new: str | None,
    merged: dict[str, Mapping[str, Any]],
) -> None:
    before, after = _toml(old), _toml(new)
    read = rows.read
    record = after or before
    proposal = merged.get(env, {})
    declaration = read(f"environments/{env}.toml")
    lock = read(f"locks/{env}.toml")
    required = _toml(declaration).get("approvals", 0)
    if proposal:
        required = proposal.get("approvals_required", required)
    hotfix = _str(after, "hotfix")
    rows.add(
        DEPLOY,
        env=env,
        app=app,
        before=_str(before, "version"),
        after=_str(after, "version"),
        command=_str(after, "command") or ("remove" if new is None else "deploy"),
        requester=_str(record, "requested_by") or "",
        approvers=_strings(proposal, "approved_by"),
        required=required if isinstance(required, int) else 0,
        proposal=proposal.get("number") if isinstance(proposal.get("number"), int) else None,
        freeze=_freeze(read(f"freezes/{env}.toml"), rows.main.author_time),
        lock=_lock(lock),
        past_lock=_holder(lock, _author(rows.main.author)),
        window=_window(env, declaration, rows.main.author_time, app),
        hotfix=hotfix,
        reason=_str(after, "reason"),
        due=_due(after, read("policy.toml"), rows.main.author_time) if hotfix else None,
    )


def _freeze(text: str | None, at: int) -> str | None:
    """The freeze in force at `at`, as people read it (None: not frozen then)."""
    if text is None:
        return None
    data = _toml(text)
    until = data.get("until")
    if isinstance(until, datetime) and until.tzinfo and until.timestamp() <= at:
        return None  # it had ended: nobody had removed the file yet
    said = f"frozen by {_str(data, 'by') or 'someone'}"
    if isinstance(until, datetime):
        said += f" until {_stamp(until)}"
    return said + (f": {reason}" if (reason := _str(data, "reason")) else "")


def _window(env: str, declaration: str | None, at: int, app: str) -> str | None:
    """The name of the calendar's freeze window open at `at` for a change to `app`, as the
    environment's file declared its windows then (None: none open, or none declared)."""
    if declaration is None or "windows" not in declaration:
        return None  # most environments declare none: no need to read the file again
    closed = closed_at(declared(env, declaration), datetime.fromtimestamp(at, UTC), (app,))
    return None if closed is None else closed.window.name


def _due(record: Mapping[str, Any], policy: str | None, at: int) -> int:
    """When a hotfix's review is due: `[hotfix] review_within_hours` (of the policy in its
    tree) after its request, as the hotfix's own step computes it."""
    hours = REVIEW_HOURS  # the default, when the policy does not say or does not read
    with contextlib.suppress(InvalidRecord):
        if policy is not None:
            read = decode_policy(policy, sections=(HOTFIX_POLICY,))
            hours = read.section(HOTFIX_POLICY).review_within_hours
    asked = record.get("requested_at")
    start = int(asked.timestamp()) if isinstance(asked, datetime) and asked.tzinfo else at
    return start + hours * 3600


def _lock(text: str | None) -> str | None:
    if text is None:
        return None
    data = _toml(text)
    said = f"locked by {_str(data, 'by') or 'someone'}"
    return said + (f": {reason}" if (reason := _str(data, "reason")) else "")


def _holder(lock: str | None, author: str) -> str | None:
    """Who held the lock a change went past: its holder, when the commit's author is someone
    else. opsbot refuses such a change; only a commit it did not make (a push, adopted) can."""
    if lock is None:
        return None
    holder = _str(_toml(lock), "by") or "someone"
    return None if holder == author else holder


def _review(conn: sqlite3.Connection, main: MainCommit, number: str, text: str | None) -> None:
    data = _toml(text)
    reviews = _str(data, "reviews")
    if data.get("kind") != "review" or reviews is None or not number.isdigit():
        return
    due = data.get("due")
    conn.execute(
        "INSERT OR REPLACE INTO audit_reviews VALUES (?, ?, ?, ?, ?, ?)",
        [
            int(number),
            reviews,
            _str(data, "requested_by") or "",
            json.dumps(_strings(data, "approved_by")),
            main.author_time,
            int(due.timestamp()) if isinstance(due, datetime) and due.tzinfo else None,
        ],
    )


def _outside(rows: _Rows, main: MainCommit) -> None:
    """A signed commit that changes no file: an adopt when its first parent is a commit the
    bot did not write, a discard when it leaves pushed commits out as further parents."""
    commit = main.commit
    if not commit.parents or commit.gpgsig is None:
        return
    key = main.signer()
    if key is None:
        return
    first = commit.parents[0]

    def ours(c: Commit) -> bool:
        # The bot's commits: signed by this key, or by another key in its name (a key rotated).
        signer = signer_of(c)
        return signer is not None and (signer == key or c.committer == commit.committer)

    adopted = _walk(main, first, ours)
    left: list[str] = []
    if commit.parents[1:]:
        ancestry = {c.id for c in _chain(main, first)}
        for extra in commit.parents[1:]:
            left += _walk(main, extra, lambda c: c.id in ancestry)
    who = _author(main.author)
    if adopted:
        below = main.get(adopted[-1].encode()).parents
        files = main.between(below[0].decode(), first.decode()) if below else []
        detail = {"commits": list(reversed(adopted)), "files": files, "left_out": left}
        rows.add(ADOPT, requester=who, detail=json.dumps(detail))
    elif left:
        files = main.between(first.decode(), commit.parents[1].decode())
        rows.add(DISCARD, requester=who, detail=json.dumps({"commits": left, "files": files}))


def _walk(main: MainCommit, start: bytes, stop: Callable[[Commit], bool]) -> list[str]:
    """Commits from `start` down first parents until `stop(commit)`, newest first."""
    found: list[str] = []
    sha: bytes | None = start
    while sha is not None and len(found) < MAX_WALK:
        c = main.get(sha)
        if stop(c):
            break
        found.append(sha.decode())
        sha = c.parents[0] if c.parents else None
    return found


def _chain(main: MainCommit, start: bytes) -> list[Commit]:
    found: list[Commit] = []
    sha: bytes | None = start
    while sha is not None and len(found) < MAX_WALK:
        c = main.get(sha)
        found.append(c)
        sha = c.parents[0] if c.parents else None
    return found


TABLE = IndexTable("audit", 3, SCHEMA, "", on_commit=_Sync)
