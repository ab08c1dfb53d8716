"""The host configuration (TOML), and where opsbot keeps its files on the host.

Every problem names the file, the key and, where it can be found, the line; `opsbot check`
reports all of them at once. Secrets are never in this file, only the paths of files that hold
them (so that systemd credentials work), and never printed.

- paths.py: HostPaths, where the repo and the host-only files live;
- problems.py: ConfigError, and how a problem names its file, key and line;
- host.py: Config, and `load`, which reads each section by its module (matrix.py, http.py,
  webhooks.py, reconcile.py, mirrors.py, feature_sections.py);
- tokens.py: reading a secret file, and comparing a token with it.

What was importable from here still is; import from the module that defines a thing.
"""

from bot.config.feature_sections import (
    AlertsConfig,
    DownloadsConfig,
    MetricsConfig,
    RunbooksConfig,
)
from bot.config.host import DEFAULT_BOT_ID, Config, load
from bot.config.http import HttpConfig, loopback
from bot.config.matrix import MatrixConfig
from bot.config.paths import HostPaths
from bot.config.problems import ConfigError
from bot.config.reconcile import ReconcileConfig
from bot.config.webhooks import WebhookConfig

__all__ = [
    "DEFAULT_BOT_ID",
    "AlertsConfig",
    "Config",
    "ConfigError",
    "DownloadsConfig",
    "HostPaths",
    "HttpConfig",
    "MatrixConfig",
    "MetricsConfig",
    "ReconcileConfig",
    "RunbooksConfig",
    "WebhookConfig",
    "load",
    "loopback",
]
