"""`GET /metrics`: opsbot's counters and gauges in Prometheus' text exposition format.

Served when the host config has a `[metrics]` section: to a scraper that sends its
`token_file`'s token as a bearer token, or, without one, to this host's own addresses only.
What Git and the notes say is read by a `Scrape` request (the engine syncs the index first and
runs it like a command that writes nothing); what the engine counted since it started and what
the outbox holds come from `Requests.counters()`.
"""

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.config.host import Config
from bot.config.problems import ConfigError
from bot.config.tokens import bearer, matches, read_secret
from bot.core.effects import Request
from bot.core.errors import InvalidRecord
from bot.core.logs import fact
from bot.engine.context import Context, Outcome
from bot.engine.http import Fetch, Page, Served
from bot.engine.requests import RequestKind, Requests
from bot.features.metrics import figures
from bot.features.metrics.settings import METRICS

SOURCE = "prometheus"
log = logging.getLogger("opsbot.metrics")


@dataclass(frozen=True)
class Scrape(Request):
    """What Git and the notes say, for one scrape: read-only."""

    name: ClassVar[str] = "metrics scrape"


def scrape(ctx: Context, _request: Scrape) -> Outcome:
    conn = ctx.index.db.conn
    deployments = conn.execute(
        "SELECT d.app, d.env, CASE WHEN EXISTS (SELECT 1 FROM outcomes o "
        "WHERE o.commit_sha = d.sha AND o.status = 'ok') THEN 'applied' "
        "ELSE (SELECT o.status FROM outcomes o "
        "WHERE o.commit_sha = d.sha AND o.final = 1 ORDER BY o.at DESC LIMIT 1) END AS result, "
        "COUNT(*) FROM deployments d WHERE d.version IS NOT NULL GROUP BY 1, 2, 3"
    ).fetchall()
    counts = [
        [app, env, result.replace("-", "_"), n]
        for app, env, result, n in deployments
        if result is not None
    ]
    failures, restores = figures.failures_and_restores(ctx.index)
    incidents = conn.execute(
        "SELECT severity, COUNT(*) FROM incidents WHERE status != 'resolved' GROUP BY severity"
    ).fetchall()
    resolved = conn.execute("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NOT NULL")
    return Outcome(
        "metrics scrape",
        extra={
            "deployments": counts,
            "failures": [[a, e, n] for (e, a), n in sorted(failures.items())],
            "restores": [[a, e, n] for (e, a), n in sorted(restores.items())],
            "open_incidents": [list(row) for row in incidents],
            "incidents_resolved": resolved.fetchone()[0],
            "reconciler": _reconciler(ctx),
        },
    )


def _reconciler(ctx: Context) -> list[list[str]]:
    """(app, env, state) per deployed target: applied (the desired version is the one applied
    last), failed (the last run for it failed for good), or drift (anything else: pending,
    retrying, never applied)."""
    runtime = ctx.runtime
    if runtime is None:
        return []
    applied = runtime.applied()
    found = []
    for env in ctx.state.environments():
        for app in ctx.state.apps():
            try:
                want = ctx.state.deployment(env, app)
            except InvalidRecord:
                continue
            if want is None or not want.version:
                continue
            done = applied.get((env, app))
            last = list(runtime.outcomes(env, app))[-1:] or [None]
            if done is not None and getattr(done, "version", None) == want.version:
                state = "applied"
            elif last[0] is not None and last[0].status == "failed" and last[0].final:
                state = "failed"
            else:
                state = "drift"
            found.append([app, env, state])
    return found


STATES = ("applied", "drift", "failed")


class _Collector:
    def __init__(self, facts: dict[str, Any], requests: Requests) -> None:
        self.facts = facts
        self.counters = requests.counters()

    def collect(self) -> list[Metric]:
        f = self.facts
        deployments = CounterMetricFamily(
            "opsbot_deployments",
            "Deploy requests by what the reconciler made of them.",
            labels=["app", "env", "result"],
        )
        for app, env, result, n in f["deployments"]:
            deployments.add_metric([app, env, result], n)
        failures = CounterMetricFamily(
            "opsbot_change_failures",
            "Deploys that failed (rolled back, redeployed, failed "
            "for good, or named as an incident's cause), each once.",
            labels=["app", "env"],
        )
        for app, env, n in f["failures"]:
            failures.add_metric([app, env], n)
        restores = CounterMetricFamily(
            "opsbot_restores",
            "Failed deploys followed by a successful apply there.",
            labels=["app", "env"],
        )
        for app, env, n in f["restores"]:
            restores.add_metric([app, env], n)
        resolved = CounterMetricFamily("opsbot_incidents_resolved", "Incidents resolved.")
        resolved.add_metric([], f["incidents_resolved"])
        open_ = GaugeMetricFamily(
            "opsbot_open_incidents", "Incidents not resolved, by severity.", labels=["severity"]
        )
        for severity, n in f["open_incidents"]:
            open_.add_metric([severity], n)
        state = GaugeMetricFamily(
            "opsbot_reconciler_state",
            "1 for the state each app and environment is in.",
            labels=["app", "env", "state"],
        )
        for app, env, now in f["reconciler"]:
            for name in STATES:
                state.add_metric([app, env, name], 1 if name == now else 0)
        outbox = GaugeMetricFamily(
            "opsbot_outbox_effects",
            "Effects in the outbox, by state (prepared and ready are still owed).",
            labels=["state"],
        )
        for name, n in sorted(self.counters.outbox.items()):
            outbox.add_metric([name], n)
        commands = CounterMetricFamily(
            "opsbot_commands",
            "Commands answered since start, by result (handled, refused, failed).",
            labels=["command", "result"],
        )
        for (command, result), n in sorted(self.counters.commands.items()):
            commands.add_metric([command, result], n)
        return [deployments, failures, restores, resolved, open_, state, outbox, commands]


def exposition(facts: dict[str, Any], requests: Requests) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(facts, requests))
    return generate_latest(registry).decode()


def _allowed(config: Config | None, fetch: Fetch) -> bool:
    metrics = config.section(METRICS) if config else None
    if metrics is not None and metrics.token_file is not None:
        # Read on every scrape, so that a new token takes without a restart. The listener's
        # start refused an empty file; one emptied since is refused here (ConfigError), never
        # taken as "no token needed".
        try:
            expected = read_secret(metrics.token_file, "[metrics] token_file")
        except ConfigError as e:
            fact(log, "metrics scrape refused", logging.WARNING, reason=str(e))
            return False
        return matches(bearer(fetch.headers.get("authorization", "")), expected)
    try:
        return ipaddress.ip_address(fetch.peer).is_loopback
    except ValueError:
        return False


async def page(requests: Requests, fetch: Fetch) -> Served:
    if not _allowed(requests.host_config(), fetch):
        return Served(401, "missing or wrong token (or not from this host)\n")
    reply = await requests.request(Scrape(), SOURCE, name="Prometheus")
    if not reply.ok:
        return Served(503, f"cannot read the metrics now: {reply.text}\n")
    return Served(200, exposition(reply.extra, requests), content_type=CONTENT_TYPE_LATEST)


def _secrets(config: Config) -> list[tuple[str, Path]]:
    metrics = config.section(METRICS)
    if metrics is None or metrics.token_file is None:
        return []
    return [("[metrics] token_file", metrics.token_file)]


PAGES = (
    Page(
        "/metrics",
        page,
        enabled=lambda config: config.section(METRICS) is not None,
        secrets=_secrets,
    ),
)
REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(Scrape, scrape, writes=False),  # type: ignore[arg-type]
)
