"""[downloads]: where the files of runbooks of kind `download` go, how much disk they may use,
how long they are kept, and how the links to files too large to upload behave."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.http import HttpConfig
from bot.config.paths import HostPaths
from bot.config.problems import Get, Problem
from bot.config.section import ConfigSection

KEYS = frozenset(
    {"dir", "quota_bytes", "retention_hours", "link_expiry_minutes", "single_use", "public_url"}
)


@dataclass(frozen=True)
class DownloadsConfig:
    dir: Path | None = None  # None: <state_dir>/downloads
    quota_bytes: int = 10 * 1024**3  # all downloads together, running ones included
    retention_hours: float = 24.0  # a finished run's files are removed after this
    link_expiry_minutes: float = 60.0
    single_use: bool = True  # a link is spent by the first fetch that sends a file's bytes
    public_url: str | None = None  # how people reach the listener; None: its own address

    def root(self, paths: HostPaths) -> Path:
        return self.dir if self.dir is not None else paths.state_dir / "downloads"


def _parse(
    table: dict[str, Any], problem: Problem, get: Get, _http: HttpConfig | None
) -> DownloadsConfig:
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


DOWNLOADS = ConfigSection("downloads", KEYS, _parse, default=DownloadsConfig())
