"""What is in force on main: the tip opsbot itself wrote (or an admin adopted), as opsbot
durably remembers it.

A signature proves who made a commit, not that it belongs on main. The bot's key signs commits
on proposal branches and on the runs ref too, so a push that moves main onto one of them would
carry a valid signature and still be a change nobody approved. So opsbot does not ask "which
commit on main verifies?"; it remembers, in the state directory where no pusher can write, the
tip of main it last wrote, and reads main against that:

- main is that tip, or descends from it along first parents: the commits above are outside
  changes, announced and not applied. Only a run of commits at the bottom that each verify
  against a key the operator listed for a team that signs its own commits (never the bot's own
  key, which signs elsewhere too) is taken into force with the tip.
- main does not descend from it (a force-push, an orphan commit, a branch moved onto main): main
  has *diverged*. Nothing of it is applied and writes wait until an admin decides, exactly as
  for outside commits.
- nothing remembered (a repo nobody ran `opsbot migrate` or the bot on): nothing is in force,
  never HEAD.

The record is one small file, written twice by `StateRepo.commit`: before the objects are made
durable, naming the tip in force and the commit about to become it (`pending`), and once the ref
has moved, naming that commit alone. A crash in between leaves a pending commit that main
contains (then it is the tip) or does not (the move never happened: ignored). So only the first
write is waited for (before the ref moves); the second, lost on a power cut, leaves a pending
commit that main contains, which reads the same.
"""

import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.objects import Commit

from bot.core.ids import is_commit_id
from bot.state.allowed_signers import AllowedSigners
from bot.state.durable import datasync
from bot.state.signing import signer_of

FILE = "in_force"  # in the state directory, beside the signing key
MAX_LISTED = 1000  # outside commits listed at most (the rest are counted as "more")
MAX_WALK = 200_000  # first parents read looking for the tip: past that, main has diverged
RECORD_SIZE = 128  # bytes, padded: every write covers the whole record, within one disk sector


@dataclass(frozen=True)
class Remembered:
    """The tip in force as last written, and the commit that was about to replace it."""

    tip: str | None
    pending: str | None = None

    def render(self) -> str:
        lines = [f"tip {self.tip or '-'}"]
        if self.pending:
            lines.append(f"pending {self.pending}")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> "Remembered | None":
        fields: dict[str, str] = {}
        for line in text.rstrip("\n").splitlines():  # the record is padded with line breaks
            key, _, value = line.partition(" ")
            fields[key] = value.strip()
        tip, pending = fields.get("tip"), fields.get("pending")
        if tip is None or not (tip == "-" or is_commit_id(tip)):
            return None
        if pending is not None and not is_commit_id(pending):
            return None
        return cls(None if tip == "-" else tip, pending)


class InForceRecord:
    """The file in the state directory that remembers the tip in force."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> Remembered | None:
        """What the file says; None when there is no file or it is not one of ours (then
        nothing is in force until `opsbot migrate` or an admin decides)."""
        for _ in range(3):  # a write by another process may be under way: it takes microseconds
            try:
                text = self.path.read_bytes().decode()
            except FileNotFoundError:
                return None
            except (OSError, UnicodeDecodeError):
                text = ""
            found = Remembered.parse(text)
            if found is not None:
                return found
            time.sleep(0.001)
        return None

    def write(self, remembered: Remembered, *, durable: bool) -> None:
        """Writes the record over the old one in one write of one sector, in place: no new
        file, no directory entry, so making it durable writes one block, not an inode and a
        directory. `durable`: wait for the disk here (the caller needs nothing else)."""
        data = remembered.render().encode().ljust(RECORD_SIZE, b"\n")
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data, 0)
            if durable:
                datasync(fd)
        finally:
            os.close(fd)
        if created:  # once: the name itself must survive a power cut
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


@dataclass(frozen=True)
class Trust:
    """main read against what is in force.

    `commit` is the tip in force (None: nothing is), `outside` the commits on main that are not
    in force, oldest first (at most `MAX_LISTED` of the oldest; `more` counts the rest), `head`
    main's tip, and `diverged` says main no longer descends from the tip in force.
    """

    commit: str | None
    outside: tuple[Commit, ...] = field(default=())
    head: str | None = None
    diverged: bool = False
    more: int = 0

    @property
    def clean(self) -> bool:
        return not self.outside and not self.diverged

    @property
    def count(self) -> int:
        return len(self.outside) + self.more


def trust_of(
    get: Callable[[bytes], Commit],
    head: str | None,
    remembered: Remembered | None,
    team: AllowedSigners | None,
    own_key: bytes | None,
) -> Trust:
    """Reads main (at `head`) against the remembered tip. `team` are the keys whose commits on
    top of the tip come into force with it; a commit `own_key` signed never does (the bot signs
    branches and the runs ref too: only its record says what it put on main)."""
    if head is None:
        return Trust(None)
    tip = _resolve(get, head, remembered)
    if tip is None:
        return _diverged(get, head, None)
    above: list[bytes] = []  # ids only, newest first: a flood of pushes stays cheap to hold
    sha: bytes | None = head.encode()
    for _ in range(MAX_WALK):
        if sha is None:
            return _diverged(get, head, tip)  # reached the root without meeting the tip
        if sha.decode() == tip:
            above.reverse()
            return _taken_into_force(get, tip, above, head, team, own_key)
        above.append(sha)
        commit = get(sha)
        sha = commit.parents[0] if commit.parents else None
    return _diverged(get, head, tip)


def _resolve(
    get: Callable[[bytes], Commit], head: str, remembered: Remembered | None
) -> str | None:
    """The tip in force: the pending commit if main contains it (the ref moved, and then the
    process stopped before writing anything else), else the recorded tip."""
    if remembered is None:
        return None
    if remembered.pending and contains(get, head, remembered.pending):
        return remembered.pending
    return remembered.tip


def contains(get: Callable[[bytes], Commit], head: str, sha: str, limit: int = MAX_WALK) -> bool:
    """Whether `sha` is `head` or one of its first parents."""
    at: bytes | None = head.encode()
    for _ in range(limit):
        if at is None:
            return False
        if at.decode() == sha:
            return True
        commit = get(at)
        at = commit.parents[0] if commit.parents else None
    return False


def _taken_into_force(
    get: Callable[[bytes], Commit],
    tip: str,
    above: list[bytes],
    head: str,
    team: AllowedSigners | None,
    own_key: bytes | None,
) -> Trust:
    """The team's signed commits right above the tip (oldest first in `above`) are in force
    with it; from the first commit that is not one, the rest are outside."""
    in_force, taken = tip, 0
    for sha in above:
        commit = get(sha)
        if team is None or signer_of(commit) in (None, own_key) or not team.verifies(commit):
            break
        in_force, taken = sha.decode(), taken + 1
    rest = above[taken:]
    listed = tuple(get(sha) for sha in rest[:MAX_LISTED])
    return Trust(in_force, listed, head, more=len(rest) - len(listed))


def _diverged(get: Callable[[bytes], Commit], head: str, tip: str | None) -> Trust:
    """main does not hold the tip in force: its commits back to where the two histories meet
    (or `MAX_LISTED` of them) are outside."""
    ours: set[bytes] = set()
    at = tip.encode() if tip else None
    while at is not None and len(ours) < 10 * MAX_LISTED:
        ours.add(at)
        parents = get(at).parents
        at = parents[0] if parents else None
    listed: list[Commit] = []
    sha: bytes | None = head.encode()
    while sha is not None and sha not in ours and len(listed) < MAX_LISTED:
        commit = get(sha)
        listed.append(commit)
        sha = commit.parents[0] if commit.parents else None
    return Trust(tip, tuple(reversed(listed)), head, diverged=True)


def seed(
    get: Callable[[bytes], Commit],
    head: str | None,
    own_keys: Collection[bytes],
    elsewhere: set[str],
) -> str | None:
    """For a repo written before opsbot remembered its tip (`opsbot migrate`, a restore of an
    older backup): the newest commit on main's first parents that one of the bot's own keys
    (the present one, or one it had before) signed and that is not one of `elsewhere` (the
    commits of proposal branches and of the runs ref)."""
    sha = head.encode() if head and own_keys else None
    for _ in range(MAX_WALK):
        if sha is None:
            return None
        commit = get(sha)
        if sha.decode() not in elsewhere and signer_of(commit) in own_keys:
            return sha.decode()
        sha = commit.parents[0] if commit.parents else None
    return None
