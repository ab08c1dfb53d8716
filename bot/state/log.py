"""Reading single commits back for people: `!show` prints a summary and the diff."""

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from dulwich.objects import Commit
from dulwich.patch import write_tree_diff

from bot.state.repo import StateRepo


@dataclass(frozen=True)
class CommitView:
    sha: str
    author: str
    at: datetime
    message: str
    diff: str


class RepoLog:
    def __init__(self, repo: StateRepo) -> None:
        self._repo = repo

    def commit(self, sha: str) -> CommitView:
        commit = self._repo.git[sha.encode()]
        assert isinstance(commit, Commit)
        parent = self._repo.git[commit.parents[0]].tree if commit.parents else None  # type: ignore[attr-defined]
        out = io.BytesIO()
        write_tree_diff(out, self._repo.git.object_store, parent, commit.tree)
        return CommitView(
            sha=sha,
            author=commit.author.decode("utf-8", "replace"),
            at=datetime.fromtimestamp(commit.author_time, UTC),
            message=commit.message.decode("utf-8", "replace"),
            diff=out.getvalue().decode("utf-8", "replace"),
        )
