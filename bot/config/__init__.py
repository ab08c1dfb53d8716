"""The host configuration (TOML), and where opsbot keeps its files on the host.

Every problem names the file, the key and, where it can be found, the line; `opsbot check`
reports all of them at once. Secrets are never in this file, only the paths of files that hold
them (so that systemd credentials work), and never printed.

- paths.py: HostPaths, where the repo and the host-only files live;
- problems.py: ConfigError, and how a problem names its file, key and line;
- host.py: Config, and `load`, which reads the core's sections (matrix.py, http.py,
  webhooks.py, reconcile.py, mirrors.py) and the features' (section.py is their contract);
- tokens.py: reading a secret file, and comparing a token with it.

`load`, `Config`, `ConfigError` and `HostPaths` are also importable from here.
"""

from bot.config.host import Config, load
from bot.config.paths import HostPaths
from bot.config.problems import ConfigError

__all__ = ["Config", "ConfigError", "HostPaths", "load"]
