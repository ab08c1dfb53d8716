"""Emergency changes: `!deploy <app> <version> to <env> --hotfix INC-7 --reason TEXT` (and
`!rollback`), past a freeze (by hand or on the calendar) and the approvals, tied to an open
incident, and reviewed after.

It passes only for a role granted `hotfix` in policy.toml, only while the incident is open at a
severity `[hotfix] severities` names, and never past a lock someone else holds. Its commit says
so in the deployment record (`hotfix = "INC-7"`; a trailer `Opsbot-Hotfix` for people), the
incident's timeline gets an entry in the same commit, it is announced, and a review proposal
opens at once: a branch `proposals/<n>` on top of the hotfix commit, whose record names it
(`kind = "review"`, `reviews = "<commit>"`), due `[hotfix] review_within_hours` later and
approved like any proposal, by someone other than who made the hotfix.
"""

from datetime import timedelta

from bot.core.effects import Notify
from bot.core.errors import Forbidden, NotFound, Refused
from bot.engine.context import Clearance, Context, EnvChange
from bot.engine.grammar import Option
from bot.engine.registry import OptionFor
from bot.features.governance.hotfix_policy import HOTFIX_POLICY
from bot.features.governance.reviews import TRAILER, Review
from bot.features.governance.windows import HOTFIX_COMMANDS, closed_at, declared_in
from bot.features.incidents.common import in_room
from bot.features.incidents.entries import event
from bot.features.incidents.kinds import incident
from bot.features.incidents.records import Incident, load
from bot.features.incidents.timeline import appended
from bot.features.timefmt import at

HOTFIX = Option(
    "--hotfix",
    "hotfix",
    "INC-<n>",
    "an emergency change for this open incident: past a freeze and the approvals, reviewed after",
    incident,
)
OPTIONS = (
    OptionFor(
        HOTFIX_COMMANDS,
        HOTFIX,
        examples=(
            '!deploy web 1.4.3 to prod --hotfix INC-1 --reason "fixes the login loop"',
            "!rollback web in prod --hotfix INC-1 --reason 'errors after 1.4.3'",
        ),
    ),
)


def hotfix(ctx: Context, change: EnvChange, incident_id: str) -> Clearance:
    """What a hotfix for `incident_id` is granted, and what it adds; or why it is refused."""
    record = _open_incident(ctx, change.env, incident_id)
    if change.version is None:
        # Another environment the same commit writes to (a GitOps render): past its freeze too,
        # and nothing added twice.
        return Clearance(past_freeze=True)
    app = ", ".join(change.apps)
    what = f"{change.command} {app} {change.version} to {change.env}"
    number = ctx.proposals.next_number()
    due = ctx.now.replace(microsecond=0) + timedelta(
        hours=ctx.policy.section(HOTFIX_POLICY).review_within_hours
    )
    past = _past(ctx, change)
    entry = event(
        ctx.now,
        ctx.sender,
        f"hotfix: {what}{past}: {ctx.reason}",
        hotfix=incident_id,
        env=change.env,
        app=app,
        version=change.version,
        review=str(number),
    )
    told = (
        f"hotfix for {incident_id} ({record.severity}, {record.title}): {ctx.sender} made "
        f"{what}{past}: {ctx.reason}. Review {number} is due {at(due, ctx.now)}: !approve {number}"
    )
    return Clearance(
        past_freeze=True,
        past_approvals=True,
        record={"hotfix": incident_id},
        files=appended(ctx.state, incident_id, [entry]),
        trailers=((TRAILER, incident_id),),
        effects=(Notify(told, announce=True, **in_room(record)),),
        text=(
            f"; hotfix for {incident_id}{past}: review {number} is open, due "
            f"{at(due, ctx.now)} (!approve {number}, by someone else)"
        ),
        then=Review(number, what, incident_id, ctx.sender, change.env, due).change,
    )


def _open_incident(ctx: Context, env: str, incident_id: str) -> Incident:
    if not ctx.policy.allows(ctx.sender, "hotfix", env):
        raise Forbidden(
            f"{ctx.sender} may not make hotfixes in {env}",
            hint='ask an admin for a role with "hotfix" in its commands in policy.toml',
        )
    if not ctx.reason:
        raise Refused("a hotfix needs a reason", hint='add --reason "what it fixes"')
    record = load(ctx.state, incident_id)
    if record is None:
        raise NotFound(f"no incident {incident_id}", hint="!incident list shows the open ones")
    if not record.is_open:
        raise Refused(
            f"{incident_id} is resolved: a hotfix needs an open incident",
            hint=f"!incident reopen {incident_id} if it is back",
        )
    allowed = ctx.policy.section(HOTFIX_POLICY).severities
    if record.severity not in allowed:
        raise Refused(
            f"{incident_id} is {record.severity}; hotfixes are for "
            f"{', '.join(allowed) or 'no severity'} ([hotfix] severities in policy.toml)",
            hint="wait for the freeze to end and the approvals, or raise its severity",
        )
    return record


def _past(ctx: Context, change: EnvChange) -> str:
    """What it went past, for people: a freeze, the approvals."""
    freeze = ctx.state.freeze(change.env)
    frozen = (freeze is not None and freeze.active(ctx.now)) or closed_at(
        declared_in(ctx.state, change.env), ctx.now, change.apps
    ) is not None
    waits = ctx.state.environment(change.env).approvals > 0
    gone = [w for w, yes in (("the freeze", frozen), ("the approvals", waits)) if yes]
    return f" past {' and '.join(gone)}" if gone else ""
