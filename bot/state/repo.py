"""StateRepo: the only writer of the state repository.

A bare repository (no working tree, no index). A transaction writes its blobs, trees and commit
straight into the object store, makes exactly those files and their directories durable, and
only then moves `refs/heads/main` with a compare-and-swap (bot/state/durable.py). A crash at any
moment therefore leaves either the old HEAD or the new one, never a ref pointing at a missing
object; at worst a few unreachable objects that `git gc` collects.

One writer at a time: a thread lock inside the process and an advisory `flock` on a file in the
repo against other processes (the CLI, a second bot by mistake). Holding the lock, the caller reads
HEAD, decides, and commits against the HEAD it read; the CAS catches anyone who wrote without the
lock (a `git push` into the repo), and the caller retries on the new HEAD.
"""

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dulwich.config import ConfigFile
from dulwich.objects import ObjectID
from dulwich.refs import HEADREF, Ref
from dulwich.repo import Repo

from bot.core.files import PUBLIC_FILE, at_most, tighten_tree
from bot.core.text import clean
from bot.state.allowed_signers import AllowedSigners
from bot.state.durable import NewObjects, RefLock
from bot.state.in_force import InForceRecord, Remembered, Trust, trust_of
from bot.state.message import Message
from bot.state.objects import Changes, commit_objects
from bot.state.reader import MAIN, PROPOSALS, RepoReader, Snapshot
from bot.state.signing import SigningKey, public_blob

# The names the rest of opsbot reads the repo by, wherever they are defined.
__all__ = [
    "LOCK_FILE",
    "MAIN",
    "PROPOSALS",
    "Changes",
    "ConcurrentUpdate",
    "Identity",
    "Snapshot",
    "StateRepo",
    "refuse_rewrites",
]

LOCK_FILE = "opsbot.lock"


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


class StateRepo(RepoReader):
    """The state repo, read (`RepoReader`) and written: by one writer at a time, each commit
    durable before its ref moves."""

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
        super().__init__(path)
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
        self._thread_lock = threading.Lock()

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
        trust = trust_of(self.commit_of, head, remembered, self.team, own)
        self._trusts = (key, trust)
        return trust

    def trusted_snapshot(self) -> Snapshot:
        """The tree in force (an empty tree if nothing is)."""
        return self.in_force_snapshot(self.trust())

    def in_force_snapshot(self, trust: Trust) -> Snapshot:
        """The tree of `trust`'s commit in force; an empty tree, never HEAD's, if there is none."""
        tree = self.commit_of(trust.commit.encode()).tree if trust.commit else None
        return Snapshot(self, trust.commit, tree)

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
        commit's id while its objects are made durable, before the ref names it: the engine
        records there which invocation it is for, so a crash on either side of the move is told
        apart.
        """
        base_tree = self.commit_of(parent.encode()).tree if parent else None
        new_objects, commit = commit_objects(
            self.get,
            base_tree,
            changes,
            parents=[*([parent] if parent else []), *merge],
            author=author.git(),
            committer=self.committer.git(),
            when=when,
            message=message.render().encode(),
            signer=self.signer,
        )
        written = NewObjects(self.path, self._git.object_store.loose_compression_level)
        try:
            for obj in [*new_objects, commit]:
                written.add(obj)
                self._objects.keep(obj)  # read again at once: the index, the reconciler, the answer
        except BaseException:
            written.close()
            raise
        sha = commit.id.decode()
        tip = expect or parent
        old = None if new_ref or not tip else ObjectID(tip.encode())
        # Only a commit on main changes what is in force, and only where it is remembered.
        record = self.in_force if ref == MAIN else None
        lock = RefLock(self._git.refs, self.path, ref)
        try:
            if not lock.holds(old):
                written.close()
                raise ConcurrentUpdate(f"{ref.decode()} moved away from {tip}")
            lock.write(commit.id)
            # Durable with the objects, before the ref moves: a power cut after the move must
            # not leave main past the tip remembered, which would read as a commit opsbot did
            # not write.
            self._remember(record, Remembered(self.trust().commit, sha), durable=False)
            if record is not None:
                written.also(record.path)
            # The caller's record of the commit is written while the disk is waited for: it
            # must be durable before the ref moves, as the objects must, not before them (a row
            # naming a commit whose objects a power cut lost names a commit nobody can reach,
            # as when the ref never moved). The ref's new value is made durable alongside, so
            # that moving it then waits for the disk once.
            told = before_move
            written.durable(
                meanwhile=(lambda: told(sha)) if told is not None else None,
                alongside=[lock.sync],
            )
            self._move(lock)
        finally:
            lock.release()
        # Settled at once: a pending commit that main later stops containing (a push moved main
        # away) must not read as one that never landed. Not waited for: lost on a power cut,
        # the pending commit main contains is the tip all the same.
        self._remember(record, Remembered(sha), durable=False)
        return sha

    def _remember(
        self, record: InForceRecord | None, remembered: Remembered, *, durable: bool
    ) -> None:
        if record is not None:
            record.write(remembered, durable=durable)

    def _move(self, lock: RefLock) -> None:
        """The moment the ref names the new commit (durable once it returns)."""
        lock.move()
