"""The daily reminder of the hotfixes that wait for their review, in the announcement rooms
(and, before it, the reviews a crash kept from opening: reviews.py).

Once a day, whatever restarts: the outbox keeps one effect per identity, and the identity is
the day (as the metrics' weekly digest does with its week)."""

from dataclasses import dataclass
from typing import ClassVar

from bot.core.effects import Notify, Request
from bot.engine.context import Context, Outcome
from bot.engine.requests import RequestKind, Requests, Task
from bot.features.governance.reviews import (
    OpenReview,
    Unreviewed,
    list_unreviewed,
    open_owed,
    open_review,
)
from bot.features.timefmt import at


@dataclass(frozen=True)
class ReviewsOwed(Request):
    """The hotfixes whose review is not approved yet: read-only."""

    name: ClassVar[str] = "hotfix reviews"


def reviews_owed(ctx: Context, request: ReviewsOwed) -> Outcome:
    day = f"{ctx.now:%Y-%m-%d}"
    waiting = [p for p in ctx.proposals.open(ctx.now) if p.kind == "review"]
    if not waiting or not ctx.policy.announce:
        return Outcome("no hotfix waits for its review", extra={"post": False, "day": day})
    lines = [f"{len(waiting)} hotfix(es) wait for their review (by someone else, !approve <n>):"]
    for p in waiting:
        assert p.due is not None
        word = "overdue since" if p.overdue(ctx.now) else "due"
        lines.append(f"  {p.number}: {p.summary} by {p.requester}, {word} {at(p.due, ctx.now)}")
    return Outcome("\n".join(lines), extra={"post": True, "day": day})


async def remind(requests: Requests) -> None:
    await open_owed(requests)  # a review a crash kept from opening is owed first
    reply = await requests.request(ReviewsOwed(), "governance", name="opsbot")
    if reply.ok and reply.extra.get("post"):
        identity = f"governance:reviews:{reply.extra['day']}"
        requests.owe([(identity, Notify(reply.text, announce=True))])


REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(ReviewsOwed, reviews_owed, writes=False),  # type: ignore[arg-type]
    RequestKind(Unreviewed, list_unreviewed, writes=False),  # type: ignore[arg-type]
    RequestKind(OpenReview, open_review),  # type: ignore[arg-type]
)
TASKS = (Task("hotfix reviews owed", remind, every=3600.0),)
