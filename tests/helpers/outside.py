"""Commits made outside opsbot, written into a repo's objects as someone who may push would."""

import time
import uuid
from pathlib import Path

from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo


def outside_commits(repo: Path, parent: str | None, count: int, files: dict[str, str]) -> str:
    """`count` unsigned commits on top of `parent` (None: an orphan), the last one changing
    `files` on top of the parent's tree; written into the repo's objects as a push would, the
    ref left alone. Returns the newest."""
    git_repo = Repo(str(repo))
    tree = Tree()
    if parent is not None:
        tree = git_repo[git_repo[parent.encode()].tree].copy()  # type: ignore[attr-defined]
    for path, text in files.items():
        tree = _with_file(git_repo, tree, path.split("/"), text.encode())
    git_repo.object_store.add_object(tree)
    for n in range(count):
        commit = Commit()
        commit.tree = tree.id
        commit.parents = [parent.encode()] if parent else []
        commit.author = commit.committer = b"Mallory <mallory@example.org>"
        commit.author_time = commit.commit_time = int(time.time()) + n
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = f"outside change {n} ({uuid.uuid4().hex[:8]})\n".encode()
        git_repo.object_store.add_object(commit)
        parent = commit.id.decode()
    git_repo.close()
    assert parent is not None
    return parent


def _with_file(repo: Repo, tree: Tree, parts: list[str], data: bytes) -> Tree:
    name = parts[0].encode()
    if len(parts) == 1:
        blob = Blob.from_string(data)
        repo.object_store.add_object(blob)
        tree[name] = (0o100644, blob.id)
        return tree
    sub = repo[tree[name][1]].copy() if name in tree else Tree()  # type: ignore[attr-defined]
    sub = _with_file(repo, sub, parts[1:], data)
    repo.object_store.add_object(sub)
    tree[name] = (0o040000, sub.id)
    return tree
