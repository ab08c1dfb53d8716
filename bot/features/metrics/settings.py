"""[metrics]: `GET /metrics` for Prometheus is served only when the host config has this
section: to whoever sends `token_file`'s token, or else to this host's own addresses only."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.http import HttpConfig
from bot.config.problems import Get, Problem
from bot.config.section import ConfigSection

KEYS = frozenset({"token_file"})


@dataclass(frozen=True)
class MetricsConfig:
    token_file: Path | None = None


def _parse(
    _table: dict[str, Any], problem: Problem, get: Get, http: HttpConfig | None
) -> MetricsConfig:
    token = get("metrics", "token_file")
    if http is None:
        problem("metrics", None, "needs an [http] section to listen on")
    return MetricsConfig(Path(token) if token else None)


METRICS: ConfigSection[MetricsConfig | None] = ConfigSection("metrics", KEYS, _parse, default=None)
