"""The Git objects the state repo read or wrote lately, kept in memory.

Objects are named by their content, so one read is good forever: every command reads the same
policy, apps and environments, and a loose object read is a file open and a decompression each
time. A large blob is read again when asked for: a run's output (up to 16 MiB) kept thousands of
times over would be gigabytes.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from dulwich.objects import Blob, ShaFile

OBJECT_CACHE = 4096  # objects kept in memory: the trees and records of a few hundred commits
CACHED_BLOB = 64 * 1024  # bytes: a blob larger than this is not kept


class ObjectCache:
    """The last `OBJECT_CACHE` objects read or written, but no blob over `CACHED_BLOB`."""

    def __init__(self, read: Callable[[bytes], ShaFile]) -> None:
        self._read = read
        self._objects: OrderedDict[bytes, ShaFile] = OrderedDict()
        self._lock = threading.Lock()  # the engine and the reconciler read at once

    def get(self, sha: bytes) -> ShaFile:
        """The object named `sha`, from memory or read (and kept)."""
        with self._lock:
            found = self._objects.get(sha)
            if found is not None:
                self._objects.move_to_end(sha)
                return found
        found = self._read(sha)
        self.keep(found)
        return found

    def keep(self, found: ShaFile) -> None:
        if isinstance(found, Blob) and found.raw_length() > CACHED_BLOB:
            return
        with self._lock:
            self._objects[found.id] = found
            if len(self._objects) > OBJECT_CACHE:
                self._objects.popitem(last=False)

    def __iter__(self) -> Iterator[ShaFile]:
        """What is kept now, the least recently used first."""
        with self._lock:
            return iter(list(self._objects.values()))
