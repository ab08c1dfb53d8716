"""Which paths a backup may name, and reading its files without following links.

A backup is a directory that anyone who held it could have changed, manifest included. So every
path read from it is checked for the shape `opsbot backup` writes (`state/` and relative names
of plain components, or `key/signing_key`) before `opsbot restore` writes anything: never
absolute, no `.` or `..`, no empty component (`//`), no hidden name, no control character. A
file is read only if it is a regular file reached through real directories (no symlink, FIFO or
device), and a file is written back only through real directories of the destination.
"""

import os
import re
import stat
from pathlib import Path, PurePosixPath

# Parts of SQLite files and writes in progress: `opsbot backup` never copies them.
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".lock", ".tmp")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\\\\]")
_NAME_MAX = 255


class UnsafePath(ValueError):
    """A path from a backup that restore must not follow; the message says why."""


def relative_name(path: str, prefix: str) -> PurePosixPath:
    """`path` less `prefix/`, if every component is a plain name; else UnsafePath."""
    head, sep, rest = path.partition("/")
    if head != prefix or not sep:
        raise UnsafePath(f"it does not start with {prefix}/")
    parts = rest.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath("it is absolute, or has an empty, '.' or '..' component")
        if part.startswith(".") or part.endswith(SKIPPED_SUFFIXES):
            raise UnsafePath(f"{part!r} is a name opsbot never backs up")
        if _CONTROL.search(part) or len(part.encode("utf-8", "surrogatepass")) > _NAME_MAX:
            raise UnsafePath("it has a control character, a backslash or an overlong name")
    return PurePosixPath(*parts)


def read_regular(root: Path, relative: PurePosixPath) -> bytes:
    """The bytes of the regular file `root/relative`, reached without following a symlink."""
    here = root
    for part in relative.parts[:-1]:
        here = here / part
        mode = _mode(here)
        if mode is None:
            raise FileNotFoundError(here)
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{here} is not a directory (a symlink is not followed)")
    path = root / relative
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO must not hang the restore
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(path) from None
    except OSError as e:
        raise UnsafePath(f"{path} is not a regular file ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafePath(f"{path} is not a regular file")
        return f.read()


def check_destination(root: Path, relative: PurePosixPath) -> None:
    """That writing `root/relative` stays inside `root`: what already exists on the way is a
    real directory, and the file itself, if there, a regular file."""
    here = root
    for part in relative.parts[:-1]:
        here = here / part
        mode = _mode(here)
        if mode is None:
            return
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{here} is in the way: not a directory (a symlink is not followed)")
    mode = _mode(root / relative)
    if mode is not None and not stat.S_ISREG(mode):
        raise UnsafePath(f"{root / relative} is in the way: not a regular file")


def _mode(path: Path) -> int | None:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None
