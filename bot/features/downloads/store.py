"""Where download runs write: one directory per run under `[downloads] dir`, all of them
together within `[downloads] quota_bytes`, each removed `retention_hours` after its run ended.

Sizes are apparent sizes (what `ls -l` shows, what the person receives), summed over regular
files; symlinks are never followed, so a program cannot make the bot read or deliver a file
outside its run's directory.
"""

import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CHUNK = 1024 * 1024


class QuotaExceeded(Exception):
    def __init__(self, needed: int, room: int, quota: int) -> None:
        super().__init__(f"needs {needed} bytes, {room} left of a {quota}-byte quota")
        self.needed, self.room, self.quota = needed, room, quota


@dataclass(frozen=True)
class File:
    name: str  # relative to the run's directory, with / between parts
    path: Path
    size: int


class DownloadStore:
    def __init__(self, root: Path, quota: int) -> None:
        self.root = Path(root)
        self.quota = quota

    def run_dir(self, run_id: str) -> Path:
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.root / run_id

    def open_run(self, run_id: str) -> Path:
        """A fresh, empty directory for `run_id`, only the bot's user can read."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.run_dir(run_id)
        if path.exists():
            shutil.rmtree(path)  # left by a run that never finished: it starts over
        path.mkdir(mode=0o700)
        return path

    def files(self, run_id: str) -> list[File]:
        """The regular files a run wrote, sorted by name; symlinks and the like are skipped."""
        base = self.run_dir(run_id)
        found = []
        for folder, dirs, names in os.walk(base, followlinks=False):
            dirs.sort()
            for name in names:
                path = Path(folder) / name
                st = path.lstat()
                if path.is_file() and not path.is_symlink():
                    found.append(File(path.relative_to(base).as_posix(), path, st.st_size))
        return sorted(found, key=lambda f: f.name)

    def used(self, run_id: str | None = None) -> int:
        """Bytes in one run's directory, or in all of them."""
        base = self.run_dir(run_id) if run_id else self.root
        total = 0
        for folder, _dirs, names in os.walk(base, followlinks=False):
            for name in names:
                try:
                    st = os.lstat(os.path.join(folder, name))
                except FileNotFoundError:
                    continue  # removed while we counted
                total += st.st_size
        return total

    def room(self) -> int:
        """How many more bytes the quota allows."""
        return max(0, self.quota - self.used())

    def check(self, needed: int) -> None:
        """Raises QuotaExceeded when `needed` more bytes would not fit."""
        room = self.room()
        if needed > room:
            raise QuotaExceeded(needed, room, self.quota)

    def remove(self, run_id: str) -> None:
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def stale(self, older_than: float, keep: set[str]) -> list[str]:
        """Run directories not touched for `older_than` seconds, other than `keep` (runs still
        running or not yet expired by their ledger), oldest first."""
        if not self.root.is_dir():
            return []
        limit = time.time() - older_than
        found = []
        for entry in self.root.iterdir():
            if entry.name in keep or not RUN_ID.fullmatch(entry.name):
                continue
            mtime = entry.lstat().st_mtime
            if mtime < limit:
                found.append((mtime, entry.name))
        return [name for _, name in sorted(found)]


def sha256(path: Path) -> str:
    """The file's sha256, read in chunks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
