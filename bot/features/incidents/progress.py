"""Working an incident to resolved: its status (investigating, identified, monitoring,
resolved, and investigating again when reopened), and the notes people add to its timeline."""

from dataclasses import replace

from bot.core.effects import Notify
from bot.core.errors import Refused, UsageError
from bot.engine.context import Context, Outcome
from bot.engine.grammar import REASON, Option
from bot.engine.registry import Command
from bot.features.incidents.common import LOUD, acted, change, echo, target
from bot.features.incidents.entries import event
from bot.features.incidents.entries import note as note_entry
from bot.features.incidents.incident_policy import INCIDENT_POLICY
from bot.features.incidents.records import Incident
from bot.features.incidents.timeline import one_line
from bot.features.timefmt import at, span


def status(ctx: Context) -> Outcome:
    record = target(ctx)
    new = ctx.args["state"]
    if new == "resolved":
        return resolved(ctx, record, summary=None)
    if not record.is_open:
        raise Refused(f"{record.id} is resolved", hint=f"!incident reopen {record.id} first")
    if new == record.status:
        raise Refused(f"{record.id} is already {new}", hint="nothing to do")
    after = acted(ctx, record)
    mitigated = record.mitigated_at
    if mitigated is None and new == "monitoring":
        mitigated = ctx.now.replace(microsecond=0)
    after = replace(after, status=new, mitigated_at=mitigated)
    line = event(ctx.now, ctx.sender, f"status {record.status} -> {new}")
    text = f"incident status: {record.id} {new} (was {record.status}): {record.title}"
    return Outcome(
        text,
        change=change(ctx, record, after, new, line),
        effects=echo(ctx, record, f"{record.id} is now {new}, by {ctx.sender}"),
        extra={"incident": record.id},
    )


def resolve(ctx: Context) -> Outcome:
    return resolved(ctx, target(ctx), ctx.args.get("summary"))


def resolved(ctx: Context, record: Incident, summary: str | None) -> Outcome:
    if not record.is_open:
        since = f" at {at(record.resolved_at, ctx.now)}" if record.resolved_at else ""
        raise Refused(
            f"{record.id} is already resolved{since}",
            hint=f"!incident reopen {record.id} if it is back",
        )
    when = ctx.now.replace(microsecond=0)
    after = replace(
        acted(ctx, record),
        status="resolved",
        resolved_at=when,
        mitigated_at=record.mitigated_at or when,
        summary=summary or record.summary,
    )
    took = span(when - record.opened_at)
    line = event(when, ctx.sender, f"resolved {record.id} after {took}")
    lines = [line]
    if summary:
        lines.append(event(when, ctx.sender, f"summary: {summary}"))
    text = (
        f"incident resolve: {record.id} resolved after {took}: {record.title}; "
        f"!incident postmortem {record.id} drafts the postmortem"
    )
    effects = list(echo(ctx, record, f"{record.id} resolved by {ctx.sender} after {took}"))
    if record.severity in LOUD:
        effects.append(
            Notify(
                f"{record.id} ({record.severity}) resolved after {took}: {record.title}",
                announce=True,
            )
        )
    return Outcome(
        text,
        change=change(ctx, record, after, "resolved", *lines),
        effects=tuple(effects),
        extra={"incident": record.id},
    )


def reopen(ctx: Context) -> Outcome:
    record = target(ctx)
    if record.is_open:
        raise Refused(
            f"{record.id} is not resolved (it is {record.status})", hint="nothing to reopen"
        )
    after = replace(acted(ctx, record), status="investigating", resolved_at=None)
    why = f" ({ctx.reason})" if ctx.reason else ""
    line = event(ctx.now, ctx.sender, f"reopened {record.id}{why}")
    effects = list(echo(ctx, record, f"{record.id} reopened by {ctx.sender}{why}"))
    if record.severity in LOUD:
        effects.append(
            Notify(
                f"{record.id} ({record.severity}) reopened by {ctx.sender}{why}: {record.title}",
                announce=True,
                mentions=ctx.policy.section(INCIDENT_POLICY).notify_for(record.severity),
            )
        )
    return Outcome(
        f"incident reopen: {record.id} investigating again: {record.title}",
        change=change(ctx, record, after, "reopened", line),
        effects=tuple(effects),
        extra={"incident": record.id},
    )


def note(ctx: Context) -> Outcome:
    record = target(ctx)
    body = str(ctx.args["text"])
    if any(ord(c) < 32 and c not in "\n\r\t" for c in body) or "\x7f" in body:
        raise UsageError("a note must not contain control characters")
    after = acted(ctx, record)
    line = note_entry(ctx.now, ctx.sender, body)
    return Outcome(
        f"incident note: {record.id}: noted in its timeline",
        change=change(ctx, record, after, "note", line),
        # On one line, like every rendering of an entry: a note cannot put words in the bot's mouth.
        effects=echo(ctx, record, f"{ctx.sender} noted on {record.id}: {one_line(body)}"),
        extra={"incident": record.id},
    )


COMMANDS = (
    Command(
        name="incident status",
        usage="[<incident>] <state>",
        summary="investigating, identified, monitoring or resolved",
        details="monitoring marks it mitigated; resolved is the same as !incident resolve.",
        examples=("!incident status INC-1 identified",),
        handler=status,
        writes=True,
    ),
    Command(
        name="incident note",
        usage="[<incident>] <text...>",
        summary="add a note to an incident's timeline, kept exactly as typed",
        details="At most 4 KiB.",
        examples=("!incident note INC-1 failing over to the replica",),
        handler=note,
        writes=True,
    ),
    Command(
        name="incident resolve",
        usage="[<incident>]",
        options=(Option("--summary", "summary", "TEXT", "what happened, in a sentence"),),
        summary="close an incident; its times to acknowledge, mitigate and resolve are kept",
        examples=('!incident resolve INC-1 --summary "failed over to the replica"',),
        handler=resolve,
        writes=True,
    ),
    Command(
        name="incident reopen",
        usage="[<incident>]",
        options=(REASON,),
        summary="open a resolved incident again",
        examples=('!incident reopen INC-1 --reason "errors are back"',),
        handler=reopen,
        writes=True,
    ),
)
