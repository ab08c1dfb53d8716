"""Checksums taken while a download arrives: each file whose sha256 is expected (declared in
the runbook, or reported by the program, which `fetch-files` does before the file) is read as
it grows, so when the program exits only its last bytes are left to hash and the file is
handed over at once, instead of after reading it all again (a GiB is about two seconds of
one core).

The bytes are hashed in the order they are written, as the link that follows a growing file
sends them: a program must write its files from start to end (as every fetch does). A file
that shrinks or is replaced by another is hashed again from its start.
"""

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

BLOCK = 4 * 1024 * 1024


class Digests:
    """The sha256 of files read so far, per path; safe to use from several threads. A file
    being read is held open, so a file put in its place is always told apart (its inode
    cannot be the held one's); `of` and `close` let go of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # path -> the file held open, how far it was read, its hash so far
        self._read: dict[Path, tuple[io.BufferedReader, int, Any]] = {}
        self._buffer = bytearray(BLOCK)
        self._closed = False  # a read still under way when the run ended opens nothing more

    def advance(self, path: Path) -> int:
        """Hashes what was written to `path` since the last call (up to its size as the call
        starts, so a call ends while the file still grows); how far it has read."""
        with self._lock:
            return 0 if self._closed else self._advance(path)

    def read(self, path: Path) -> int:
        """How much of `path` has been hashed so far."""
        with self._lock:
            return self._read[path][1] if path in self._read else 0

    def of(self, path: Path) -> str:
        """The sha256 of `path` as it is now (only the part not yet read is read)."""
        with self._lock:
            self._advance(path)
            f, _, digest = self._read.pop(path)
            f.close()
            return str(digest.hexdigest())

    def close(self) -> None:
        with self._lock:
            for f, _, _ in self._read.values():
                f.close()
            self._read.clear()
            self._closed = True

    def _advance(self, path: Path) -> int:
        now = path.stat()
        held = self._read.get(path)
        if held is not None:
            f, offset, digest = held
            if os.fstat(f.fileno()).st_ino != now.st_ino or now.st_size < offset:
                f.close()  # another file in its place, or written again from its start
                held = None
        if held is None:
            f, offset, digest = path.open("rb"), 0, hashlib.sha256()
            self._read[path] = (f, offset, digest)
        size = os.fstat(f.fileno()).st_size
        view = memoryview(self._buffer)
        f.seek(offset)
        while offset < size and (count := f.readinto(view[: size - offset])):
            digest.update(view[:count])
            offset += count
        self._read[path] = (f, offset, digest)
        return offset
