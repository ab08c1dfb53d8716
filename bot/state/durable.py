"""Writing Git objects and moving a ref so that a crash or a power cut loses nothing.

Objects must be on disk before the ref that names them moves, and the ref's move must be on
disk before a reply says "done". Exactly what a transaction wrote is made durable, and nothing
else: the data of each new object file, each directory that gained an entry (the objects'
fan-out directories, `objects/` itself when a fan-out directory is new), and the ref's new value
in its lock file, all at once; then the lock's rename over the ref, and the ref's directory.
Not `syncfs(2)`, which also waits for every other writer's dirty data on the filesystem: a
download into the state directory made every command typed meanwhile wait for it.

Every file and directory is waited for at the same time, each from a thread of its own: the
filesystem folds waits that overlap into one journal commit, so a transaction costs about one
round trip to the disk, not one per file (measured on a busy host: p50 0.6-1 ms for five objects
and their folders, against 2-12 ms one after the other). Starting each file's write-back as it
is written (`sync_file_range(2)`) cost the writing thread 50 µs an object and saved the waits
nothing, so the waits start it.

A writer killed mid-write leaves a `.lock` file behind, which would refuse every later write
of the same object or ref. Git holds such a lock for milliseconds: one older than
`STALE_LOCK`, while we hold the writer lock, is stale and is removed (and said so).
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref, RefsContainer

from bot.core.files import PUBLIC_DIR, make_dir
from bot.core.logs import fact

log = logging.getLogger("opsbot.state")

STALE_LOCK = 1.0  # seconds; Git itself holds a ref lock for milliseconds
OBJECT_MODE = 0o444  # Git's own mode for a loose object
# The size of a new file is part of what fdatasync waits for; its name is the directory's.
datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


_WAITERS = 16  # threads that wait for the disk at once; more than any transaction's files
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _waiters() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WAITERS, thread_name_prefix="opsbot-fsync")
        return _pool


def sync_file(path: Path | str) -> None:
    """Makes the data of the file at `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        datasync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path | str) -> None:
    """Makes the entries of directory `path` (files created, renamed or removed) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NewObjects:
    """The loose objects one transaction writes into the repo at `root`, kept open until
    `durable` has made their data and their names durable."""

    def __init__(self, root: Path, compression: int = -1) -> None:
        self.objects = os.path.join(root, "objects")
        self.compression = compression
        self._files: list[int] = []
        self._fan_outs: set[str] = set()  # that gained an entry
        self._new_fan_out = False  # then `objects/` gained one too
        self._others: list[Path] = []  # files written elsewhere, durable with the objects

    def add(self, obj: Blob | Tree | Commit) -> bool:
        """Writes `obj` unless it is there already (then only freshens its time, so that a
        `git gc` running now does not take it for an old unreachable one); whether it wrote."""
        sha = obj.id.decode()
        fan_out = os.path.join(self.objects, sha[:2])
        path = os.path.join(fan_out, sha[2:])
        try:
            os.utime(path)
            return False
        except FileNotFoundError:
            pass
        try:
            os.mkdir(fan_out, PUBLIC_DIR)
            self._new_fan_out = True
        except FileExistsError:
            pass
        fd = _create_locked(path, OBJECT_MODE, what="object", name=sha)
        try:
            os.write(fd, obj.as_legacy_object(compression_level=self.compression))
            os.replace(path + ".lock", path)
        except BaseException:
            os.close(fd)
            Path(path + ".lock").unlink(missing_ok=True)
            raise
        self._files.append(fd)
        self._fan_outs.add(fan_out)
        return True

    def also(self, path: Path) -> None:
        """`path`, written by the same transaction, is made durable with the objects."""
        self._others.append(path)

    def durable(
        self,
        meanwhile: Callable[[], None] | None = None,
        alongside: Sequence[Callable[[], None]] = (),
    ) -> None:
        """Waits until every object written (and every file given to `also`) is on disk under
        its name. `meanwhile` runs while the disk is being waited for: what needs to be durable
        only by the time the objects are (it must not need them to be); `alongside`, other
        waits for the disk to overlap with these (a ref lock's `sync`)."""
        pool = _waiters()
        dirs = sorted(self._fan_outs) + ([self.objects] if self._new_fan_out else [])
        jobs: list[Future[None]] = [
            *(pool.submit(datasync, fd) for fd in self._files),
            *(pool.submit(sync_dir, d) for d in dirs),
            *(pool.submit(sync_file, p) for p in self._others),
            *(pool.submit(wait) for wait in alongside),
        ]
        try:
            if meanwhile is not None:
                meanwhile()
        finally:
            try:
                for job in jobs:
                    job.result()  # every one waited for, the first failure raised
            finally:
                self.close()
                self._fan_outs.clear()
                self._new_fan_out = False
                self._others.clear()

    def close(self) -> None:
        for fd in self._files:
            os.close(fd)
        self._files.clear()


def _create_locked(path: str, mode: int, *, what: str, name: str) -> int:
    """Creates `<path>.lock` exclusively, as Git does, past a stale one; its descriptor."""
    lock = path + ".lock"
    deadline = time.monotonic() + STALE_LOCK
    while True:
        try:
            return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            Path(lock).unlink(missing_ok=True)
            fact(
                log,
                f"removed a stale {what} lock left by an interrupted writer",
                logging.WARNING,
                repo=os.path.dirname(os.path.dirname(os.path.dirname(path))),
                **{what: name},
            )
            deadline = time.monotonic() + STALE_LOCK


class RefLock:
    """A ref of the repo at `root` locked to move from `old` to `new`, as Git locks one: its
    `.lock` file created exclusively, the ref read again under it, the new value written. The
    lock's data is made durable (`sync`) while the commit's objects are, so moving the ref
    (`move`) then waits for the disk once, for the rename, instead of twice."""

    def __init__(self, refs: RefsContainer, root: Path, ref: Ref) -> None:
        self.path = root / ref.decode()
        self.lock = self.path.with_name(self.path.name + ".lock")
        self._new_dirs = [] if self.path.parent.is_dir() else _missing(self.path.parent, root)
        if self._new_dirs:
            make_dir(self.path.parent)
        self._fd = _create_locked(str(self.path), 0o644, what="ref", name=ref.decode())
        self._refs, self._ref = refs, ref

    def holds(self, old: ObjectID | None) -> bool:
        """Whether the ref is at `old` (None: it must not exist yet), read under the lock."""
        try:
            current: bytes | None = self._refs[self._ref]
        except KeyError:
            current = None
        return current == old

    def write(self, new: ObjectID) -> None:
        os.write(self._fd, new + b"\n")

    def sync(self) -> None:
        """Makes the new value durable (the ref itself does not move)."""
        datasync(self._fd)

    def move(self) -> None:
        """Renames the lock over the ref; once it returns, the move is durable."""
        os.close(self._fd)
        self._fd = -1
        os.replace(self.lock, self.path)
        sync_dir(self.path.parent)
        for directory in self._new_dirs:  # a new branch's folder: its name is its parent's entry
            sync_dir(directory.parent)

    def release(self) -> None:
        """Lets go without moving the ref (the lock file removed); nothing once it moved."""
        if self._fd != -1:
            os.close(self._fd)
            self._fd = -1
            self.lock.unlink(missing_ok=True)


def _missing(directory: Path, root: Path) -> list[Path]:
    """`directory` and those of its parents below `root` that do not exist, deepest first."""
    below = [p for p in [directory, *directory.parents] if p != root and p.is_relative_to(root)]
    return [p for p in below if not p.exists()]
