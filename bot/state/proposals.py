"""Proposals: changes that wait on a branch for a second person, read back from Git.

A proposal is a branch `proposals/<n>` that starts at main. Its first commit is the change, with
trailers saying who may merge it and until when:

    Opsbot-Proposal: 3
    Environment: prod
    Approvals-Required: 1
    Expires: 2026-11-27T14:05:00Z

Further commits on the branch record approvals that are not yet enough (`Approved-by:`) or the
rejection (`Opsbot-Rejected:`). When enough people approved, a merge commit on main brings the
change in, carrying every `Approved-by:` trailer. Branches are never deleted: `git branch -a`
shows every proposal ever made, and numbers are never reused.

Everything here is read from Git, but for which proposals main has merged: that is the index's
answer (a merge commit on main carries `Opsbot-Proposal: <n>`), rather than a walk of main's
history for each proposal. Callers sync the index first; the engine does, before each command.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from dulwich.diff_tree import tree_changes
from dulwich.objects import Commit
from dulwich.refs import Ref

from bot.state.index import Index
from bot.state.message import read_trailers, summary_of
from bot.state.repo import MAIN, PROPOSALS, StateRepo


def branch(number: int) -> Ref:
    return Ref(PROPOSALS + str(number).encode())


@dataclass(frozen=True)
class Proposal:
    number: int
    tip: str
    base: str  # the main commit the proposal started from
    change: str  # the commit holding the change
    summary: str
    requester: str
    env: str | None
    approvals_required: int
    expires: datetime | None
    approvers: tuple[str, ...] = ()
    rejected_by: str | None = None
    merged_in: str | None = None

    def status(self, now: datetime) -> str:
        if self.merged_in:
            return "merged"
        if self.rejected_by:
            return "rejected"
        if self.expires and now >= self.expires:
            return "expired"
        return "open"


class ProposalBook:
    def __init__(self, repo: StateRepo, index: Index) -> None:
        self.repo = repo
        self.index = index

    def numbers(self) -> list[int]:
        return sorted(int(name) for name in self.repo.refs_under(PROPOSALS) if name.isdigit())

    def next_number(self) -> int:
        return max(self.numbers(), default=0) + 1

    def get(self, number: int) -> Proposal | None:
        tip = self.repo.tip(branch(number))
        return None if tip is None else self._read(number, tip)

    def open(self, now: datetime) -> list[Proposal]:
        """The proposals still waiting: those merged or rejected are known to the index and not
        read again (branches are never deleted, so there are ever more of them)."""
        closed = self.index.closed_proposals()
        found = (self.get(n) for n in self.numbers() if n not in closed)
        return [p for p in found if p is not None and p.status(now) == "open"]

    def changes(self, proposal: Proposal) -> dict[str, bytes | None]:
        """The files the proposal changes, as they are in the proposal."""
        git = self.repo.git
        base, change = git[proposal.base.encode()], git[proposal.change.encode()]
        assert isinstance(base, Commit) and isinstance(change, Commit)
        files: dict[str, bytes | None] = {}
        for entry in tree_changes(git.object_store, base.tree, change.tree):
            if entry.new is not None and entry.new.path is not None and entry.new.sha:
                files[entry.new.path.decode()] = git[entry.new.sha].as_raw_string()
            elif entry.old is not None and entry.old.path is not None:
                files[entry.old.path.decode()] = None
        return files

    def conflicts(self, proposal: Proposal) -> list[str]:
        """Paths the proposal changes that main has changed since the proposal started."""
        head = self.repo.tip(MAIN)
        if head is None:
            return []
        before, now = self.repo.snapshot(proposal.base), self.repo.snapshot(head)
        return [p for p in self.changes(proposal) if before.read(p) != now.read(p)]

    def _read(self, number: int, tip: str) -> Proposal | None:
        git = self.repo.git
        chain: list[Commit] = []
        sha: bytes | None = tip.encode()
        # Walk back to the commit that opened the proposal (the one with Opsbot-Proposal).
        while sha is not None:
            commit = git[sha]
            assert isinstance(commit, Commit)
            chain.append(commit)
            if read_trailers(commit.message).get("Opsbot-Proposal") == str(number):
                break
            sha = commit.parents[0] if commit.parents else None
        else:
            return None
        opening = chain[-1]
        trailers = read_trailers(opening.message)
        approvers: list[str] = []
        rejected_by = None
        for commit in reversed(chain):
            t = read_trailers(commit.message)
            if "Approved-by" in t and commit is not opening:
                approvers.append(t["Approved-by"])
            if "Opsbot-Rejected" in t:
                rejected_by = _user_of(commit.author)
        return Proposal(
            number=number,
            tip=tip,
            base=opening.parents[0].decode(),
            change=opening.id.decode(),
            summary=summary_of(opening.message),
            requester=_user_of(opening.author),
            env=trailers.get("Environment"),
            approvals_required=int(trailers.get("Approvals-Required", "1")),
            expires=_time(trailers.get("Expires")),
            approvers=tuple(approvers),
            rejected_by=rejected_by,
            merged_in=self.index.merge_of(number),
        )


def _user_of(ident: bytes) -> str:
    text = ident.decode("utf-8", "replace")
    return text[text.rfind("<") + 1 : text.rfind(">")]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
