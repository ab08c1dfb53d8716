"""The period and the form of an audit report, as people type them in the chat and on the
command line, refused with what to type instead."""

from datetime import UTC, date, datetime, timedelta

from bot.core.errors import Refused
from bot.core.text import clean
from bot.features.governance.audit_formats import FORMATS
from bot.features.governance.audit_history import Report

EXAMPLE = "--since 2026-10-01 --until 2026-12-31"
MIMETYPES = {
    "md": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "html": "text/html",
}


def moment(option: str, value: str, *, end: bool = False) -> datetime:
    """A date (UTC; as `--until`, the whole day is in the period) or a time with its zone."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Refused(
            f"{option} {clean(value)!r} is not a date",
            hint=f"type a date like {option} 2026-10-01 (UTC), or a time with its zone like "
            f"{option} 2026-10-01T14:00:00Z",
        )
    return when.astimezone(UTC)


def period(
    since: str | None, until: str | None, default: datetime | None = None
) -> tuple[datetime, datetime | None]:
    """From `--since` (or `default`, the chat's: 90 days back) to `--until`'s day or the end of
    the history."""
    if since is None and default is None:
        raise Refused("an audit report covers a period: say from when", hint=f"add {EXAMPLE}")
    start = moment("--since", since) if since is not None else default
    assert start is not None
    end = moment("--until", until, end=True) if until is not None else None
    if end is not None and end <= start:
        raise Refused(
            f"--until {clean(until or '')} is not after --since {clean(since or '')}",
            hint=f"the period runs forward: {EXAMPLE}",
        )
    return start, end


def form(value: str | None, default: str = "md") -> str:
    chosen = (value or default).lower()
    if chosen not in FORMATS:
        raise Refused(
            f"no report format {clean(value or '')!r}",
            hint=f"type --format with one of {', '.join(FORMATS)}",
        )
    return chosen


def file_name(report: Report, chosen: str) -> str:
    """`audit-prod-20261001-20270101.html`: what, and the period (its end: the history's)."""
    until = f"{report.until:%Y%m%d}" if report.until else (report.head or "end")[:7]
    where = f"-{report.env}" if report.env else ""
    return f"audit{where}-{report.since:%Y%m%d}-{until}.{chosen}"
