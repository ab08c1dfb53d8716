"""Versions a CI built, recorded from its signed webhook: `versions/<app>/<version>.toml` holds
the version's source commit and when it was committed and built, so that the lead time for
changes can start there instead of at the version's first request.

A source whose host config says `records_versions = true` may send, besides what it says for
people, a `version` object:

    {"text": "web 1.4.2 built", "version": {"app": "web", "version": "1.4.2",
     "commit": "4f2a9c1...", "committed_at": "2026-11-26T09:12:00Z",
     "built_at": "2026-11-26T09:30:00Z"}}

Each is one signed commit. A version is recorded once: the same commit sent again writes
nothing, and another commit for a version already recorded is refused (a version names one
build; a rebuild from other sources is a new version), so a later delivery, or a secret that
leaked, cannot move the start of lead times already counted. Times are taken only within a
window of this host's clock as it receives them: not more than `AHEAD` after it (a CI's clock
a little fast), not more than `BEHIND` before it (a commit waiting long for its release). A
time outside is refused rather than replaced by the time of receipt: the receipt is neither
when the commit was made nor when the build ran, and a figure made up here would count as
measured; the sender is told why (the webhook answers 422) and sends again with its clock
right.
"""

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import tomlkit

from bot.core.effects import Request
from bot.core.errors import Refused
from bot.engine.context import Change, Context, Outcome
from bot.engine.kinds import ArgError
from bot.engine.kinds import name as check_name
from bot.engine.kinds import version as check_version
from bot.engine.requests import RequestKind
from bot.features.metrics.index import version_path

SOURCE_COMMIT = re.compile(r"[0-9a-f]{7,64}")  # SHA-1 or SHA-256, abbreviated or not
AHEAD = timedelta(minutes=5)
BEHIND = timedelta(days=366)


@dataclass(frozen=True)
class VersionBuilt(Request):
    name: ClassVar[str] = "version"
    app: str
    version: str
    commit: str
    built_at: str  # RFC 3339
    committed_at: str = ""


def read_payload(payload: Any) -> VersionBuilt | None:
    """The version a webhook payload records, if it has a `version` object (checked later, by
    the request's handler, which refuses what is malformed)."""
    data = payload.get("version") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    fields = ("app", "version", "commit", "built_at", "committed_at")
    return VersionBuilt(**{k: str(data.get(k) or "") for k in fields})


def _time(what: str, value: str, now: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(f"{what} {value[:40]!r} is not a time like 2026-11-26T09:30:00Z") from None
    if at.tzinfo is None:
        raise Refused(f"{what} {value[:40]!r} needs a time zone, like 2026-11-26T09:30:00Z")
    clock = f"this host's clock says {now:%Y-%m-%dT%H:%M:%SZ}"
    if at > now + AHEAD:
        raise Refused(f"{what} {value[:40]!r} is in the future ({clock}); check the CI's clock")
    if at < now - BEHIND:
        raise Refused(f"{what} {value[:40]!r} is more than a year ago ({clock})")
    return at


def _recorded_commit(text: str) -> str:
    try:
        return str(tomllib.loads(text).get("commit", ""))
    except tomllib.TOMLDecodeError:
        return ""


def record(ctx: Context, request: VersionBuilt) -> Outcome:
    try:
        app, version = check_name(request.app), check_version(request.version)
    except ArgError as e:
        raise Refused(f"version: {e}") from None
    app = ctx.state.app(app).name
    if not SOURCE_COMMIT.fullmatch(request.commit.lower()):
        raise Refused(f"commit {request.commit[:70]!r} is not a commit id (7 to 64 hex digits)")
    commit = request.commit.lower()
    path = version_path(app, version)
    recorded = ctx.state.text(path)
    if recorded is not None:
        was = _recorded_commit(recorded)
        if was != commit:
            first = f"built from {was[:12]}" if was else "with no commit that can be read"
            raise Refused(
                f"{app} {version} is recorded already, {first}, not {commit[:12]}: a version is "
                "recorded once; give this build a new version"
            )
        # The same build told again (a retry): what was recorded first stands.
        return Outcome(f"version: {app} {version} is recorded already, built from {was[:12]}")
    built = _time("built_at", request.built_at, ctx.now)
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"{app} {version}, as the CI that built it said (opsbot keeps it)."))
    doc["commit"] = commit
    if request.committed_at:
        doc["committed_at"] = _time("committed_at", request.committed_at, ctx.now)
    doc["built_at"] = built
    text = tomlkit.dumps(doc)
    summary = f"{app} {version} built from {commit[:12]}"
    return Outcome(
        f"version: {summary}",
        change=Change(summary, {path: text}),
        extra={"app": app, "version": version},
    )


REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(VersionBuilt, record),  # type: ignore[arg-type]
)
