"""The review a hotfix opens, and the one a crash may have kept it from opening.

The review opens in the step that commits the hotfix (`Outcome.then`). A crash between the two
commits would leave a hotfix with no review: the hourly task finds every desired version a
hotfix set whose commit no review names, and opens its review then, once (the request's event
id is the hotfix commit)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from bot.core.effects import Request
from bot.engine.context import Change, Context, Outcome
from bot.engine.requests import Requests
from bot.features.governance.hotfix_policy import HOTFIX_POLICY
from bot.state.proposals import Proposal, record_path

TRAILER = "Opsbot-Hotfix"


@dataclass(frozen=True)
class Review:
    """What a review proposal says of the hotfix it reviews."""

    number: int
    what: str  # "deploy web 1.4.3 to prod"
    incident: str
    requester: str
    env: str
    due: datetime

    def change(self, sha: str) -> Change:
        proposal = Proposal(
            number=self.number,
            summary=f"review: hotfix {self.what} for {self.incident}",
            requester=self.requester,
            env=self.env,
            approvals_required=1,
            expires=None,
            base=sha,
            kind="review",
            reviews=sha,
            hotfix=self.incident,
            due=self.due,
        )
        return Change(
            f"review {self.number} of the hotfix {self.what} for {self.incident}",
            {record_path(self.number): proposal.encode()},
            (("Opsbot-Proposal", str(self.number)), (TRAILER, self.incident)),
            branch=f"proposals/{self.number}",
            base=sha,
            new_branch=True,
        )


def unreviewed(ctx: Context) -> list[tuple[str, str, str]]:
    """(env, app, hotfix commit) of each desired version a hotfix set that no review names."""
    found = []
    for env in ctx.state.environments():
        for app, d in ctx.state.deployments(env).items():
            events = ctx.index.deploy_events(env, app) if d.hotfix else []
            if events:
                found.append((env, app, events[-1].sha))
    if not found:
        return []
    named = set()
    for number in ctx.proposals.numbers():
        proposal = ctx.proposals.get(number)
        if proposal is not None and proposal.reviews:
            named.add(proposal.reviews)
    return [item for item in found if item[2] not in named]


@dataclass(frozen=True)
class OpenReview(Request):
    """Opens the review a hotfix is owed, if it still is."""

    name: ClassVar[str] = "review"
    env: str
    app: str
    commit: str


def open_review(ctx: Context, request: OpenReview) -> Outcome:
    if (request.env, request.app, request.commit) not in unreviewed(ctx):
        return Outcome("the hotfix has its review")
    d = ctx.state.deployments(request.env)[request.app]
    assert d.requested_at is not None
    number = ctx.proposals.next_number()
    review = Review(
        number,
        f"{d.command or 'deploy'} {d.app} {d.version} to {d.env}",
        d.hotfix,
        d.requested_by,
        d.env,
        d.requested_at + timedelta(hours=ctx.policy.section(HOTFIX_POLICY).review_within_hours),
    )
    return Outcome(f"review {number} opened", change=review.change(request.commit))


@dataclass(frozen=True)
class Unreviewed(Request):
    name: ClassVar[str] = "hotfixes unreviewed"


def list_unreviewed(ctx: Context, request: Unreviewed) -> Outcome:
    return Outcome("", extra={"owed": [list(item) for item in unreviewed(ctx)]})


async def open_owed(requests: Requests) -> None:
    reply = await requests.request(Unreviewed(), "governance", name="opsbot")
    for env, app, sha in reply.extra.get("owed", []) if reply.ok else []:
        await requests.request(
            OpenReview(env, app, sha), "governance", name="opsbot", event_id=f"review:{sha}"
        )
