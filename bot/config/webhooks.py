"""[webhooks.<source>]: the sources that may POST signed JSON to `/webhooks/<source>`.

These belong to the HTTP listener, not to a feature: the listener checks each request's
signature with its source's secret before any feature reads the payload, and a transport
never imports a feature. What a feature does with a payload (record a version) is its own.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.problems import Problem
from bot.core.ids import ROOM_ID

WEBHOOKS = "webhooks"  # [webhooks.<source>]: one table per source
WEBHOOK_KEYS = frozenset({"secret_file", "room", "records_versions"})
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a webhook source is a path segment


@dataclass(frozen=True)
class WebhookConfig:
    source: str  # POST /webhooks/<source>
    secret_file: Path
    room: str | None = None  # None: the announcement rooms of policy.toml
    # The source (a CI) may record versions: a payload with a `version` object becomes a
    # signed commit of versions/<app>/<version>.toml (its source commit and build time).
    records_versions: bool = False


def parse_webhooks(data: dict[str, Any], problem: Problem) -> tuple[WebhookConfig, ...]:
    table = data.get(WEBHOOKS)
    if table is None:
        return ()
    if not isinstance(table, dict):
        problem(WEBHOOKS, None, "must be tables, one per source: [webhooks.<source>]")
        return ()
    found = []
    for source, value in table.items():
        section = f"{WEBHOOKS}.{source}"
        if not isinstance(value, dict):
            problem(section, None, "must be a table, like [webhooks.ci] secret_file = ...")
            continue
        if not _SOURCE.fullmatch(source):
            problem(section, None, "a source name is lowercase letters, digits, - and _")
        for key in value:
            if key not in WEBHOOK_KEYS:
                problem(section, key, f"unknown key (known: {', '.join(sorted(WEBHOOK_KEYS))})")
        secret, room = value.get("secret_file"), value.get("room")
        if not isinstance(secret, str) or not secret:
            problem(section, "secret_file", "missing: every webhook is signed with its secret")
            continue
        if room is not None and (not isinstance(room, str) or not ROOM_ID.fullmatch(room)):
            problem(section, "room", f"{room!r} is not a Matrix room id like !abc:example.org")
            continue
        versions = value.get("records_versions", False)
        if not isinstance(versions, bool):
            problem(section, "records_versions", "must be true or false")
            continue
        found.append(WebhookConfig(source, Path(secret), room, versions))
    return tuple(found)
