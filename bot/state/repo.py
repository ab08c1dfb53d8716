"""StateRepo: the only writer of the state repository.

A bare repository (no working tree, no index). A transaction writes its blobs, trees and commit
straight into the object store, fsynced, and only then moves
`refs/heads/main` with a compare-and-swap. A crash at any moment therefore leaves either the old
HEAD or the new one, never a ref pointing at a missing object; at worst a few unreachable objects
that `git gc` collects.

One writer at a time: a thread lock inside the process and an advisory `flock` on a file in the
repo against other processes (the CLI, a second bot by mistake). Holding the lock, the caller reads
HEAD, decides, and commits against the HEAD it read; the CAS catches anyone who wrote without the
lock (a `git push` into the repo), and the caller retries on the new HEAD.
"""

import ctypes
import fcntl
import logging
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dulwich.config import ConfigFile
from dulwich.diff_tree import tree_changes
from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.refs import HEADREF, Ref
from dulwich.repo import Repo

from bot.core.files import PUBLIC_DIR, PUBLIC_FILE, at_most, make_dir, tighten_tree
from bot.core.logs import fact
from bot.core.text import clean
from bot.state.allowed_signers import AllowedSigners
from bot.state.in_force import InForceRecord, Remembered, Trust, trust_of
from bot.state.message import Message
from bot.state.signing import SigningKey, public_blob, sign_commit

log = logging.getLogger("opsbot.state")


def _find_syncfs() -> Callable[[int], int] | None:
    """syncfs(2) where the C library has it (Linux); elsewhere, one fsync per object."""
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    return function


_syncfs = _find_syncfs()

MAIN = Ref(b"refs/heads/main")
PROPOSALS = b"refs/heads/proposals/"  # one branch per proposal, `proposals/<n>`, never deleted
STALE_REF_LOCK = 1.0  # seconds; Git itself holds a ref lock for milliseconds
LOCK_FILE = "opsbot.lock"
OBJECT_CACHE = 4096  # objects kept in memory: the trees and records of a few hundred commits
# A blob larger than this is read again when asked for: a run's output (up to 16 MiB) kept
# thousands of times over would be gigabytes.
CACHED_BLOB = 64 * 1024  # bytes

Changes = Mapping[str, bytes | None]
"""Path in the repo -> new content, or None to delete the file."""


@dataclass(frozen=True)
class Identity:
    """A person or the bot, as Git shows it: `Display Name <@alice:example.org>`."""

    name: str
    user_id: str

    def git(self) -> bytes:
        # '<', '>' and line breaks would corrupt the ident line; a display name is free text.
        name = " ".join(clean(self.name).replace("<", "").replace(">", "").split())
        user = "".join(c for c in clean(self.user_id) if c not in "<> ")
        name = name or user
        return f"{name} <{user}>".encode()


def refuse_rewrites(config: ConfigFile) -> None:
    """A push may only move main forward: `git push --force` and deleting main are refused
    by the repo itself (what opsbot wrote stays below whatever is pushed)."""
    config.set((b"receive",), b"denyNonFastForwards", True)
    config.set((b"receive",), b"denyDeletes", True)


class ConcurrentUpdate(Exception):
    """`refs/heads/main` moved between reading HEAD and committing: re-read and try again."""


class StateRepo:
    def __init__(
        self,
        path: Path,
        *,
        committer: Identity,
        signer: SigningKey | None,
        signers: AllowedSigners | None = None,
        in_force: InForceRecord | None = None,
        team: AllowedSigners | None = None,
    ) -> None:
        self.path = Path(path)
        self.committer = committer
        self.signer = signer
        # Every key opsbot trusts to have made a commit (its own, past and present, and the
        # teams'): what verifies a proposal branch.
        self.signers = signers
        # Only the keys of teams that sign their own commits: those on top of the tip in force
        # come into force with it. Never the bot's keys, which sign branches too.
        self.team = team
        # Where opsbot remembers the tip of main it wrote (bot/state/in_force.py). None: a repo
        # opened only to read its HEAD (`opsbot check --repo`), where every commit counts.
        self.in_force = in_force
        self._trusts: tuple[tuple[str | None, Remembered | None], Trust] | None = None
        self._git = Repo(str(self.path))
        if not self._git.bare:
            raise ValueError(f"{self.path} is not a bare repository")
        # Objects must be on disk before the ref that names them moves. With syncfs(2), one call
        # makes all of a transaction's objects durable, instead of one fsync per object file.
        self._git.object_store.fsync_object_files = _syncfs is None
        self._thread_lock = threading.Lock()
        # Objects are named by their content, so one read is good forever: every command reads
        # the same policy, apps and environments, and a loose object read is a file open and a
        # decompression each time.
        self._objects: OrderedDict[bytes, ShaFile] = OrderedDict()
        self._objects_lock = threading.Lock()  # the engine and the reconciler read at once
        # The record needs no flush of its own where the repo's syncfs reaches it too.
        self._record_durable = _syncfs is None or (
            in_force is not None
            and os.stat(self.path).st_dev != os.stat(in_force.path.parent).st_dev
        )

    @classmethod
    def create(
        cls,
        path: Path,
        files: Changes,
        *,
        committer: Identity,
        signer: SigningKey | None,
        author: Identity,
        message: Message,
        in_force: InForceRecord | None = None,
    ) -> "StateRepo":
        """Creates a bare repo whose first commit holds `files`, in force."""
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not empty")
        git = Repo.init_bare(str(path), mkdir=not path.exists())
        config = git.get_config()
        config.set((b"core",), b"logAllRefUpdates", True)
        refuse_rewrites(config)
        config.write_to_path()
        git.refs.set_symbolic_ref(HEADREF, MAIN)
        git.close()
        tighten_tree(path)  # dulwich's mkdir follows the umask: 0777 under `umask 000`
        repo = cls(path, committer=committer, signer=signer, in_force=in_force)
        with repo.locked():
            repo.commit(files, message, author, datetime.now(UTC), parent=None)
        return repo

    def close(self) -> None:
        self._git.close()

    # reading

    def head(self) -> str | None:
        try:
            return self._git.refs[MAIN].decode()
        except KeyError:
            return None

    def trust(self) -> Trust:
        """main read against the tip in force that opsbot remembers: that tip, and the commits
        on main that are not in force (see `bot.state.in_force`)."""
        head = self.head()
        if self.in_force is None:
            return Trust(head, head=head)
        remembered = self.in_force.read()
        key = (head, remembered)
        cached = self._trusts
        if cached is not None and cached[0] == key:
            return cached[1]
        own = public_blob(self.signer.public_line()) if self.signer is not None else None
        trust = trust_of(self._commit, head, remembered, self.team, own)
        self._trusts = (key, trust)
        return trust

    def trusted_snapshot(self) -> "Snapshot":
        """The tree in force (an empty tree if nothing is)."""
        return self.in_force_snapshot(self.trust())

    def in_force_snapshot(self, trust: Trust) -> "Snapshot":
        """The tree of `trust`'s commit in force; an empty tree, never HEAD's, if there is none."""
        tree = self._commit(trust.commit.encode()).tree if trust.commit else None
        return Snapshot(self, trust.commit, tree)

    def get(self, sha: bytes) -> ShaFile:
        """The object named `sha`, read once and kept (the last `OBJECT_CACHE` read or written,
        but no large blob)."""
        with self._objects_lock:
            found = self._objects.get(sha)
            if found is not None:
                self._objects.move_to_end(sha)
                return found
        found = self._git[sha]
        self._keep(found)
        return found

    def _keep(self, found: ShaFile) -> None:
        if isinstance(found, Blob) and found.raw_length() > CACHED_BLOB:
            return
        with self._objects_lock:
            self._objects[found.id] = found
            if len(self._objects) > OBJECT_CACHE:
                self._objects.popitem(last=False)

    def _commit(self, sha: bytes) -> Commit:
        commit = self.get(sha)
        assert isinstance(commit, Commit)
        return commit

    def snapshot(self, commit: str | None = None) -> "Snapshot":
        commit = commit or self.head()
        tree = self._commit(commit.encode()).tree if commit else None
        return Snapshot(self, commit, tree)

    def object(self, sha: str) -> Commit | Tree | Blob:
        return self._git[sha.encode()]  # type: ignore[return-value]

    @property
    def git(self) -> Repo:
        """The dulwich repo, for read-only queries (history walks, diffs)."""
        return self._git

    # writing

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the single-writer lock: this process's and every other process's."""
        with self._thread_lock, self._lock_file() as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                # Another process may have committed while we waited for the lock.
                self._git.refs.get_packed_refs()
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _lock_file(self) -> BinaryIO:
        path = self.path / LOCK_FILE
        lock_file = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, PUBLIC_FILE), "a+b")
        at_most(path, PUBLIC_FILE)
        return lock_file

    def commit(
        self,
        changes: Changes,
        message: Message,
        author: Identity,
        when: datetime,
        *,
        parent: str | None,
        ref: Ref = MAIN,
        new_ref: bool = False,
        merge: tuple[str, ...] = (),
        before_move: Callable[[str], None] | None = None,
        expect: str | None = None,
    ) -> str:
        """Writes one commit of `changes` on top of `parent` and moves `ref` to it.

        The caller holds `locked()` and passes the tip of `ref` it based its decision on; if the
        ref has moved since, nothing is moved and `ConcurrentUpdate` is raised. With `new_ref`,
        the ref must not exist yet (a new branch starting at `parent`). `merge` adds parents, for
        a merge commit whose tree is `parent`'s plus `changes`. `before_move` is told the new
        commit's id once it is durable and before the ref names it: the engine records there
        which invocation it is for, so a crash on either side of the move is told apart.
        """
        base_tree = self._commit(parent.encode()).tree if parent else None
        new_objects: list[Blob | Tree] = []
        tree_id = _apply(self.get, base_tree, _split(changes), new_objects)
        if tree_id is None:
            empty = Tree()
            new_objects.append(empty)
            tree_id = empty.id

        commit = Commit()
        commit.tree = tree_id
        parents = [parent] if parent else []
        commit.parents = [ObjectID(p.encode()) for p in [*parents, *merge]]
        commit.author = author.git()
        commit.committer = self.committer.git()
        commit.author_time = int(when.timestamp())
        commit.commit_time = int(datetime.now(UTC).timestamp())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.render().encode()
        if self.signer is not None:
            sign_commit(commit, self.signer)

        for obj in [*new_objects, commit]:
            self._add_object(obj)
        sha = commit.id.decode()
        # Only a commit on main changes what is in force, and only where it is remembered.
        record = self.in_force if ref == MAIN else None
        was = self.trust().commit if record is not None else None
        self._remember(record, Remembered(was, sha))
        self._flush()
        if before_move is not None:
            before_move(sha)

        tip = expect or parent
        old = None if new_ref or not tip else ObjectID(tip.encode())
        if not self._move(ref, old, commit.id):
            self._remember(record, Remembered(was))
            raise ConcurrentUpdate(f"{ref.decode()} moved away from {tip}")
        # Settled at once: a pending commit that main later stops containing (a push moved main
        # away) must not read as one that never landed.
        self._remember(record, Remembered(sha))
        # dulwich fsyncs the ref file but not the directory entry its rename made: without this,
        # a power cut could undo a commit whose reply already said "done". The same flush makes
        # the settled record durable.
        self._flush()
        return sha

    def _remember(self, record: InForceRecord | None, remembered: Remembered) -> None:
        if record is not None:
            record.write(remembered, durable=self._record_durable)

    def _flush(self) -> None:
        if _syncfs is not None:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                if _syncfs(fd) != 0:
                    raise OSError(ctypes.get_errno(), "syncfs failed on the state repo")
            finally:
                os.close(fd)

    def changes_between(self, old: str, new: str) -> dict[str, bytes | None]:
        """The changes that turn commit `old`'s tree into commit `new`'s."""
        store = self._git.object_store
        files: dict[str, bytes | None] = {}
        for entry in tree_changes(
            store, self._commit(old.encode()).tree, self._commit(new.encode()).tree
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

    def tip(self, ref: Ref) -> str | None:
        try:
            return self._git.refs[ref].decode()
        except KeyError:
            return None

    def refs_under(self, prefix: bytes) -> dict[str, str]:
        """Ref name (without `prefix`) -> commit, for every ref under `prefix`."""
        found = self._git.refs.as_dict(Ref(prefix.rstrip(b"/")))
        return {name.decode(): sha.decode() for name, sha in found.items()}

    def _add_object(self, obj: Blob | Tree | Commit) -> None:
        """Writes one loose object (fsynced). A writer killed while writing the same object
        leaves `<object>.lock` behind, which would refuse this object forever: past the time a
        write takes, such a lock is stale, and we hold the writer lock."""
        store = self._git.object_store
        deadline = time.monotonic() + STALE_REF_LOCK
        while True:
            try:
                store.add_object(obj)
                at_most(self.path / "objects" / obj.id.decode()[:2], PUBLIC_DIR)
                self._keep(obj)  # read again at once: by the index, the reconciler, the answer
                return
            except FileLocked as e:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                Path(os.fsdecode(e.lockfilename)).unlink(missing_ok=True)
                fact(
                    log,
                    "removed a stale object lock left by an interrupted writer",
                    logging.WARNING,
                    repo=str(self.path),
                    object=obj.id.decode(),
                )
                deadline = time.monotonic() + STALE_REF_LOCK

    def _move(self, ref: Ref, old: ObjectID | None, new: ObjectID) -> bool:
        """The compare-and-swap on a ref (`old` None: the ref must not exist yet).

        It follows Git's own protocol, so `git` and opsbot exclude each other: create
        `<ref>.lock` exclusively, re-read the ref under it, write the new value, rename the lock
        over the ref. The durability comes from the syncfs that follows (dulwich's version would
        fsync the file and still not the directory). Git holds a ref lock for milliseconds; one
        older than that, while we hold the writer lock, was left by a writer killed mid-write,
        and would otherwise stop every later commit.
        """
        path = self.path / ref.decode()
        lock = path.with_name(path.name + ".lock")
        make_dir(path.parent)
        deadline = time.monotonic() + STALE_REF_LOCK
        while True:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                lock.unlink(missing_ok=True)
                fact(
                    log,
                    "removed a stale ref lock left by an interrupted writer",
                    logging.WARNING,
                    repo=str(self.path),
                    ref=ref.decode(),
                )
                deadline = time.monotonic() + STALE_REF_LOCK
        moved = False
        try:
            try:
                current: bytes | None = self._git.refs[ref]
            except KeyError:
                current = None
            if current != old:
                return False
            os.write(fd, new + b"\n")
            if _syncfs is None:
                os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(lock, path)
            moved = True
            return True
        finally:
            if fd != -1:
                os.close(fd)
            if not moved:  # once renamed, the lock name may already be someone else's
                lock.unlink(missing_ok=True)


class Snapshot:
    """The tree of one commit, read-only. Handlers see the repo only through this."""

    def __init__(self, repo: StateRepo, commit: str | None, tree: bytes | None) -> None:
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


# Tree building: the changes are split into a nested dict so each tree is rewritten once.

_Nested = dict[str, "bytes | _Nested | None"]


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
    """Returns the id of the tree after `changes`, or None when it ends up empty."""
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
