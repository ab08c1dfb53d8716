"""Reading the state repository: its refs, its objects (kept in memory once read), and the tree
of one commit as a read-only `Snapshot`, which is all a handler ever sees of the repo.

`StateRepo` (bot/state/repo.py) is this and the writing: the lock, the commit, the tip in force.
"""

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from dulwich.diff_tree import tree_changes
from dulwich.objects import Blob, Commit, ShaFile, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from bot.core.ids import COMMIT_ID
from bot.state.object_cache import ObjectCache

MAIN = Ref(b"refs/heads/main")
PROPOSALS = b"refs/heads/proposals/"  # one branch per proposal, `proposals/<n>`, never deleted
_LOOSE_REF = re.compile(COMMIT_ID.pattern.encode() + rb"\n")  # as Git and opsbot write one


class RepoReader:
    """A bare repository, read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._git = Repo(str(self.path))
        if not self._git.bare:
            raise ValueError(f"{self.path} is not a bare repository")
        self._objects = ObjectCache(lambda sha: self._git[sha])

    def close(self) -> None:
        self._git.close()

    def head(self) -> str | None:
        return self.tip(MAIN)

    def tip(self, ref: Ref) -> str | None:
        # Read several times by every command: the loose ref file is read directly, as Git
        # would read it (a loose ref stands above a packed one), and dulwich reads anything
        # else (a symbolic ref, a packed one, none).
        data = b""
        name = ref.decode()
        if name.startswith("refs/") and ".." not in name:  # never a path out of the repo
            try:
                with open(os.path.join(self.path, name), "rb") as file:
                    data = file.read(42)
            except OSError:
                pass
        if _LOOSE_REF.fullmatch(data):
            return data[:40].decode()
        try:
            return self._git.refs[ref].decode()
        except KeyError:
            return None

    def refs_under(self, prefix: bytes) -> dict[str, str]:
        """Ref name (without `prefix`) -> commit, for every ref under `prefix`."""
        found = self._git.refs.as_dict(Ref(prefix.rstrip(b"/")))
        return {name.decode(): sha.decode() for name, sha in found.items()}

    def get(self, sha: bytes) -> ShaFile:
        """The object named `sha`, read once and kept (bot/state/object_cache.py)."""
        return self._objects.get(sha)

    def commit_of(self, sha: bytes) -> Commit:
        """The commit named `sha` (read once and kept, as `get`)."""
        commit = self.get(sha)
        assert isinstance(commit, Commit)
        return commit

    def snapshot(self, commit: str | None = None) -> "Snapshot":
        commit = commit or self.head()
        tree = self.commit_of(commit.encode()).tree if commit else None
        return Snapshot(self, commit, tree)

    def object(self, sha: str) -> Commit | Tree | Blob:
        return self._git[sha.encode()]  # type: ignore[return-value]

    @property
    def git(self) -> Repo:
        """The dulwich repo, for read-only queries (history walks, diffs)."""
        return self._git

    def changes_between(self, old: str, new: str) -> dict[str, bytes | None]:
        """The changes that turn commit `old`'s tree into commit `new`'s."""
        store = self._git.object_store
        files: dict[str, bytes | None] = {}
        for entry in tree_changes(
            store, self.commit_of(old.encode()).tree, self.commit_of(new.encode()).tree
        ):
            if entry.new is not None and entry.new.path is not None and entry.new.sha:
                files[entry.new.path.decode()] = self._git[entry.new.sha].as_raw_string()
            gone = entry.old
            if (
                gone is not None
                and gone.path is not None
                and (entry.new is None or entry.new.path != gone.path)
            ):
                files[gone.path.decode()] = None
        return files


class Snapshot:
    """The tree of one commit, read-only. Handlers see the repo only through this."""

    def __init__(self, repo: RepoReader, commit: str | None, tree: bytes | None) -> None:
        self.repo = repo
        self.commit = commit
        self._tree = tree

    def read(self, path: str) -> bytes | None:
        entry = self._lookup(path)
        if entry is None or stat.S_ISDIR(entry[0]):
            return None
        blob = self.repo.get(entry[1])
        return blob.as_raw_string()

    def text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8")

    def list(self, directory: str) -> list[str]:
        """Names of the entries of `directory` (files and folders), sorted; [] if absent."""
        if self._tree is None:
            return []
        if directory.strip("/"):
            entry = self._lookup(directory)
            if entry is None or not stat.S_ISDIR(entry[0]):
                return []
            tree_id = entry[1]
        else:
            tree_id = self._tree
        tree = self.repo.get(tree_id)
        return sorted(item.path.decode("utf-8", "replace") for item in tree.items())  # type: ignore[attr-defined]

    def files(self, directory: str = "") -> Iterator[str]:
        """Every file path under `directory`, recursively."""
        for name in self.list(directory):
            path = f"{directory.strip('/')}/{name}".lstrip("/")
            entry = self._lookup(path)
            if entry is not None and stat.S_ISDIR(entry[0]):
                yield from self.files(path)
            else:
                yield path

    def object_id(self, path: str) -> str | None:
        """The id of the blob or tree at `path`: equal ids, equal contents, so a reader can keep
        what it derived from a folder until the folder itself changes."""
        entry = self._lookup(path)
        return None if entry is None else entry[1].decode()

    def _lookup(self, path: str) -> tuple[int, bytes] | None:
        if self._tree is None:
            return None
        tree_id = self._tree
        parts = [p for p in path.split("/") if p]
        mode = stat.S_IFDIR
        for part in parts:
            if not stat.S_ISDIR(mode):
                return None
            tree = self.repo.get(tree_id)
            try:
                mode, tree_id = tree[part.encode()]  # type: ignore[index]
            except KeyError:
                return None
        return mode, tree_id
