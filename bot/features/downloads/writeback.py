"""Write-behind for the files a download run writes: what the program wrote is sent to the disk
as it arrives, a few MiB at a time, instead of piling up in the page cache.

Why: the state repo shares a filesystem with `[downloads] dir` unless the operator gives it one
of its own. On ext4 (`data=ordered`) every commit the bot makes needs a journal commit, and a
journal commit waits for the data blocks allocated since the last one, whoever wrote them.
Left to the kernel, a GiB of download sits dirty until it is 30 seconds old and is then
written back at once: every command typed meanwhile waits behind it, for seconds. Written
back as it arrives, a journal commit never waits for more than one `CHUNK`.

`sync_file_range(2)` starts the writing of a range and waits for it without touching the
file's metadata (no journal commit of its own, unlike `fdatasync`). Where the C library has no
such call (not Linux), this does nothing and the kernel writes back as it would.
"""

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path

CHUNK = 4 * 1024 * 1024  # bytes written back at a time: what a journal commit may wait for
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4


def _find_sync_file_range() -> Callable[[int, int, int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    flags = _WAIT_BEFORE | _WRITE | _WAIT_AFTER
    return lambda fd, offset, count: int(function(fd, offset, count, flags))


_sync_range = _find_sync_file_range()


class WriteBehind:
    """The files of one run, each written back as far as it has grown; safe to use from several
    threads. A file is held open while it grows, so one put in its place is told apart."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self.chunk = chunk
        self._lock = threading.Lock()
        self._held: dict[Path, tuple[int, int]] = {}  # path -> descriptor, bytes written back
        self._closed = False  # a sweep under way stops at its next chunk

    @staticmethod
    def available() -> bool:
        return _sync_range is not None

    def advance(self, path: Path) -> int:
        """Writes back what was written to `path` since the last call, in whole chunks; how
        far it is written back. A file that shrank or was replaced starts again from its
        beginning."""
        return self._advance(path)

    def sweep(self, paths: list[Path]) -> bool:
        """Advances each of `paths`; whether any was a chunk or more behind (then the caller
        looks again at once rather than after its pause)."""
        behind = False
        for path in paths:
            try:
                with self._lock:
                    before = self._held.get(path, (0, 0))[1]
                behind = self.advance(path) - before >= self.chunk or behind
            except OSError:  # removed meanwhile: the run failed or was stopped
                continue
        return behind

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for fd, _ in self._held.values():
                os.close(fd)
            self._held.clear()

    def _advance(self, path: Path) -> int:
        if _sync_range is None:
            return 0
        with self._lock:
            if self._closed:
                return 0
            fd, done = self._hold(path)
            size = os.fstat(fd).st_size
            end = size - size % self.chunk  # the last, partial chunk may still grow
            while done < end and not self._closed:
                count = min(self.chunk, end - done)
                if _sync_range(fd, done, count) != 0:
                    break  # the file went away under us: nothing left to write back
                done += count
            self._held[path] = (fd, done)
            return done

    def _hold(self, path: Path) -> tuple[int, int]:
        now = os.stat(path, follow_symlinks=False)
        held = self._held.get(path)
        if held is not None:
            fd, done = held
            if os.fstat(fd).st_ino == now.st_ino and now.st_size >= done:
                return held
            os.close(fd)  # another file in its place, or written again from its start
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        self._held[path] = (fd, 0)
        return fd, 0
