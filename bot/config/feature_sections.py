"""The sections of the host config that belong to features: [alerts], [runbooks], [metrics]
and [downloads]. Kept together here until each feature declares its own."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config.http import HttpConfig, loopback
from bot.config.paths import HostPaths
from bot.config.problems import Get, Problem
from bot.core.ids import ROOM_ID


@dataclass(frozen=True)
class AlertsConfig:
    """`POST /alertmanager`, served only when the host config has an [alerts] section."""

    room: str | None = None  # None: the announcement rooms of policy.toml
    token_file: Path | None = None  # bearer token Alertmanager must send (http_config)
    # No token, by choice: only with a loopback [http] listen, where only this host can send.
    unauthenticated: bool = False
    requests_per_minute: int = 20  # per client address, in bursts of half that


@dataclass(frozen=True)
class RunbooksConfig:
    """[runbooks]: the secrets runbooks may ask for by name (`env.X = { secret = "name" }`),
    each a file on the host (a systemd credential); the repo and the chat never hold them.
    Which runbook may receive which of them is the host's to say ([runbooks.grants], by runbook
    name): a runbook the repo declares asking for a secret not granted to it never runs. And
    how long a run's output file stays in the state directory (Git keeps it regardless)."""

    secrets: dict[str, Path] = field(default_factory=dict)
    keep_output_days: int = 14
    grants: dict[str, frozenset[str]] = field(default_factory=dict)  # runbook -> secret names


@dataclass(frozen=True)
class MetricsConfig:
    """`GET /metrics` for Prometheus, served only when the host config has a [metrics] section:
    to whoever sends `token_file`'s token, or else to this host's own addresses only."""

    token_file: Path | None = None


@dataclass(frozen=True)
class DownloadsConfig:
    """Runbooks of kind `download`: where their files go, how much disk they may use, how long
    they are kept, and how the links to files too large to upload behave."""

    dir: Path | None = None  # None: <state_dir>/downloads
    quota_bytes: int = 10 * 1024**3  # all downloads together, running ones included
    retention_hours: float = 24.0  # a finished run's files are removed after this
    link_expiry_minutes: float = 60.0
    single_use: bool = True  # a link is spent by the first fetch that sends a file's bytes
    public_url: str | None = None  # how people reach the listener; None: its own address

    def root(self, paths: HostPaths) -> Path:
        return self.dir if self.dir is not None else paths.state_dir / "downloads"


ALERTS_KEYS = frozenset({"room", "token_file", "unauthenticated", "requests_per_minute"})
RUNBOOKS_KEYS = frozenset({"secrets", "grants", "keep_output_days"})
METRICS_KEYS = frozenset({"token_file"})
DOWNLOADS_KEYS = frozenset(
    {"dir", "quota_bytes", "retention_hours", "link_expiry_minutes", "single_use", "public_url"}
)


def parse_alerts(
    data: dict[str, Any], problem: Problem, get: Get, http: HttpConfig | None
) -> AlertsConfig | None:
    if not isinstance(data.get("alerts"), dict):
        return None
    table = data["alerts"]
    room = get("alerts", "room")
    if room and not ROOM_ID.fullmatch(room):
        problem("alerts", "room", f"{room!r} is not a Matrix room id like !abc:example.org")
    token = get("alerts", "token_file")
    unauthenticated = table.get("unauthenticated", False)
    if not isinstance(unauthenticated, bool):
        problem("alerts", "unauthenticated", "must be true or false")
        unauthenticated = False
    if token and unauthenticated:
        problem("alerts", "unauthenticated", "true, but token_file is set too: choose one")
    elif not token and not unauthenticated:
        # Alerts open incidents and page people: anyone who can reach the port must not.
        problem(
            "alerts",
            "token_file",
            "missing: the bearer token Alertmanager must send (or "
            "unauthenticated = true, with a loopback [http] listen)",
        )
    elif unauthenticated and http is not None and not loopback(http.host):
        problem(
            "alerts",
            "unauthenticated",
            f"true, but [http] listen is on {http.host}, not a "
            "loopback address like 127.0.0.1: set token_file",
        )
    rate = table.get("requests_per_minute", AlertsConfig.requests_per_minute)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        problem("alerts", "requests_per_minute", "must be a whole number >= 1")
        rate = AlertsConfig.requests_per_minute
    return AlertsConfig(room, Path(token) if token else None, unauthenticated, rate)


_SECRET = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_KEEP_DAYS = 3650


def parse_runbooks(data: dict[str, Any], problem: Problem) -> RunbooksConfig:
    table = data.get("runbooks")
    if not isinstance(table, dict):
        return RunbooksConfig()
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


def parse_metrics(
    data: dict[str, Any], problem: Problem, get: Get, http: HttpConfig | None
) -> MetricsConfig | None:
    if not isinstance(data.get("metrics"), dict):
        return None
    token = get("metrics", "token_file")
    if http is None:
        problem("metrics", None, "needs an [http] section to listen on")
    return MetricsConfig(Path(token) if token else None)


def parse_downloads(data: dict[str, Any], problem: Problem, get: Get) -> DownloadsConfig:
    table = data.get("downloads")
    if not isinstance(table, dict):
        return DownloadsConfig()
    root = get("downloads", "dir")
    public = get("downloads", "public_url")
    if public and not public.startswith(("https://", "http://")):
        problem("downloads", "public_url", "must start with https:// (http:// only on loopback)")
        public = None
    quota = table.get("quota_bytes", DownloadsConfig.quota_bytes)
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
        problem("downloads", "quota_bytes", "must be a whole number of bytes >= 1")
        quota = DownloadsConfig.quota_bytes
    numbers: dict[str, float] = {}
    for key, default in (
        ("retention_hours", DownloadsConfig.retention_hours),
        ("link_expiry_minutes", DownloadsConfig.link_expiry_minutes),
    ):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problem("downloads", key, "must be a number > 0")
            value = default
        numbers[key] = float(value)
    single = table.get("single_use", True)
    if not isinstance(single, bool):
        problem("downloads", "single_use", "must be true or false")
        single = True
    return DownloadsConfig(
        dir=Path(root) if root else None,
        quota_bytes=quota,
        retention_hours=numbers["retention_hours"],
        link_expiry_minutes=numbers["link_expiry_minutes"],
        single_use=single,
        public_url=public.rstrip("/") if public else None,
    )
