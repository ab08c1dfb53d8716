"""[reconcile] (and [paths] hooks_dir): how often the reconciler compares what the repo wants
with what the host has, and how long and how many times it lets a hook try."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.problems import Get, Problem

RECONCILE_KEYS = frozenset({"interval_seconds", "timeout_seconds", "retries"})


@dataclass(frozen=True)
class ReconcileConfig:
    hooks_dir: Path = Path("/etc/opsbot/hooks.d")
    interval: float = 300.0
    timeout: float = 600.0
    retries: int = 3


def parse_reconcile(data: dict[str, Any], problem: Problem, get: Get) -> ReconcileConfig:
    hooks_dir = get("paths", "hooks_dir")
    numbers: dict[str, float] = {}
    table = data.get("reconcile", {}) if isinstance(data.get("reconcile"), dict) else {}
    for key, default in (("interval_seconds", 300), ("timeout_seconds", 600), ("retries", 3)):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problem("reconcile", key, "must be a number >= 0")
            value = default
        numbers[key] = value
    return ReconcileConfig(
        hooks_dir=Path(hooks_dir) if hooks_dir else ReconcileConfig.hooks_dir,
        interval=float(numbers["interval_seconds"]),
        timeout=float(numbers["timeout_seconds"]),
        retries=int(numbers["retries"]),
    )
