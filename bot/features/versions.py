"""Versions a CI built, recorded from its signed webhook: `versions/<app>/<version>.toml` holds
the version's source commit and when it was committed and built, so that the lead time for
changes can start there instead of at the version's first request.

A source whose host config says `records_versions = true` may send, besides what it says for
people, a `version` object:

    {"text": "web 1.4.2 built", "version": {"app": "web", "version": "1.4.2",
     "commit": "4f2a9c1...", "committed_at": "2026-11-26T09:12:00Z",
     "built_at": "2026-11-26T09:30:00Z"}}

Each is one signed commit; the same facts sent again write nothing.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import tomlkit

from bot.engine.context import Change, Context, Outcome
from bot.engine.effects import Request
from bot.engine.feature import RequestKind
from bot.engine.kinds import ArgError
from bot.engine.kinds import name as check_name
from bot.engine.kinds import version as check_version
from bot.errors import Refused
from bot.state.index_facts import version_path

SOURCE_COMMIT = re.compile(r"[0-9a-f]{7,64}")  # SHA-1 or SHA-256, abbreviated or not


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


def _time(what: str, value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(f"{what} {value[:40]!r} is not a time like 2026-11-26T09:30:00Z") from None
    if at.tzinfo is None:
        raise Refused(f"{what} {value[:40]!r} needs a time zone, like 2026-11-26T09:30:00Z")
    return at


def record(ctx: Context, request: VersionBuilt) -> Outcome:
    try:
        app, version = check_name(request.app), check_version(request.version)
    except ArgError as e:
        raise Refused(f"version: {e}") from None
    app = ctx.state.app(app).name
    if not SOURCE_COMMIT.fullmatch(request.commit.lower()):
        raise Refused(f"commit {request.commit[:70]!r} is not a commit id (7 to 64 hex digits)")
    built = _time("built_at", request.built_at)
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"{app} {version}, as the CI that built it said (opsbot keeps it)."))
    doc["commit"] = request.commit.lower()
    if request.committed_at:
        doc["committed_at"] = _time("committed_at", request.committed_at)
    doc["built_at"] = built
    text = tomlkit.dumps(doc)
    path = version_path(app, version)
    if ctx.state.text(path) == text:
        raise Refused(f"{app} {version} is recorded already", hint="nothing to do")
    summary = f"{app} {version} built from {request.commit[:12].lower()}"
    return Outcome(f"version: {summary}", change=Change(summary, {path: text}),
                   extra={"app": app, "version": version})  # fmt: skip


REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(VersionBuilt, record),  # type: ignore[arg-type]
)
