"""!approve, !reject and !proposals: the second person's side of a change that needs approval."""

from dataclasses import replace

from bot.core.errors import Forbidden, NotFound, Refused
from bot.engine.context import Change, Context, EnvChange, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.features.delivery.deploy import handed_over, refuse_unless_all_theirs
from bot.features.gitops.files import rerendered
from bot.features.guards import clear
from bot.features.timefmt import at
from bot.state.proposals import Proposal, ProposalBook, record_path


def _proposal(ctx: Context) -> tuple[ProposalBook, Proposal]:
    number = ctx.args["number"]
    proposal = ctx.proposals.get(number)
    if proposal is None:
        open_ones = [str(p.number) for p in ctx.proposals.open(ctx.now)]
        raise NotFound(f"no proposal {number}", hint=f"open: {', '.join(open_ones) or 'none'}")
    if not proposal.trusted:
        raise Refused(
            f"proposals/{number} holds commits that no trusted key signed; opsbot will not act "
            "on it",
            hint="propose the change again with a command",
        )
    return ctx.proposals, proposal


def _refuse_unless_open(ctx: Context, proposal: Proposal) -> None:
    status = proposal.status(ctx.now)
    n = proposal.number
    if status == "merged":
        merged = (proposal.merged_in or "")[:7]
        raise Refused(
            f"proposal {n} was already approved (merged in {merged})", hint="nothing to do"
        )
    if status == "rejected":
        raise Refused(
            f"proposal {n} was rejected by {proposal.rejected_by}", hint="propose it again"
        )
    if status == "expired":
        assert proposal.expires is not None
        raise Refused(
            f"proposal {n} expired at {at(proposal.expires, ctx.now)}", hint="propose it again"
        )


def approve(ctx: Context) -> Outcome:
    book, proposal = _proposal(ctx)
    n = proposal.number
    _refuse_unless_open(ctx, proposal)
    if ctx.sender == proposal.requester:
        raise Refused(
            f"you opened proposal {n}; someone else must approve it", hint="ask a colleague"
        )
    if ctx.sender in proposal.approvers:
        raise Refused(f"you already approved proposal {n}", hint="it needs someone else too")
    if not ctx.policy.allows(ctx.sender, "approve", proposal.env):
        where = f" in {proposal.env}" if proposal.env else ""
        raise Forbidden(
            f"{ctx.sender} may not approve changes{where}",
            hint='ask an admin for a role with "approve" in policy.toml',
        )
    if proposal.env and proposal.kind == "change":
        # A review changes nothing: it is approved in a freeze as at any other time.
        apps = tuple(
            sorted(
                {
                    p.rsplit("/", 1)[-1].removesuffix(".toml")
                    for p in book.changes(proposal)
                    if p.startswith("deployments/")
                }
            )
        )
        clear(ctx, EnvChange("approve", proposal.env, apps))
    approved = proposal.approved(ctx.sender)
    approvers = approved.approvers
    needed = proposal.approvals_required
    record = {record_path(n): approved.encode()}
    if len(approvers) < needed:
        summary = f"proposal {n} ({len(approvers)} of {needed})"
        change = Change(
            summary,
            record,
            (("Approved-by", ctx.sender),),
            branch=f"proposals/{n}",
            base=proposal.tip,
        )
        return Outcome(
            f"approve: {summary}; it needs {needed - len(approvers)} more", change=change
        )
    files: dict[str, str | bytes | None] = dict(book.changes(proposal))
    # Rendered afresh from main, so what a person changed there since is kept: those files
    # are not a conflict.
    engine_files = rerendered(ctx.state, files)
    if proposal.env:
        refuse_unless_all_theirs(ctx, "approve", proposal.env, engine_files)
    conflicts = [p for p in book.conflicts(proposal, ctx.state.commit) if p not in engine_files]
    if conflicts:
        raise Refused(
            f"proposal {n} conflicts with main: {', '.join(conflicts)} changed since it was opened",
            hint=f"!reject {n} and propose the change again",
        )
    trailers = (*(("Approved-by", who) for who in approvers), ("Opsbot-Proposal", str(n)))
    what = proposal.summary
    files |= engine_files
    files[record_path(n)] = replace(approved, merged=True).encode()
    change = Change(f"proposal {n} ({what})", files, trailers, merge=(proposal.tip,))
    # The host has something to apply unless every deployment changed is a GitOps engine's.
    hosted = [p for p in change.files if p.startswith("deployments/") and not _rendered_for(ctx, p)]
    extra = {"proposal": n, "deploys": bool(hosted), "rendered": sorted(engine_files)}
    text = f"approve: proposal {n}: {what}" + handed_over(engine_files)
    return Outcome(text, change=change, extra=extra)


def _rendered_for(ctx: Context, path: str) -> bool:
    """Whether the deployment at `path` belongs to an app a GitOps engine applies."""
    app = path.rsplit("/", 1)[-1].removesuffix(".toml")
    record = ctx.state.apps().get(app)
    return record is not None and record.gitops is not None


def reject(ctx: Context) -> Outcome:
    _, proposal = _proposal(ctx)
    n = proposal.number
    _refuse_unless_open(ctx, proposal)
    if proposal.kind == "review":
        raise Refused(
            f"proposal {n} is the review of a change already made; it stays open until approved",
            hint=f"!approve {n} once reviewed; to undo the change, roll it back",
        )
    allowed = ctx.sender == proposal.requester or ctx.policy.allows(
        ctx.sender, "approve", proposal.env
    )
    if not allowed:
        raise Forbidden(
            f"{ctx.sender} may not reject proposal {n}", hint="its requester or an approver may"
        )
    rejected = replace(proposal, rejected_by=ctx.sender)
    change = Change(
        f"proposal {n}",
        {record_path(n): rejected.encode()},
        (("Opsbot-Rejected", str(n)),),
        branch=f"proposals/{n}",
        base=proposal.tip,
    )
    return Outcome(f"reject: proposal {n} ({proposal.summary})", change=change)


def proposals(ctx: Context) -> Outcome:
    lines = []
    for p in ctx.proposals.open(ctx.now):
        expires = f", expires {at(p.expires, ctx.now)}" if p.expires else ""
        lines.append(
            f"{p.number}: {p.summary} by {p.requester} "
            f"({len(p.approvers)} of {p.approvals_required} approvals{expires}{due(p, ctx)})"
        )
    return Outcome("\n".join(lines) or "no open proposals")


def due(proposal: Proposal, ctx: Context) -> str:
    """When a review is due, or that it is overdue."""
    if proposal.due is None:
        return ""
    word = "overdue since" if proposal.overdue(ctx.now) else "due"
    return f", review {word} {at(proposal.due, ctx.now)}"


COMMANDS = (
    Command(
        name="approve",
        needs_index=True,
        usage="<number>",
        summary="approve someone else's proposal; enough approvals merge it into main",
        details="Refused for your own proposal, twice by the same person, or once it is rejected, "
        "expired or in conflict with main.",
        examples=("!approve 3",),
        handler=approve,
        writes=True,
    ),
    Command(
        name="reject",
        needs_index=True,
        usage="<number>",
        options=(REASON,),
        summary="close a proposal without merging it",
        examples=('!reject 3 --reason "wrong version"',),
        handler=reject,
        writes=True,
    ),
    Command(
        name="proposals",
        needs_index=True,
        usage="",
        summary="the open proposals and what they wait for",
        examples=("!proposals",),
        handler=proposals,
    ),
)
