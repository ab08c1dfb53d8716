"""A download's place on a host, as its host config sets it."""

from pathlib import Path

from bot import config
from bot.features.catalog import sections
from bot.features.downloads.host import Downloads


def downloads_at(tmp_path: Path, quota: int = 10**7, http: bool = True) -> Downloads:
    """Downloads of up to `quota` bytes under `tmp_path`, with links on a listener's address
    when `http`."""
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{tmp_path}/repo.git"\nstate_dir = "{tmp_path}/state"\n'
        + ('[http]\nlisten = "127.0.0.1:8088"\n' if http else "")
        + f"[downloads]\nquota_bytes = {quota}\n"
    )
    return Downloads.of(config.load(host, sections()))
