"""Proposals: changes that wait on a branch for a second person, read back from signed trees.

A proposal is a branch `proposals/<n>` that starts at main. Its first commit holds the change
and `proposals/<n>.toml`, the proposal itself:

    number = 3
    summary = "deploy: web 2.0.0 to prod"
    requested_by = "@bob:example.org"
    environment = "prod"
    approvals_required = 2
    expires = 2026-11-27T14:05:00Z
    base = "<the main commit it started from>"
    status = "open"                       # open | rejected | merged
    approved_by = ["@carol:example.org"]

A proposal of `kind = "review"` changes nothing: it asks for a second person's review of a change
already on main (a hotfix), whose commit it names, `reviews = "<40 hex digits>"`, with the
incident the hotfix was for, `hotfix = "INC-7"`, and when the review is due, `due = <time>`. Its
branch starts at that commit; approving it merges only its record.

Each approval that is not yet enough, and the rejection, is a commit on the branch that changes
only this file. The approval that is enough merges the branch into main, and main's tree gains
the file with `status = "merged"`: `git show main:proposals/3.toml` says who approved what.
Branches are never deleted and numbers never reused.

Everything here is read from files of trees whose every commit a trusted key signed; nothing
from a commit message, which anyone can write. A branch holding a commit no trusted key signed
(someone pushed to it) is not a proposal opsbot will merge.
"""

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import tomlkit
from dulwich.diff_tree import tree_changes
from dulwich.objects import Commit
from dulwich.refs import Ref

from bot.core.errors import Refused
from bot.core.ids import is_commit_id
from bot.state.index import Index
from bot.state.repo import PROPOSALS, StateRepo

FOLDER = "proposals"
MAX_NUMBER = 10**9  # the largest number `!approve` takes
_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
STATUSES = ("open", "rejected", "merged")
KINDS = ("change", "review")


def branch(number: int) -> Ref:
    return Ref(PROPOSALS + str(number).encode())


def record_path(number: int) -> str:
    return f"{FOLDER}/{number}.toml"


@dataclass(frozen=True)
class Proposal:
    number: int
    summary: str
    requester: str
    env: str | None
    approvals_required: int
    expires: datetime | None
    base: str  # the main commit the proposal started from
    approvers: tuple[str, ...] = ()
    rejected_by: str | None = None
    merged: bool = False
    tip: str = ""  # the branch's tip when read
    merged_in: str | None = None  # the commit on main that merged it, once it has
    trusted: bool = True  # every commit of the branch signed by a trusted key
    kind: str = "change"  # or "review": of a change already on main, which it changes nothing to
    reviews: str | None = None  # a review's: the commit on main it reviews
    hotfix: str | None = None  # a review's: the incident the hotfix it reviews was for
    due: datetime | None = None  # a review's: when it should be approved by

    def overdue(self, now: datetime) -> bool:
        return self.due is not None and now >= self.due and self.status(now) == "open"

    def status(self, now: datetime) -> str:
        if self.merged or self.merged_in:
            return "merged"
        if self.rejected_by:
            return "rejected"
        if self.expires and now >= self.expires:
            return "expired"
        return "open"

    def approved(self, by: str) -> "Proposal":
        return replace(self, approvers=(*self.approvers, by))

    def encode(self) -> str:
        doc = tomlkit.document()
        doc.add(tomlkit.comment(f"Proposal {self.number}, written by opsbot: a change waiting for"))
        doc.add(tomlkit.comment("approval on the branch proposals/<number>. Do not edit by hand."))
        doc["number"] = self.number
        doc["summary"] = self.summary
        doc["requested_by"] = self.requester
        if self.env:
            doc["environment"] = self.env
        doc["approvals_required"] = self.approvals_required
        if self.expires:
            doc["expires"] = self.expires
        doc["base"] = self.base
        doc["status"] = "merged" if self.merged else "rejected" if self.rejected_by else "open"
        doc["approved_by"] = list(self.approvers)
        if self.rejected_by:
            doc["rejected_by"] = self.rejected_by
        if self.kind != "change":
            doc["kind"] = self.kind
        for key, value in (("reviews", self.reviews), ("hotfix", self.hotfix), ("due", self.due)):
            if value is not None:
                doc[key] = value
        return tomlkit.dumps(doc)


def decode(number: int, text: str) -> Proposal | None:
    """The proposal in `proposals/<number>.toml`, or None if the file is not one."""
    try:
        data = tomllib.loads(text)
        approvers = data.get("approved_by", [])
        expires = data.get("expires")
        fields_ok = (
            data.get("number") == number
            and isinstance(data.get("summary"), str)
            and isinstance(data.get("requested_by"), str)
            and isinstance(data.get("environment", ""), str)
            and type(data.get("approvals_required")) is int
            and data["approvals_required"] >= 1
            and (expires is None or (isinstance(expires, datetime) and expires.tzinfo))
            and isinstance(data.get("base"), str)
            and data.get("status") in STATUSES
            and isinstance(approvers, list)
            and all(isinstance(a, str) for a in approvers)
            and isinstance(data.get("rejected_by", ""), str)
            and data.get("kind", "change") in KINDS
            and (data.get("reviews") is None or is_commit_id(str(data["reviews"])))
            and isinstance(data.get("hotfix", ""), str)
            and (
                data.get("due") is None
                or (isinstance(data["due"], datetime) and data["due"].tzinfo)
            )
        )
    except tomllib.TOMLDecodeError:
        return None
    if not fields_ok:
        return None
    return Proposal(
        number=number,
        summary=data["summary"],
        requester=data["requested_by"],
        env=data.get("environment") or None,
        approvals_required=data["approvals_required"],
        expires=expires.astimezone(UTC) if expires else None,
        base=data["base"],
        approvers=tuple(approvers),
        rejected_by=data.get("rejected_by") or None,
        merged=data["status"] == "merged",
        kind=data.get("kind", "change"),
        reviews=data.get("reviews"),
        hotfix=data.get("hotfix") or None,
        due=data["due"].astimezone(UTC) if data.get("due") else None,
    )


class ProposalBook:
    def __init__(self, repo: StateRepo, index: Index) -> None:
        self.repo = repo
        self.index = index

    def numbers(self) -> list[int]:
        """The numbers of the branches under `proposals/`, within what `!approve` takes."""
        names = self.repo.refs_under(PROPOSALS)
        return sorted(
            int(name) for name in names if _NUMBER.fullmatch(name) and int(name) <= MAX_NUMBER
        )

    def next_number(self) -> int:
        """One past the newest proposal opsbot made (a branch pushed by hand, whatever its
        number, is not one), skipping numbers a pushed branch already took."""
        taken = self.numbers()
        newest = next((n for n in reversed(taken) if self._made_here(n)), 0)
        number = newest + 1
        while number in taken:
            number += 1
        if number > MAX_NUMBER:
            raise Refused(
                f"proposal numbers are used up to {MAX_NUMBER}",
                hint="an admin removes the branches under proposals/ that opsbot did not make",
            )
        return number

    def _made_here(self, number: int) -> bool:
        found = self.get(number)
        return found is not None and found.trusted

    def get(self, number: int) -> Proposal | None:
        tip = self.repo.tip(branch(number))
        return None if tip is None else self._read(number, tip)

    def open(self, now: datetime) -> list[Proposal]:
        """The proposals still waiting: those merged or rejected are known to the index and not
        read again (branches are never deleted, so there are ever more of them)."""
        closed = self.index.closed_proposals()
        found = (self.get(n) for n in self.numbers() if n not in closed)
        return [p for p in found if p is not None and p.trusted and p.status(now) == "open"]

    def changes(self, proposal: Proposal) -> dict[str, bytes | None]:
        """The files the proposal changes, as they are on its branch (its own record aside)."""
        git = self.repo.git
        base, tip = git[proposal.base.encode()], git[proposal.tip.encode()]
        assert isinstance(base, Commit) and isinstance(tip, Commit)
        own = record_path(proposal.number)
        files: dict[str, bytes | None] = {}
        for entry in tree_changes(git.object_store, base.tree, tip.tree):
            if entry.new is not None and entry.new.path is not None and entry.new.sha:
                files[entry.new.path.decode()] = git[entry.new.sha].as_raw_string()
            elif entry.old is not None and entry.old.path is not None:
                files[entry.old.path.decode()] = None
        files.pop(own, None)
        return files

    def conflicts(self, proposal: Proposal, main: str | None) -> list[str]:
        """Paths the proposal changes that main (at `main`) has changed since it started."""
        if main is None:
            return []
        before, now = self.repo.snapshot(proposal.base), self.repo.snapshot(main)
        return [p for p in self.changes(proposal) if before.read(p) != now.read(p)]

    def _read(self, number: int, tip: str) -> Proposal | None:
        text = self.repo.snapshot(tip).text(record_path(number))
        found = decode(number, text) if text is not None else None
        if found is None:
            return None  # a branch made by hand, or by a release before proposals had files
        return replace(
            found,
            tip=tip,
            merged_in=self.index.merge_of(number),
            trusted=self._signed_from(found.base, tip),
        )

    def _signed_from(self, base: str, tip: str) -> bool:
        """Whether every commit from `base` (excluded) to `tip` is signed by a trusted key."""
        signers = self.repo.signers
        if signers is None:
            return True
        sha: bytes | None = tip.encode()
        for _ in range(10_000):
            if sha is None:
                return False  # never reached its base: not the branch it claims to be
            if sha.decode() == base:
                return True
            commit = self.repo.git[sha]
            if not isinstance(commit, Commit) or not signers.verifies(commit):
                return False
            sha = commit.parents[0] if commit.parents else None
        return False
