"""Writing Git objects and moving a ref so that a crash or a power cut loses nothing.

Objects must be on disk before the ref that names them moves, and the ref's move must be on
disk before a reply says "done". Where the C library has syncfs(2) (Linux), one call makes
everything a transaction wrote durable at once; elsewhere each object file and the ref are
fsynced as they are written.

A writer killed mid-write leaves a `.lock` file behind, which would refuse every later write
of the same object or ref. Git holds such a lock for milliseconds: one older than
`STALE_LOCK`, while we hold the writer lock, is stale and is removed (and said so).
"""

import ctypes
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from dulwich.file import FileLocked
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref, RefsContainer

from bot.core.files import PUBLIC_DIR, at_most, make_dir
from bot.core.logs import fact

log = logging.getLogger("opsbot.state")

STALE_LOCK = 1.0  # seconds; Git itself holds a ref lock for milliseconds


def _find_syncfs() -> Callable[[int], int] | None:
    """syncfs(2) where the C library has it (Linux); elsewhere, one fsync per object."""
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    return function


_syncfs = _find_syncfs()

HAS_SYNCFS = _syncfs is not None
"""Whether one `flush` makes a whole transaction durable (else every file is fsynced)."""


def flush(path: Path) -> None:
    """Makes everything written on `path`'s filesystem durable (nothing to do without syncfs:
    each file was fsynced as it was written)."""
    if _syncfs is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if _syncfs(fd) != 0:
                raise OSError(ctypes.get_errno(), "syncfs failed on the state repo")
        finally:
            os.close(fd)


def add_object(store: DiskObjectStore, root: Path, obj: Blob | Tree | Commit) -> None:
    """Writes one loose object into the repo at `root`, past a stale `<object>.lock`."""
    deadline = time.monotonic() + STALE_LOCK
    while True:
        try:
            store.add_object(obj)
            at_most(root / "objects" / obj.id.decode()[:2], PUBLIC_DIR)
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
                repo=str(root),
                object=obj.id.decode(),
            )
            deadline = time.monotonic() + STALE_LOCK


def move_ref(
    refs: RefsContainer, root: Path, ref: Ref, old: ObjectID | None, new: ObjectID
) -> bool:
    """The compare-and-swap on a ref of the repo at `root` (`old` None: the ref must not exist
    yet); False when the ref is not at `old`.

    It follows Git's own protocol, so `git` and opsbot exclude each other: create
    `<ref>.lock` exclusively, re-read the ref under it, write the new value, rename the lock
    over the ref. The durability comes from the `flush` that follows (dulwich's version would
    fsync the file and still not the directory).
    """
    path = root / ref.decode()
    lock = path.with_name(path.name + ".lock")
    make_dir(path.parent)
    deadline = time.monotonic() + STALE_LOCK
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
                repo=str(root),
                ref=ref.decode(),
            )
            deadline = time.monotonic() + STALE_LOCK
    moved = False
    try:
        try:
            current: bytes | None = refs[ref]
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
