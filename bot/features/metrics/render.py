"""A report for people (a short table), and for scripts (JSON, CSV)."""

import csv
import io
import json
from typing import Any

from bot.features.metrics.figures import Report, Spread
from bot.features.metrics.levels import NOT_ENOUGH


def duration(seconds: float) -> str:
    """`45m`, `3.5h`, `2.1d`: short, and precise enough for a median."""
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _spread(spread: Spread) -> str:
    if spread.median is None or spread.p90 is None:
        return f"{NOT_ENOUGH} (n=0)"
    level = f" · {spread.level}" if spread.level else ""
    return f"median {duration(spread.median)}, p90 {duration(spread.p90)} (n={spread.n}){level}"


def lead_source(report: Report) -> str:
    used = [f"{name} {count}" for name, count in report.lead_sources.items() if count]
    return f"from {', '.join(used)}" if used else ""


def rows(report: Report) -> list[tuple[str, str]]:
    """(figure, value) lines of the table."""
    level = f" · {report.frequency_level}" if report.frequency_level else ""
    frequency = (
        f"{report.per_day:.2f}/day, {report.deploy_days_per_week:.1f} deploy-days/week, "
        f"{report.bucket} (n={report.deploys}){level}"
    )
    rate = report.failure_rate
    failures = (
        f"{rate:.0%} ({report.failed} of {report.changes}) · {report.failure_level}"
        if rate is not None
        else f"{NOT_ENOUGH} (n=0)"
    )
    lead = _spread(report.lead_time)
    if report.lead_time.n:
        lead += f"; {lead_source(report)}"
    opened = ", ".join(f"{sev} {n}" for sev, n in sorted(report.open_incidents.items()))
    return [
        ("deployment frequency", frequency),
        ("lead time for changes", lead),
        ("change failure rate", failures),
        ("time to restore (deploys)", _spread(report.deploy_restore)),
        ("time to restore (incidents)", _spread(report.incident_restore)),
        ("time to acknowledge", _spread(report.acknowledge)),
        ("time to mitigate", _spread(report.mitigate)),
        ("open incidents", opened or "none"),
    ]


def table(report: Report) -> str:
    head = (
        f"metrics for {report.scope}, {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d} "
        f"({report.days:.0f} days)"
    )
    width = max(len(name) for name, _ in rows(report))
    lines = [head, *(f"{name:<{width}}  {value}" for name, value in rows(report))]
    if report.pending:
        deploys = "deploy" if report.pending == 1 else "deploys"
        lines.append(
            f"({report.pending} {deploys} asked for in this window not applied yet: a deploy "
            "counts once the service's reconciler has applied it or given up, and opsbot "
            "shell does not run the reconciler)"
        )
    return "\n".join(lines)


def as_dict(report: Report) -> dict[str, Any]:
    def spread(s: Spread) -> dict[str, Any]:
        return {"n": s.n, "median_seconds": s.median, "p90_seconds": s.p90, "level": s.level}

    return {
        "scope": report.scope,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "deployment_frequency": {
            "n": report.deploys,
            "per_day": round(report.per_day, 4),
            "deploy_days_per_week": round(report.deploy_days_per_week, 4),
            "bucket": report.bucket,
            "level": report.frequency_level,
        },
        "lead_time": {**spread(report.lead_time), "sources": report.lead_sources},
        "change_failure_rate": {
            "n": report.changes,
            "failed": report.failed,
            "rate": report.failure_rate,
            "level": report.failure_level,
        },
        "time_to_restore_deploys": spread(report.deploy_restore),
        "time_to_restore_incidents": spread(report.incident_restore),
        "time_to_acknowledge": spread(report.acknowledge),
        "time_to_mitigate": spread(report.mitigate),
        "open_incidents": report.open_incidents,
        "weeks": [
            {
                "week": w.start.isoformat(),
                "deploys": w.deploys,
                "failed": w.failed,
                "failure_rate": w.failure_rate,
                "lead_time_median_seconds": w.lead_median,
            }
            for w in report.weeks
        ],
    }


def as_json(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2)


def as_csv(report: Report) -> str:
    """One line per figure: figure, n, value, unit, level."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "n", "value", "unit", "level"])
    writer.writerow(
        [
            "deploys_per_day",
            report.deploys,
            f"{report.per_day:.4f}",
            "1/day",
            report.frequency_level or "",
        ]
    )
    writer.writerow(["deploy_frequency_bucket", report.deploys, report.bucket, "", ""])
    rate = report.failure_rate
    shown = "" if rate is None else f"{rate:.4f}"
    level = report.failure_level or ""
    writer.writerow(["change_failure_rate", report.changes, shown, "ratio", level])
    for name, s in (
        ("lead_time_median", report.lead_time),
        ("time_to_restore_deploys_median", report.deploy_restore),
        ("time_to_restore_incidents_median", report.incident_restore),
        ("time_to_acknowledge_median", report.acknowledge),
        ("time_to_mitigate_median", report.mitigate),
    ):
        value = "" if s.median is None else f"{s.median:.0f}"
        writer.writerow([name, s.n, value, "seconds", s.level or ""])
    return out.getvalue()
