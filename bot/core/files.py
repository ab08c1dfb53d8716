"""Files and directories opsbot makes, with the modes it means whatever the umask.

`mkdir(mode=...)` and `open()` only ever take bits away from the umask's default, and leave an
existing path as it was: under `umask 000` the repo's directories came out 0777, and a state
directory someone made 0777 beforehand kept it, with the signing key inside.
"""

import os
import stat
import tempfile
from pathlib import Path

PRIVATE_DIR = 0o700  # the state directory: the signing key, the Matrix store, the journals
PRIVATE_FILE = 0o600  # secrets
PUBLIC_DIR = 0o755  # the repo's directories: readable, writable by its owner alone
PUBLIC_FILE = 0o644  # the repo's files, the allowed-signers file, the lock


def at_most(path: Path, mode: int) -> None:
    """Takes from `path` every permission bit that `mode` does not have (keeps tighter ones)."""
    current = stat.S_IMODE(os.stat(path).st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)


def make_dir(path: Path, mode: int = PUBLIC_DIR) -> Path:
    """`path` as a directory with at most `mode`; missing parents are made with at most 0755."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=mode if directory == path else PUBLIC_DIR, exist_ok=True)
        at_most(directory, mode if directory == path else PUBLIC_DIR)
    at_most(path, mode)
    return path


def private_dir(path: Path) -> Path:
    """A directory only its owner may enter (0700), made if missing, tightened if it was not."""
    make_dir(path, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Replaces `path` with `data`, with exactly `mode`: through a temp file in the same directory
    (made 0600), so nobody reads it half written or with looser bits, and a crash leaves the old
    file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tighten_tree(root: Path, dirs: int = PUBLIC_DIR, files: int = PUBLIC_FILE) -> None:
    """`root` and every directory under it to at most `dirs`, every file to at most `files`."""
    at_most(root, dirs)
    for parent, subdirs, names in os.walk(root):
        for name in subdirs:
            at_most(Path(parent, name), dirs)
        for name in names:
            at_most(Path(parent, name), files)
