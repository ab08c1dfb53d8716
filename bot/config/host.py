"""The host config file: what it holds (`Config`) and how it is read (`load`).

The core's sections are read here, each by its own module; a feature's section is read by the
`ConfigSection` the feature declares, handed to `load` by whoever calls it (the catalog lists
them), since the config knows no feature.
"""

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.config.http import HTTP_KEYS, HttpConfig, parse_http
from bot.config.matrix import MATRIX_KEYS, MatrixConfig, parse_matrix
from bot.config.mirrors import MIRRORS_KEYS, parse_mirrors
from bot.config.paths import HostPaths
from bot.config.problems import ConfigError, Problems
from bot.config.reconcile import RECONCILE_KEYS, ReconcileConfig, parse_reconcile
from bot.config.section import ConfigSection
from bot.config.webhooks import WEBHOOK_KEYS, WEBHOOKS, WebhookConfig, parse_webhooks

DEFAULT_BOT_ID = "@opsbot:localhost"

T = TypeVar("T")


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
    mirrors: tuple[str, ...] = ()  # where main, the notes and the runs are pushed
    # The features' sections the file has, by name, as their `parse` read them.
    sections: Mapping[str, Any] = field(default_factory=dict)

    def section(self, section: ConfigSection[T]) -> T:
        """A feature's section as the file has it, or its default when the file has none."""
        if section.name not in self.sections:
            return section.default
        found: T = self.sections[section.name]
        return found


_CORE: dict[str, frozenset[str]] = {
    "matrix": MATRIX_KEYS,
    "paths": frozenset({"state_dir", "repo", "hooks_dir"}),
    "signing": frozenset({"key_file", "allowed_signers_file"}),
    "reconcile": RECONCILE_KEYS,
    "http": HTTP_KEYS,
    f"{WEBHOOKS}.<source>": WEBHOOK_KEYS,
    "mirrors": MIRRORS_KEYS,
}


def known_keys(sections: Sequence[ConfigSection[Any]]) -> dict[str, frozenset[str]]:
    """Every section the file may have (the core's, then the features'), with its keys."""
    return {**_CORE, **{section.name: section.keys for section in sections}}


def load(path: Path, sections: Sequence[ConfigSection[Any]]) -> Config:
    """Reads the host config, with the features' `sections`; raises ConfigError listing every
    problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        # A Latin-1 comment, or a UTF-16 file from a Windows editor: a config error (exit 2),
        # not a crash that Restart=on-failure would repeat forever.
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.start} is not): save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None

    problems = Problems(path, text, data)
    problem, get = problems.problem, problems.get
    known = known_keys(sections)
    for name, value in data.items():
        if name == WEBHOOKS:
            continue  # a table of tables, checked by parse_webhooks
        if name not in known:
            problem(name, None, f"unknown section (known: {', '.join(known)})")
        elif not isinstance(value, dict):
            problem(name, None, "must be a table")
        else:
            for key in value:
                if key not in known[name]:
                    problem(name, key, f"unknown key (known: {', '.join(sorted(known[name]))})")

    repo = get("paths", "repo", required=True)
    state_dir = get("paths", "state_dir", required=True)
    key_file = get("signing", "key_file")
    extra_signers = get("signing", "allowed_signers_file")
    matrix = parse_matrix(data, problem, get)
    reconcile = parse_reconcile(data, problem, get)
    http = parse_http(data, problem, get)
    webhooks = parse_webhooks(data, problem)
    # After the listener's: a feature's section may be served on it (its parse says if so).
    features = {
        section.name: section.parse(data[section.name], problem, get, http)
        for section in sections
        if isinstance(data.get(section.name), dict)
    }
    if http is None:  # each is a route of the HTTP listener
        for hook in webhooks:
            problem(f"{WEBHOOKS}.{hook.source}", None, "needs an [http] section to listen on")
    mirrors = parse_mirrors(data, problem)

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
        mirrors=mirrors,
        sections=features,
    )
