"""A download's place on the host, as the host config sets it: the per-run directories
(`store`), the ledger of runs and links, and the link's address."""

import time
from dataclasses import dataclass
from urllib.parse import quote

from bot.config.host import Config
from bot.features.downloads.links import LinkBook
from bot.features.downloads.settings import DOWNLOADS, DownloadsConfig
from bot.features.downloads.store import DownloadStore

LEDGER = "downloads.sqlite"
PREFIX = "/downloads"


@dataclass
class Downloads:
    settings: DownloadsConfig
    store: DownloadStore
    ledger: LinkBook
    base_url: str | None  # None: no HTTP listener, so no links

    @classmethod
    def of(cls, config: Config) -> "Downloads":
        settings = config.section(DOWNLOADS)
        base = settings.public_url
        if base is None and config.http is not None:
            host = config.http.host
            base = f"http://{f'[{host}]' if ':' in host else host}:{config.http.port}"
        return cls(
            settings,
            DownloadStore(settings.root(config.paths), settings.quota_bytes),
            LinkBook(config.paths.state_dir / LEDGER),
            base,
        )

    def close(self) -> None:
        self.ledger.close()

    def url(self, token: str, name: str | None = None) -> str:
        """The address of a link: of one file, or (None) of the list of a run's files."""
        assert self.base_url is not None
        return f"{self.base_url}{PREFIX}/{token}/{quote(name) if name else ''}"

    def interrupted(self) -> list[str]:
        """At start, before any run: the runs the last process left running were cut off by
        its end; their partial files go (the executor tells each run's reply why)."""
        stopped = self.ledger.interrupt_all()
        for run_id in stopped:
            self.store.remove(run_id)
        return stopped

    def expire(self, now: float | None = None) -> list[str]:
        """Removes the files (and links) of runs that ended more than the retention ago, and
        directories no run in the ledger claims (left by a crash) once as old."""
        now = now or time.time()
        keep_for = self.settings.retention_hours * 3600
        gone = self.ledger.expired_runs(before=now - keep_for)
        for run_id in gone:
            self.store.remove(run_id)
            self.ledger.forget(run_id)
        orphans = self.store.stale(keep_for, keep=self.ledger.kept())
        for run_id in orphans:
            self.store.remove(run_id)
        return gone + orphans
