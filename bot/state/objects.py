"""The Git objects one commit writes: the blobs and trees of its change set, and the commit
itself, signed. The changes are split into a nested dict first, so that each tree on the way is
rewritten once, however many of its files change."""

import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree

from bot.state.signing import SigningKey, sign_commit

Changes = Mapping[str, bytes | None]
"""Path in the repo -> new content, or None to delete the file."""

_Nested = dict[str, "bytes | _Nested | None"]


def commit_objects(
    read: Callable[[bytes], ShaFile],
    base_tree: ObjectID | None,
    changes: Changes,
    *,
    parents: Sequence[str],
    author: bytes,
    committer: bytes,
    when: datetime,
    message: bytes,
    signer: SigningKey | None,
) -> tuple[list[Blob | Tree], Commit]:
    """The new blobs and trees of `changes` on top of the tree `base_tree` (read through
    `read`), and the commit of the tree they make, for the caller to write."""
    new_objects: list[Blob | Tree] = []
    tree_id = _apply(read, base_tree, _split(changes), new_objects)
    if tree_id is None:
        empty = Tree()
        new_objects.append(empty)
        tree_id = empty.id

    commit = Commit()
    commit.tree = tree_id
    commit.parents = [ObjectID(p.encode()) for p in parents]
    commit.author = author
    commit.committer = committer
    commit.author_time = int(when.timestamp())
    commit.commit_time = int(datetime.now(UTC).timestamp())
    commit.author_timezone = commit.commit_timezone = 0
    commit.encoding = b"UTF-8"
    commit.message = message
    if signer is not None:
        sign_commit(commit, signer)
    return new_objects, commit


def _split(changes: Changes) -> _Nested:
    root: _Nested = {}
    for path, content in changes.items():
        parts = path.split("/")
        if any(p in ("", ".", "..", ".git") or "\0" in p for p in parts):
            raise ValueError(f"unsafe path in change set: {path!r}")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r} needs {part!r} to be a folder")
            node = child
        node[parts[-1]] = content
    return root


def _apply(
    read: Callable[[bytes], ShaFile],
    tree_id: ObjectID | None,
    changes: _Nested,
    out: list[Blob | Tree],
) -> ObjectID | None:
    """The id of the tree after `changes`, or None when it ends up empty."""
    tree = Tree()
    if tree_id is not None:
        stored = read(tree_id)
        assert isinstance(stored, Tree)
        tree = stored.copy()  # type: ignore[assignment]  # copy() is typed as ShaFile
    for name, change in changes.items():
        key = name.encode()
        existing = tree[key] if key in tree else None  # noqa: SIM401 (Tree has no .get)
        if isinstance(change, dict):
            sub_id = existing[1] if existing and stat.S_ISDIR(existing[0]) else None
            new_sub = _apply(read, sub_id, change, out)
            if new_sub is None:
                if existing:
                    del tree[key]
            else:
                tree[key] = (stat.S_IFDIR, new_sub)
        elif change is None:
            if existing:
                del tree[key]
        else:
            blob = Blob.from_string(change)
            out.append(blob)
            tree[key] = (stat.S_IFREG | 0o644, blob.id)
    if not len(tree):
        return None
    out.append(tree)
    return tree.id
