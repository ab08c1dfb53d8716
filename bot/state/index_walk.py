"""What a sync of the index reads of main: its commits not yet indexed, oldest first, with the
files each changed (`Step`s), and how to read those files.

A few commits (the one a command just made) are read through dulwich, from the objects the
repo keeps in memory; a long stretch (a cold index, a bot that was away) through git at once
(bot/state/index_bulk.py). Both give the same steps.
"""

from collections.abc import Callable, Sequence

from dulwich.diff_tree import tree_changes
from dulwich.objects import Commit

from bot.state import index_bulk
from bot.state.index_bulk import Change, Step
from bot.state.index_rows import Trees, subject_of
from bot.state.index_signers import Signers
from bot.state.index_tables import IndexTable
from bot.state.repo import StateRepo

BULK_FROM = 500  # commits: fewer are read through dulwich, without starting git

Read = Callable[[bytes], bytes]


def read_main(
    repo: StateRepo,
    head: str,
    stop: str | None,
    bulk_from: int,
    tables: Sequence[IndexTable],
    signers: Signers | None = None,
) -> tuple[list[Step], Read]:
    """main's commits from `stop` (excluded) to `head`, oldest first, and how to read their
    blobs; with `signers`, a long read has them check who signed each commit (where a table
    reads whole commits: the audit report's keeps their signers)."""
    chain = _first_parent_chain(repo, head, stop, limit=bulk_from)
    if chain is None:
        whole = any(table.on_commit is not None for table in tables)
        bulk = index_bulk.steps(
            repo.path, head, stop, lambda steps: _wanted(steps, tables), signers if whole else None
        )
        if bulk is not None:
            blobs = bulk.blobs
            return bulk.steps, lambda sha: blobs.get(sha) or _raw(repo, sha)
        chain = _first_parent_chain(repo, head, stop, limit=None)
        assert chain is not None
    return [_step(repo, c, p) for c, p in chain], lambda sha: _raw(repo, sha)


def _wanted(steps: list[Step], tables: Sequence[IndexTable]) -> list[bytes]:
    """The blobs a sync of `steps` reads: every deployment record written, and the last
    version of each file a feature's table reads."""
    deployments, last = [], {}
    for step in steps:
        for change in step.changes:
            if change.new is None:
                continue
            app, env = subject_of(change.path)
            if change.path.startswith("deployments/") and app and env:
                deployments.append(change.new)
            elif any(change.path.startswith(t.prefix) and t.reads_files for t in tables):
                last[change.path] = change.new
    return deployments + list(last.values())


def _first_parent_chain(
    repo: StateRepo, head: str, stop: str | None, limit: int | None
) -> list[tuple[Commit, bytes | None]] | None:
    """Commits from `head` back along first parents, oldest first, excluding `stop`, each with
    its first parent's tree; None if there are more than `limit`."""
    chain: list[Commit] = []
    sha: bytes | None = head.encode()
    while sha is not None and sha.decode() != stop:
        if limit is not None and len(chain) >= limit:
            return None
        commit = repo.get(sha)
        assert isinstance(commit, Commit)
        chain.append(commit)
        sha = commit.parents[0] if commit.parents else None
    chain.reverse()
    first: bytes | None = None
    if chain and chain[0].parents:
        first = repo.get(chain[0].parents[0]).tree  # type: ignore[attr-defined]
    trees = [first, *(c.tree for c in chain[:-1])]
    return list(zip(chain, trees, strict=True))


def _step(repo: StateRepo, commit: Commit, parent_tree: bytes | None) -> Step:
    changes = []
    for c in tree_changes(Trees(repo), parent_tree, commit.tree):  # type: ignore[arg-type]
        entry = c.new if c.new and c.new.path else c.old
        assert entry is not None and entry.path is not None
        old = c.old.sha if c.old and c.old.path else None
        new = c.new.sha if c.new and c.new.path else None
        changes.append(Change(entry.path.decode(), old, new))
    return Step(
        commit.id.decode(),
        list(commit.parents),
        commit.author,
        commit.author_time,
        commit.message,
        changes,
        signed=commit,
        commit_time=commit.commit_time,
    )


def _raw(repo: StateRepo, sha: bytes) -> bytes:
    return bytes(repo.get(sha).as_raw_string())
