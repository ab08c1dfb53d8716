"""Which commits opsbot trusts: those signed by a key in the host's allowed-signers files.

The repo can be pushed to by anyone with access to it, and a commit message says whatever its
author wrote. So what is in force (the policy, freezes, desired versions) is read from the tree
of the newest commit on main that verifies against these keys: the bot's own, plus any the
operator lists for a team that signs its own commits. Commits on top that do not verify are
outside changes waiting for an admin to `!adopt` (or `!discard`) them, in a signed commit that
records who did.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from dulwich.objects import Commit

from bot.state.allowed_signers import AllowedSigners as AllowedSigners

MAX_WALK = 1000  # outside commits listed at most; past that, the repo needs a person anyway


@dataclass(frozen=True)
class Trust:
    """Where main's trusted part ends: `commit` is the newest verified commit on main's first
    parents (None if there is none), `outside` the commits above it, oldest first."""

    commit: str | None
    outside: tuple[Commit, ...] = field(default=())

    @property
    def clean(self) -> bool:
        return not self.outside


def trust_of(
    get: Callable[[bytes], Commit], head: str | None, signers: AllowedSigners | None
) -> Trust:
    """Walks main back from `head` to its newest verified commit."""
    if head is None or signers is None:
        return Trust(head)
    outside: list[Commit] = []
    sha: bytes | None = head.encode()
    while sha is not None and len(outside) < MAX_WALK:
        commit = get(sha)
        if signers.verifies(commit):
            return Trust(sha.decode(), tuple(reversed(outside)))
        outside.append(commit)
        sha = commit.parents[0] if commit.parents else None
    return Trust(None, tuple(reversed(outside)))
