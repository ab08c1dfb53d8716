"""The host config file: what it holds (`Config`) and how it is read (`load`), each section by
its own module."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bot.config.feature_sections import (
    ALERTS_KEYS,
    DOWNLOADS_KEYS,
    METRICS_KEYS,
    RUNBOOKS_KEYS,
    AlertsConfig,
    DownloadsConfig,
    MetricsConfig,
    RunbooksConfig,
    parse_alerts,
    parse_downloads,
    parse_metrics,
    parse_runbooks,
)
from bot.config.http import HTTP_KEYS, HttpConfig, parse_http
from bot.config.matrix import MATRIX_KEYS, MatrixConfig, parse_matrix
from bot.config.mirrors import MIRRORS_KEYS, parse_mirrors
from bot.config.paths import HostPaths
from bot.config.problems import ConfigError, Problems
from bot.config.reconcile import RECONCILE_KEYS, ReconcileConfig, parse_reconcile
from bot.config.webhooks import WEBHOOK_KEYS, WEBHOOKS, WebhookConfig, parse_webhooks

DEFAULT_BOT_ID = "@opsbot:localhost"


@dataclass(frozen=True)
class Config:
    source: Path
    paths: HostPaths
    bot_id: str
    signing_key: Path
    matrix: MatrixConfig | None
    # Keys besides the bot's whose signed commits are in force without `!adopt` ([signing]
    # allowed_signers_file, in git's allowed-signers format): a team that signs its own pushes.
    extra_signers: Path | None = None
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    http: HttpConfig | None = None  # None: no listener
    webhooks: tuple[WebhookConfig, ...] = ()
    alerts: AlertsConfig | None = None  # None: no /alertmanager route
    mirrors: tuple[str, ...] = ()  # where main, the notes and the runs are pushed
    runbooks: RunbooksConfig = field(default_factory=RunbooksConfig)
    metrics: MetricsConfig | None = None  # None: no /metrics page
    downloads: DownloadsConfig = field(default_factory=DownloadsConfig)


KNOWN: dict[str, frozenset[str]] = {
    "matrix": MATRIX_KEYS,
    "paths": frozenset({"state_dir", "repo", "hooks_dir"}),
    "signing": frozenset({"key_file", "allowed_signers_file"}),
    "reconcile": RECONCILE_KEYS,
    "http": HTTP_KEYS,
    f"{WEBHOOKS}.<source>": WEBHOOK_KEYS,
    "alerts": ALERTS_KEYS,
    "mirrors": MIRRORS_KEYS,
    "runbooks": RUNBOOKS_KEYS,
    "metrics": METRICS_KEYS,
    "downloads": DOWNLOADS_KEYS,
}
"""Every section the file may have, with its keys."""


def load(path: Path) -> Config:
    """Reads the host config; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None

    problems = Problems(path, text, data)
    problem, get = problems.problem, problems.get
    for name, value in data.items():
        if name == WEBHOOKS:
            continue  # a table of tables, checked by parse_webhooks
        if name not in KNOWN:
            problem(name, None, f"unknown section (known: {', '.join(KNOWN)})")
        elif not isinstance(value, dict):
            problem(name, None, "must be a table")
        else:
            for key in value:
                if key not in KNOWN[name]:
                    problem(name, key, f"unknown key (known: {', '.join(sorted(KNOWN[name]))})")

    repo = get("paths", "repo", required=True)
    state_dir = get("paths", "state_dir", required=True)
    key_file = get("signing", "key_file")
    extra_signers = get("signing", "allowed_signers_file")
    matrix = parse_matrix(data, problem, get)
    reconcile = parse_reconcile(data, problem, get)
    http = parse_http(data, problem, get)
    webhooks = parse_webhooks(data, problem)
    alerts = parse_alerts(data, problem, get, http)
    if http is None:  # both are routes of the HTTP listener
        listeners = [f"{WEBHOOKS}.{w.source}" for w in webhooks]
        for section in ["alerts", *listeners] if "alerts" in data else listeners:
            problem(section, None, "needs an [http] section to listen on")
    mirrors = parse_mirrors(data, problem)
    runbooks = parse_runbooks(data, problem)
    metrics = parse_metrics(data, problem, get, http)
    downloads = parse_downloads(data, problem, get)

    problems.raise_if_any()
    assert repo and state_dir
    paths = HostPaths(Path(repo), Path(state_dir))
    return Config(
        source=path,
        paths=paths,
        bot_id=matrix.user_id if matrix else DEFAULT_BOT_ID,
        signing_key=Path(key_file) if key_file else paths.signing_key,
        matrix=matrix,
        extra_signers=Path(extra_signers) if extra_signers else None,
        reconcile=reconcile,
        http=http,
        webhooks=webhooks,
        alerts=alerts,
        mirrors=mirrors,
        runbooks=runbooks,
        metrics=metrics,
        downloads=downloads,
    )
