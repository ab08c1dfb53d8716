"""A cold index (main read at once through git) holds exactly what the index holds when it kept
up with main one commit at a time: every table, every row, in the same order."""

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from bot.features.catalog import index_tables
from bot.state import index_signers
from bot.state.index import Index
from bot.state.notes import NOTES
from bot.state.repo import MAIN, StateRepo
from bot.state.signing import SigningKey, public_blob, sign_commit
from tests.helpers.bot import Bot

START = datetime(2026, 1, 1, tzinfo=UTC)
WHO = b"Alice <@alice:example.org>"


def _tree(git: Repo, files: dict[str, bytes]) -> bytes:
    """The tree of `files` (path -> blob id), written."""
    nested: dict[str, object] = {}
    for path, blob in files.items():
        node = nested
        *dirs, name = path.split("/")
        for part in dirs:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[name] = blob

    def write(node: dict[str, object]) -> bytes:
        tree = Tree()
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name.encode(), 0o040000, write(value))
            else:
                tree.add(name.encode(), 0o100644, value)  # type: ignore[arg-type]
        git.object_store.add_object(tree)
        return tree.id

    return write(nested)


def _commit(
    git: Repo, tree: bytes, parent: bytes | None, message: str, at: int, key: SigningKey | None
) -> bytes:
    commit = Commit()
    commit.tree = tree
    commit.parents = [parent] if parent else []
    commit.author = commit.committer = WHO
    commit.author_time = commit.commit_time = at
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message.encode()
    if key is not None:
        sign_commit(commit, key)
    git.object_store.add_object(commit)
    return commit.id


def _blob(git: Repo, text: str) -> bytes:
    blob = Blob.from_string(text.encode())
    git.object_store.add_object(blob)
    return blob.id


def random_history(
    repo: Path, commits: int, seed: int, keys: Sequence[SigningKey | None] = (None,)
) -> list[tuple[bytes, bytes | None]]:
    """Commits on top of main's (deploys, rollbacks, incidents, versions, removals, records
    that do not read), each signed by one of `keys` in turn (None: unsigned), each with the
    notes tip after it. Refs are left for the caller."""
    rng = random.Random(seed)
    git = Repo(str(repo))
    parent = git.refs[MAIN]
    files = {
        path.decode(): sha
        for path, _mode, sha in git.object_store.iter_tree_contents(git[parent].tree)  # type: ignore[attr-defined]
    }
    notes: dict[str, bytes] = {}
    notes_tip: bytes | None = None
    made = []
    for i in range(commits):
        at = int((START + timedelta(minutes=10 * i)).timestamp())
        env, app = rng.choice(("dev", "prod")), rng.choice(("web", "api", "db"))
        roll = rng.random()
        if roll < 0.6:
            kind = rng.choice(("deploy", "rollback", "redeploy"))
            text = (
                f'version = "1.{rng.randrange(8)}"\nrequested_by = "@alice:example.org"\n'
                f"requested_at = {datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}\n"
                f'command = "{kind}"\n'
            )
            files[f"deployments/{env}/{app}.toml"] = _blob(git, text)
            message = f"{kind}: {app} to {env}\n\nOpsbot-Command: !{kind} {app}\n"
        elif roll < 0.75:
            n = rng.randrange(1, 6)
            status = rng.choice(("investigating", "resolved"))
            text = (
                f'title = "Incident {n}"\nseverity = "sev2"\nstatus = "{status}"\n'
                f'reporter = "@alice:example.org"\nopened_at = 2026-01-01T00:00:00Z\n'
            )
            if status == "resolved":
                text += (
                    "acknowledged_at = 2026-01-01T01:00:00Z\nresolved_at = 2026-01-01T02:00:00Z\n"
                )
            files[f"incidents/INC-{n}/incident.toml"] = _blob(git, text)
            message = f"incident: INC-{n}"
        elif roll < 0.85:
            text = f'commit = "{"ab" * 20}"\nbuilt_at = 2026-01-01T00:0{rng.randrange(9)}:00Z\n'
            files[f"versions/{app}/1.{rng.randrange(8)}.toml"] = _blob(git, text)
            message = "version built"
        elif roll < 0.95:
            gone = rng.choice(sorted(p for p in files if "/" in p))
            del files[gone]
            message = f"remove {gone}"
        else:
            files[f"deployments/{env}/{app}.toml"] = _blob(git, "version = [not toml")
            message = "a record that does not read"
        parent = _commit(git, _tree(git, files), parent, message, at, keys[i % len(keys)])
        if rng.random() < 0.5:
            sha = parent.decode()
            done = datetime.fromtimestamp(at + 60, UTC).isoformat()
            run = (
                f'{{"app": "{app}", "env": "{env}", "version": "1.0", "status": "ok", '
                f'"attempt": 1, "final": true, "at": "{done}", "detail": "", "hook": "deploy", '
                '"exit_code": 0, "duration": 1.0, "error": null}'
            )
            notes[f"{sha[:2]}/{sha[2:]}"] = _blob(git, f"deploy {app}: ok\nOpsbot-Run: {run}\n")
            if rng.random() < 0.3:
                notes_tip = _commit(git, _tree(git, notes), notes_tip, "notes", at, None)
        made.append((parent, notes_tip))
    git.close()
    return made


def every_row(index: Index) -> dict[str, list[tuple[object, ...]]]:
    conn = index.db.conn
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    # Tables read by their key, never in order, are compared as sets of rows: meta (rewritten
    # in place), firsts (one row per version) and outcomes (a commit's rows are replaced when
    # its note changes, so a note indexed late comes later). A table kept in its key's order
    # (WITHOUT ROWID: the audit report's) is read in that order.
    order = {
        "meta": "key",
        "firsts": "app, version",
        "outcomes": "commit_sha, at, env, app",
        "audit_changes": "seq, part",
        "audit_files": "path",
    }
    return {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY {order.get(t, 'rowid')}").fetchall()
        for t in tables
    }


def synced_step_by_step(bot: Bot, repo: StateRepo, made: list[tuple[bytes, bytes | None]]) -> Index:
    """An index synced after each commit of `made` (main's commit, the notes' tip then)."""
    step_by_step = Index(bot.paths.state_dir / "steps.sqlite", index_tables())
    for commit, notes in made:
        repo.git.refs[MAIN] = commit
        if notes is not None:
            repo.git.refs[NOTES] = notes
        step_by_step.sync(repo)
    return step_by_step


def test_a_cold_index_read_through_git_holds_what_commit_by_commit_syncs_built(bot: Bot) -> None:
    made = random_history(bot.repo, 300, seed=24)
    repo = StateRepo(bot.repo, committer=bot.engine.repo.committer, signer=None)
    step_by_step = synced_step_by_step(bot, repo, made)
    at_once = Index(bot.paths.state_dir / "cold.sqlite", index_tables(), bulk_from=1)
    assert (
        at_once.sync(repo)
        == step_by_step.db.conn.execute("SELECT COUNT(*) FROM commits").fetchone()[0]
    )
    through_dulwich = Index(bot.paths.state_dir / "dulwich.sqlite", index_tables(), bulk_from=10**6)
    through_dulwich.sync(repo)
    expected = every_row(step_by_step)
    assert sum(len(rows) for rows in expected.values()) > 600  # the history is really there
    assert every_row(at_once) == expected
    assert every_row(through_dulwich) == expected


def test_signatures_checked_apart_in_a_cold_index_name_the_signers_a_sync_names(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [SigningKey.generate(), SigningKey.generate(), None]
    made = random_history(bot.repo, 60, seed=5, keys=keys)
    repo = StateRepo(bot.repo, committer=bot.engine.repo.committer, signer=None)
    step_by_step = synced_step_by_step(bot, repo, made)
    monkeypatch.setattr(index_signers, "APART_FROM", 1)  # checked in another process
    at_once = Index(bot.paths.state_dir / "cold.sqlite", index_tables(), bulk_from=1)
    at_once.sync(repo)
    expected = every_row(step_by_step)["audit_changes"]
    signed = {public_blob(key.public_line()) for key in keys if key is not None}
    assert {row[5] for row in expected} >= {*signed, None}  # the history is really signed
    assert every_row(at_once)["audit_changes"] == expected


def test_a_long_catch_up_reads_only_what_was_not_indexed(bot: Bot) -> None:
    made = random_history(bot.repo, 120, seed=7)
    repo = StateRepo(bot.repo, committer=bot.engine.repo.committer, signer=None)
    index = Index(bot.paths.state_dir / "catch-up.sqlite", index_tables(), bulk_from=10)
    repo.git.refs[MAIN] = made[39][0]
    index.sync(repo)
    repo.git.refs[MAIN] = made[-1][0]
    assert index.sync(repo) == 80
    fresh = Index(bot.paths.state_dir / "fresh.sqlite", index_tables())
    fresh.sync(repo)
    assert every_row(index)["commits"] == every_row(fresh)["commits"]
