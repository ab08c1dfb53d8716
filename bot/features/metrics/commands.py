"""!metrics: the four keys and the incident times of a window, as a table in the room and a
chart (an encrypted `m.image`), from the index alone (this package). Also the weekly digest to
the announcement rooms, opt-in in policy.toml (`[metrics] weekly_digest = true`)."""

import base64
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from bot.core.effects import Effect, Notify, Request, Upload
from bot.core.errors import NotFound
from bot.engine.context import Context, Outcome
from bot.engine.grammar import Option
from bot.engine.kinds import ArgError
from bot.engine.registry import Command
from bot.engine.requests import RequestKind, Requests, Task
from bot.features.metrics import chart, figures, render
from bot.features.metrics.digest_policy import WEEKLY_DIGEST
from bot.features.metrics.facts import Scope

DEFAULT_WINDOW = timedelta(days=90)
MAX_DAYS = 730
_WINDOW = re.compile(r"([0-9]{1,4})([dw])")
HINT = "install opsbot with the `charts` extra (matplotlib) for a chart as well"


def window(value: str) -> timedelta:
    """`30d`, `90d`, `12w`: how far back the metrics look."""
    match = _WINDOW.fullmatch(value.lower())
    if match is None:
        raise ArgError("must be a number of days or weeks, like 30d, 90d or 12w")
    days = int(match[1]) * (7 if match[2] == "w" else 1)
    if not 1 <= days <= MAX_DAYS:
        raise ArgError(f"must be from 1d to {MAX_DAYS}d")
    return timedelta(days=days)


SINCE = Option("--since", "since", "30d|90d|...", "how far back to look (default 90d)", window)


def scope_of(ctx: Context, name: str | None) -> Scope:
    if name is None:
        return Scope()
    if name in ctx.state.environments():
        return Scope(env=name)
    if name in ctx.state.apps():
        return Scope(app=name)
    raise NotFound(
        f"no environment or app {name!r}",
        hint=f"environments: {', '.join(ctx.state.environments())}; "
        f"apps: {', '.join(ctx.state.apps())}",
    )


def metrics(ctx: Context) -> Outcome:
    scope = scope_of(ctx, ctx.args.get("scope"))
    until = ctx.now.astimezone(UTC).replace(microsecond=0)
    report = figures.report(ctx.index, scope, until - ctx.args.get("since", DEFAULT_WINDOW), until)
    text = render.table(report)
    effects: list[Effect] = []
    room = ctx.invocation.room_id
    if room is not None:
        # Rendering is computation, and handlers run in the engine's worker thread: never on
        # the event loop. The bytes travel in the outbox like any effect.
        png = chart.draw(report)
        if png is None:
            text += f"\n({HINT})"
        else:
            effects.append(
                Upload(
                    room=room,
                    name=f"metrics-{report.until:%Y%m%d}.png",
                    mimetype="image/png",
                    data=base64.b64encode(png.data).decode(),
                    msgtype="m.image",
                    caption=f"metrics for {report.scope}",
                    in_reply_to=ctx.invocation.event_id,
                    width=png.width,
                    height=png.height,
                )
            )
    return Outcome(
        text,
        html=f"<pre>{html.escape(text)}</pre>",
        effects=tuple(effects),
        extra={"metrics": render.as_dict(report)},
    )


def digest_week(now: datetime) -> tuple[datetime, datetime]:
    """The last whole week (Monday 00:00 to Monday 00:00, UTC) before `now`."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday


COMMANDS = (
    Command(
        name="metrics",
        needs_index=True,
        usage="[<scope>]",
        options=(SINCE,),
        summary="deploy frequency, lead time, change failure rate, time to restore (DORA)",
        details="For every app and environment, or one environment or app (the scope). Each "
        "figure with its sample size n and its DORA 2023 level, from Git and the reconciler's "
        "notes alone. Over Matrix, a chart too: deploys and failure rate per week, and the "
        "median lead time.",
        examples=("!metrics", "!metrics prod --since 30d", "!metrics web"),
        handler=metrics,
    ),
)


@dataclass(frozen=True)
class WeeklyDigest(Request):
    """Last week's metrics for the announcement rooms, if policy.toml asks for them: read-only."""

    name: ClassVar[str] = "metrics digest"
    since: str  # the week's Monday, ISO date


def digest(ctx: Context, request: WeeklyDigest) -> Outcome:
    if not ctx.policy.section(WEEKLY_DIGEST) or not ctx.policy.announce:
        return Outcome("no weekly digest: policy.toml does not ask for one", extra={"post": False})
    since = datetime.fromisoformat(request.since).replace(tzinfo=UTC)
    report = figures.report(ctx.index, Scope(), since, since + timedelta(days=7))
    text = f"weekly digest: {render.table(report)}"
    return Outcome(text, extra={"post": True})


async def post_digest(requests: Requests) -> None:
    """Last week's digest, once: the outbox keeps one effect per identity (the week), so a
    restart, or this task running every hour, never posts it twice."""
    since, _until = digest_week(datetime.now(UTC))
    identity = f"metrics:digest:{since:%Y-%m-%d}"
    reply = await requests.request(WeeklyDigest(f"{since:%Y-%m-%d}"), "metrics", name="opsbot")
    if reply.ok and reply.extra.get("post"):
        requests.owe([(identity, Notify(reply.text, announce=True))])


REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(WeeklyDigest, digest, writes=False),  # type: ignore[arg-type]
)
TASKS = (Task("weekly metrics digest", post_digest, every=3600.0),)
