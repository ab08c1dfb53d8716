"""[runbooks]: the secrets runbooks may ask for by name (`env.X = { secret = "name" }`), each a
file on the host (a systemd credential); the repo and the chat never hold them. Which runbook
may receive which of them is the host's to say ([runbooks.grants], by runbook name): a runbook
the repo declares asking for a secret not granted to it never runs. And how long a run's
output file stays in the state directory (Git keeps it regardless)."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config.http import HttpConfig
from bot.config.problems import Get, Problem
from bot.config.section import ConfigSection

KEYS = frozenset({"secrets", "grants", "keep_output_days"})
MAX_KEEP_DAYS = 3650
_SECRET = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class RunbooksConfig:
    secrets: dict[str, Path] = field(default_factory=dict)
    keep_output_days: int = 14
    grants: dict[str, frozenset[str]] = field(default_factory=dict)  # runbook -> secret names


def _parse(
    table: dict[str, Any], problem: Problem, _get: Get, _http: HttpConfig | None
) -> RunbooksConfig:
    days = table.get("keep_output_days", RunbooksConfig.keep_output_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_KEEP_DAYS:
        problem("runbooks", "keep_output_days", f"must be a whole number from 0 to {MAX_KEEP_DAYS}")
        days = RunbooksConfig.keep_output_days
    secrets = table.get("secrets", {})
    if not isinstance(secrets, dict):
        problem(
            "runbooks",
            "secrets",
            'must be a table of name = "file", like '
            '{ db_password = "/run/credentials/opsbot.service/db-password" }',
        )
        return RunbooksConfig(keep_output_days=days)
    found: dict[str, Path] = {}
    for name, file in secrets.items():
        if not _SECRET.fullmatch(name):
            problem(
                "runbooks",
                "secrets",
                f"{name!r}: a secret name is lowercase letters, digits, - and _",
            )
        elif not isinstance(file, str) or not file.startswith("/"):
            problem("runbooks", "secrets", f"{name}: must be the absolute path of a file")
        else:
            found[name] = Path(file)
    return RunbooksConfig(found, days, _grants(table.get("grants", {}), found, problem))


def _grants(table: Any, secrets: dict[str, Any], problem: Problem) -> dict[str, frozenset[str]]:
    """[runbooks.grants]: runbook name = [the secrets it may receive]."""
    section = "runbooks.grants"
    if not isinstance(table, dict):
        example = '[runbooks.grants] api-via-tunnel = ["api_token"]'
        problem(
            "runbooks", "grants", f'must be a table of runbook = ["secret", ...], like {example}'
        )
        return {}
    grants: dict[str, frozenset[str]] = {}
    for runbook, names in table.items():
        if not _SECRET.fullmatch(runbook):
            problem(section, runbook, "not a runbook name: lowercase letters, digits, - and _")
        elif not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problem(section, runbook, 'must be a list of secret names, like ["api_token"]')
        else:
            unknown = [n for n in names if n not in secrets]
            if unknown:
                known = ", ".join(sorted(secrets)) or "none"
                what = f"{', '.join(unknown)}: not in [runbooks] secrets (known: {known})"
                problem(section, runbook, what)
            grants[runbook] = frozenset(n for n in names if n in secrets)
    return grants


RUNBOOKS = ConfigSection("runbooks", KEYS, _parse, default=RunbooksConfig())
