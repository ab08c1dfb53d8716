"""`opsbot backup` and `opsbot restore`: what Git does not hold, kept apart and brought back.

The repo is in Git and its mirrors. The state directory holds the rest, which no clone brings
back: the signing key and `allowed_signers`, the Matrix device (credentials, crypto store and
the key that encrypts it), the journals (sync position, handled invocations, hook runs, webhook
deliveries, runbook runs) and the runs' output files kept on the host, and, optionally, the
index (derived: rebuilt from the repo if left out).

A backup is a directory: the files under `state/` (and the signing key under `key/` when the
host config keeps it outside the state directory), and `manifest.json`, written last, after
every file is on disk. It says what each file is (size, sha256), which repo (its root commit,
and main's and the proposal branches' tips when the backup began) and which bot it belongs to,
and which release made it. A backup cut short has no manifest, and is refused as incomplete.

SQLite files are copied with SQLite's online backup API, which reads one consistent state of
the file while the bot goes on writing it. The repo's tips are read *before* the handled
invocations are copied: the engine records an invocation before it moves a ref, so every commit
those tips reach has its row in the copy. Commits made after (the mirror has them; the backup
does not) are remembered at restore from their trailers, which this release writes cleaned
(`bot.state.message`), so that no command that was done is run again after a restore.

Runbook runs are recorded on their own ref, `refs/opsbot/runs`, which mirrors carry like main.
Its tip is read *after* `runs.sqlite` is copied: the executor commits a run before it marks it
recorded, so every run the copy calls recorded is reached by that tip. A restore into a clone
that lacks it is refused (or, with `--force`, the runs the clone lacks are marked unrecorded,
and the executor records them again from the journal when the bot starts).
"""

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

from dulwich.objects import Commit, ObjectID
from dulwich.repo import Repo

from bot.core.files import PRIVATE_FILE, PUBLIC_FILE, private_dir, write_file
from bot.service.backup_manifest import (
    KEY,
    MANIFEST,
    STATE,
    BackupError,
    Entry,
    Manifest,
    check_tips,
    checked,
)
from bot.service.backup_paths import (
    SKIPPED_SUFFIXES,
)
from bot.service.upgrade import (
    Host,
    OtherBot,
    invocations_in_trailers,
    remember_own_tip,
    seed_handled,
)
from bot.state.outbox_file import open_outbox
from bot.state.repo import MAIN, PROPOSALS, Identity, StateRepo

_SQLITE = b"SQLite format 3\x00"


def backup(host: Host, to: Path, *, with_index: bool = True) -> Manifest:
    """Writes a backup of `host`'s state directory (and key) into `to`, new or empty."""
    to = Path(to)
    if to.exists() and any(to.iterdir()):
        raise BackupError(f"{to} is not empty: back up into a new directory")
    state_dir = host.paths.state_dir
    if not state_dir.is_dir():
        raise BackupError(f"{state_dir} does not exist: nothing to back up")
    repo = StateRepo(host.paths.repo, committer=Identity("opsbot", host.bot_id), signer=None)
    try:
        main, proposals, root = _identity(repo)  # before the handled invocations are copied
        private_dir(to)  # it holds the signing key
        entries = []
        for source in _state_files(host, with_index):
            name = f"{STATE}/{source.relative_to(state_dir).as_posix()}"
            entries.append(_copy(source, to / name, name, STATE))
        runs = _kept_tip(repo, host)  # after the runs journal is copied
    finally:
        repo.close()
    if host.key_file.exists() and not host.key_file.is_relative_to(state_dir):
        entries.append(_copy(host.key_file, to / KEY / "signing_key", f"{KEY}/signing_key", KEY))
    _sync_dirs(to)
    manifest = Manifest(host.bot_id, root, main, proposals, entries, runs)
    write_file(to / MANIFEST, manifest.encode(), PRIVATE_FILE)  # last: it makes the backup whole
    _sync_dirs(to)
    return manifest


def restore(host: Host, source: Path, *, force: bool = False) -> list[str]:
    """Brings the state directory (and key) of a backup back for `host`, whose repo is a clone
    of the backed-up bot's repo. Refuses another repo's or another bot's backup, a backup whose
    files do not match its manifest, and a state directory that has files, unless `force`."""
    source = Path(source)
    manifest = Manifest.read(source)
    if manifest.bot_id != host.bot_id:
        raise OtherBot(
            f"the backup is of {manifest.bot_id}, and the config's bot is {host.bot_id}: "
            "restore it with that bot's config"
        )
    if not (host.paths.repo / "HEAD").exists():
        raise BackupError(
            f"{host.paths.repo} is not a repo: clone the state repo from a mirror first "
            f"(git clone --mirror MIRROR {host.paths.repo})"
        )
    repo = StateRepo(host.paths.repo, committer=Identity("opsbot", host.bot_id), signer=None)
    try:
        return _restore(host, source, manifest, repo, force)
    finally:
        repo.close()


def _restore(
    host: Host, source: Path, manifest: Manifest, repo: StateRepo, force: bool
) -> list[str]:
    check_tips(manifest)
    main, _, root = _identity(repo)
    if root != manifest.root:
        raise BackupError(
            f"the backup is of another state repo (first commit {manifest.root[:12]}, and "
            f"{host.paths.repo}'s is {root[:12]})"
        )
    if not _has(repo, manifest.main) and not force:
        raise BackupError(
            f"{host.paths.repo} lacks main's commit {manifest.main[:12]} of the backup: the clone "
            "is older than the backup; clone from an up-to-date mirror (or --force)"
        )
    if manifest.runs and not _has(repo, manifest.runs) and not force:
        raise BackupError(
            f"{host.paths.repo} lacks the runs' commit {manifest.runs[:12]} of the backup "
            f"({_kept_name(host)}): clone from an up-to-date mirror, one that pushes the runs "
            "too (or --force: the runs it lacks are recorded again from the journal)"
        )
    files = checked(host, source, manifest)  # every path and file, before anything is written
    busy = _existing_files(host)
    if busy and not force:
        raise BackupError(
            f"{host.paths.state_dir} is not empty ({busy[0]} and {len(busy) - 1} more): "
            "restore into an empty state directory, or give --force to replace it"
        )
    state_dir = private_dir(host.paths.state_dir)
    restored = 0
    for entry, target, data in files:
        _private_parents(target, stop=state_dir if entry.to == STATE else target.parent.parent)
        for part in ("-wal", "-shm"):  # a replaced SQLite file's leftovers would be replayed
            Path(f"{target}{part}").unlink(missing_ok=True)
        mode = entry.mode & (PUBLIC_FILE if target.name == "allowed_signers" else PRIVATE_FILE)
        write_file(target, data, mode)  # the bytes that were checked, not a second read
        restored += 1
    _configure(repo, host)
    caught_up = _catch_up(host, repo, [manifest.main, *manifest.proposals.values()])
    remember_own_tip(host, repo)
    redone = _journals_restored(host, repo)
    lines = [
        f"restored {restored} files of {manifest.bot_id}'s backup of {manifest.created} "
        f"(release {manifest.release}) into {state_dir}",
        f"state repo {host.paths.repo}: main {main[:7]}, "
        f"{_count_after(repo, manifest.main)} commit(s) newer than the backup",
    ]
    if caught_up:
        lines.append(f"remembered {caught_up} command(s) committed after the backup as done")
    return lines + redone


# what is backed up


def _state_files(host: Host, with_index: bool) -> list[Path]:
    state_dir = host.paths.state_dir
    found = []
    for parent, dirs, names in os.walk(state_dir):
        here = Path(parent)
        # The repo may live inside the state directory (/var/lib/opsbot/state.git): Git's.
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != host.paths.repo.resolve())
        for name in sorted(names):
            path = here / name
            if name.endswith(SKIPPED_SUFFIXES) or name.startswith("."):
                continue
            if not with_index and path.resolve() == host.paths.index.resolve():
                continue
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
    return found


def _copy(source: Path, target: Path, name: str, to: str) -> Entry:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(source.stat().st_mode)
    with source.open("rb") as f:
        is_sqlite = f.read(len(_SQLITE)) == _SQLITE
    if is_sqlite:
        _sqlite_copy(source, target)
    else:
        write_file(target, source.read_bytes(), PRIVATE_FILE)
    data = target.read_bytes()
    return Entry(name, to, len(data), hashlib.sha256(data).hexdigest(), mode, is_sqlite)


def _sqlite_copy(source: Path, target: Path) -> None:
    """One consistent state of a live SQLite file, as a self-contained file (no WAL beside it)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        os.chmod(target, PRIVATE_FILE)
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy stands alone, whatever the source
    finally:
        dst.close()
        src.close()
    with target.open("rb+") as f:
        os.fsync(f.fileno())


def _sync_dirs(root: Path) -> None:
    for parent, _, _ in os.walk(root):
        fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# which repo


def _identity(repo: StateRepo) -> tuple[str, dict[str, str], str]:
    """main's tip, the proposal branches' tips, and the repo's first commit."""
    main = repo.tip(MAIN)
    if main is None:
        raise BackupError(f"{repo.path} has no main branch")
    sha = main.encode()
    while True:
        commit = repo.git[sha]
        assert isinstance(commit, Commit)
        if not commit.parents:
            return main, repo.refs_under(PROPOSALS), sha.decode()
        sha = commit.parents[0]


def _kept_tip(repo: StateRepo, host: Host) -> str:
    """The tip of the ref the features keep beside main (the runs ref), "" while there is
    none. Format 1 of the manifest has room for one such ref, as `runs`."""
    assert len(host.refs) <= 1, "a second ref beside main needs a new manifest format"
    return next((tip for ref in host.refs if (tip := repo.tip(ref))), "")


def _kept_name(host: Host) -> str:
    return " ".join(ref.decode() for ref in host.refs)


def _has(repo: StateRepo, sha: str) -> bool:
    store = repo.git.object_store
    oid = ObjectID(sha.encode())
    return store.contains_loose(oid) or store.contains_packed(oid)


def _count_after(repo: StateRepo, sha: str) -> int:
    main = repo.tip(MAIN)
    if main is None or not _has(repo, sha):
        return 0
    walker = repo.git.get_walker(
        include=[ObjectID(main.encode())], exclude=[ObjectID(sha.encode())]
    )
    return len(list(walker))


# bringing it back


def _existing_files(host: Host) -> list[str]:
    state_dir = host.paths.state_dir
    if not state_dir.exists():
        return []
    found = []
    for parent, dirs, names in os.walk(state_dir):
        here = Path(parent)
        dirs[:] = [d for d in dirs if (here / d).resolve() != host.paths.repo.resolve()]
        found += [str((here / n).relative_to(state_dir)) for n in names]
    return sorted(found)


def _private_parents(target: Path, stop: Path) -> None:
    """The directories down to `target`, made 0700 (the state directory's are all private)."""
    missing = [p for p in target.parents if not p.exists() and p.is_relative_to(stop)]
    for directory in reversed(missing):
        private_dir(directory)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def _configure(repo: StateRepo, host: Host) -> None:
    """What `opsbot init` set in the repo's own config, which a clone does not bring."""
    git = Repo(str(repo.path))
    config = git.get_config()
    config.set((b"opsbot",), b"botId", host.bot_id.encode())
    config.set((b"gpg",), b"format", b"ssh")
    config.set((b"gpg", b"ssh"), b"allowedSignersFile", str(host.paths.allowed_signers).encode())
    config.write_to_path()
    git.close()


def _journals_restored(host: Host, repo: StateRepo) -> list[str]:
    """What each journal does about what it remembers and the clone lacks (the runs whose
    record is missing are recorded again: see the module's note)."""
    said = []
    for journal in host.journals:
        if journal.restored is not None:
            line = journal.restored(host.paths.state_dir / journal.path, lambda s: _has(repo, s))
            if line:
                said.append(line)
    return said


def _catch_up(host: Host, repo: StateRepo, tips: list[str]) -> int:
    """Remembers the commands committed after the backup as done (see the module's note)."""
    conn = open_outbox(host.paths.outbox)  # a backup of 0.3.0's: its handled.sqlite copied in
    try:
        known = [t for t in tips if _has(repo, t)]
        rows = invocations_in_trailers(repo, host.signers(), exclude=known)
        return seed_handled(repo, conn, rows)
    finally:
        conn.close()
