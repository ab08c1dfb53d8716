"""The host configuration (TOML), and where opsbot keeps its files on the host.

Every problem names the file, the key and, where it can be found, the line; `opsbot check`
reports all of them at once. Secrets are never in this file, only the paths of files that hold
them (so that systemd credentials work), and never printed.
"""

import ipaddress
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.core.errors import OpsbotError
from bot.core.ids import ROOM_ID, USER_ID

DEFAULT_BOT_ID = "@opsbot:localhost"
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a webhook source is a path segment
DEFAULT_LISTEN = "127.0.0.1:8088"


class ConfigError(OpsbotError):
    code = "config"


@dataclass(frozen=True)
class HostPaths:
    """Where the repo and the host-only files (key, index) live. The key never enters the repo."""

    repo: Path
    state_dir: Path

    @classmethod
    def beside(cls, repo: Path, state_dir: Path | None = None) -> "HostPaths":
        """The CLI default: the state directory is `<repo>.opsbot/`, next to the repo."""
        repo = Path(repo).absolute()
        return cls(
            repo, Path(state_dir).absolute() if state_dir else repo.with_name(repo.name + ".opsbot")
        )

    @property
    def signing_key(self) -> Path:
        return self.state_dir / "signing_key"

    @property
    def allowed_signers(self) -> Path:
        return self.state_dir / "allowed_signers"

    @property
    def index(self) -> Path:
        return self.state_dir / "index.sqlite"

    @property
    def in_force(self) -> Path:
        """The tip of main opsbot wrote or an admin adopted (bot/state/in_force.py)."""
        return self.state_dir / "in_force"

    @property
    def handled(self) -> Path:
        return self.state_dir / "handled.sqlite"

    @property
    def outbox(self) -> Path:
        """The effects owed after each commit (bot/state/outbox.py)."""
        return self.state_dir / "outbox.sqlite"


@dataclass(frozen=True)
class MatrixConfig:
    homeserver: str
    user_id: str
    password_file: Path | None
    access_token_file: Path | None
    commands_per_minute: int = 30
    # "cross-signed": room keys only for devices their owner cross-signed (MSC4153); or "all"
    share_keys_with: str = "cross-signed"
    # The bot's cross-signing keys from a file of the operator's (a systemd credential), only
    # ever read; None: `<state_dir>/matrix/cross_signing.json`, made on the first start.
    cross_signing_key_file: Path | None = None


@dataclass(frozen=True)
class ReconcileConfig:
    hooks_dir: Path = Path("/etc/opsbot/hooks.d")
    interval: float = 300.0
    timeout: float = 600.0
    retries: int = 3


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP listener: Alertmanager, webhooks, and the state repo served read-only."""

    host: str = "127.0.0.1"
    port: int = 8088  # 0: any free port (tests)
    token_file: Path | None = None  # without it, /state.git is not served
    max_body_bytes: int = 1024 * 1024
    webhooks_per_minute: int = 60  # per source and client address


@dataclass(frozen=True)
class WebhookConfig:
    source: str  # POST /webhooks/<source>
    secret_file: Path
    room: str | None = None  # None: the announcement rooms of policy.toml
    # The source (a CI) may record versions: a payload with a `version` object becomes a
    # signed commit of versions/<app>/<version>.toml (its source commit and build time).
    records_versions: bool = False


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
    reconcile: ReconcileConfig = ReconcileConfig()
    http: HttpConfig | None = None  # None: no listener
    webhooks: tuple[WebhookConfig, ...] = ()
    alerts: AlertsConfig | None = None  # None: no /alertmanager route
    mirrors: tuple[str, ...] = ()  # where main, the notes and the runs are pushed
    runbooks: "RunbooksConfig" = field(default_factory=lambda: RunbooksConfig())
    metrics: MetricsConfig | None = None  # None: no /metrics page
    downloads: DownloadsConfig = DownloadsConfig()


_KNOWN = {
    "matrix": {
        "homeserver",
        "user_id",
        "password_file",
        "access_token_file",
        "commands_per_minute",
        "share_keys_with",
        "cross_signing_key_file",
    },
    "paths": {"state_dir", "repo", "hooks_dir"},
    "signing": {"key_file", "allowed_signers_file"},
    "reconcile": {"interval_seconds", "timeout_seconds", "retries"},
    "http": {"listen", "token_file", "max_body_bytes", "webhooks_per_minute"},
    "webhooks.<source>": {"secret_file", "room", "records_versions"},
    "alerts": {"room", "token_file", "unauthenticated", "requests_per_minute"},
    "mirrors": {"remotes"},
    "runbooks": {"secrets", "grants", "keep_output_days"},
    "metrics": {"token_file"},
    "downloads": {
        "dir",
        "quota_bytes",
        "retention_hours",
        "link_expiry_minutes",
        "single_use",
        "public_url",
    },
}
WEBHOOKS = "webhooks"  # [webhooks.<source>]: one table per source


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

    problems: list[str] = []

    def problem(section: str, key: str | None, what: str) -> None:
        line = _line_of(text, section, key)
        where = f"{path}:{line}" if line else str(path)
        problems.append(f"{where}: [{section}]{' ' + key if key else ''}: {what}")

    for section, value in data.items():
        if section == WEBHOOKS:
            continue  # a table of tables, checked below
        if section not in _KNOWN:
            problem(section, None, f"unknown section (known: {', '.join(_KNOWN)})")
        elif not isinstance(value, dict):
            problem(section, None, "must be a table")
        else:
            for key in value:
                if key not in _KNOWN[section]:
                    problem(
                        section, key, f"unknown key (known: {', '.join(sorted(_KNOWN[section]))})"
                    )

    def get(section: str, key: str, required: bool = False) -> str | None:
        value: Any = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if value is None:
            if required:
                problem(section, key, "missing")
            return None
        if not isinstance(value, str) or not value:
            problem(section, key, "must be a non-empty string")
            return None
        return value

    repo = get("paths", "repo", required=True)
    state_dir = get("paths", "state_dir", required=True)
    key_file = get("signing", "key_file")
    extra_signers = get("signing", "allowed_signers_file")
    matrix = _matrix(data, problem, get)
    reconcile = _reconcile(data, problem, get)

    http = _http(data, problem, get)
    webhooks = _webhooks(data, problem)
    alerts = _alerts(data, problem, get, http)
    if http is None:  # both are routes of the HTTP listener
        listeners = [f"{WEBHOOKS}.{w.source}" for w in webhooks]
        for section in ["alerts", *listeners] if "alerts" in data else listeners:
            problem(section, None, "needs an [http] section to listen on")
    mirrors = _mirrors(data, problem)
    runbooks = _runbooks(data, problem)
    metrics = None
    if isinstance(data.get("metrics"), dict):
        token = get("metrics", "token_file")
        metrics = MetricsConfig(Path(token) if token else None)
        if http is None:
            problem("metrics", None, "needs an [http] section to listen on")
    downloads = _downloads(data, problem, get)

    if problems:
        raise ConfigError("\n".join(problems))
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


Problem = Callable[[str, str | None, str], None]


class Get(Protocol):
    """Reads a string value of the config, saying so when it is missing and `required`."""

    def __call__(self, section: str, key: str, required: bool = False) -> str | None: ...


def _matrix(data: dict[str, Any], problem: Problem, get: Get) -> MatrixConfig | None:
    if "matrix" not in data:
        return None
    homeserver = get("matrix", "homeserver", required=True)
    user_id = get("matrix", "user_id", required=True)
    password = get("matrix", "password_file")
    token = get("matrix", "access_token_file")
    if homeserver and not homeserver.startswith(("https://", "http://")):
        problem("matrix", "homeserver", "must start with https:// (or http:// for a local test)")
    if user_id and not USER_ID.fullmatch(user_id):
        problem(
            "matrix", "user_id", f"{user_id!r} is not a Matrix user id like @opsbot:example.org"
        )
    if not password and not token:
        problem("matrix", "password_file", "give password_file or access_token_file")
    table = data["matrix"] if isinstance(data["matrix"], dict) else {}
    rate = table.get("commands_per_minute", 30)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        problem("matrix", "commands_per_minute", "must be a whole number >= 1")
        rate = 30
    share = table.get("share_keys_with", "cross-signed")
    if share not in ("cross-signed", "all"):
        problem("matrix", "share_keys_with", 'must be "cross-signed" (the default) or "all"')
        share = "cross-signed"
    keys = get("matrix", "cross_signing_key_file")
    if not (homeserver and user_id):
        return None
    return MatrixConfig(
        homeserver,
        user_id,
        Path(password) if password else None,
        Path(token) if token else None,
        rate,
        share,
        Path(keys) if keys else None,
    )


def _reconcile(data: dict[str, Any], problem: Problem, get: Get) -> ReconcileConfig:
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


def _http(data: dict[str, Any], problem: Problem, get: Get) -> HttpConfig | None:
    if not isinstance(data.get("http"), dict):
        return None
    table = data["http"]
    host, port = HttpConfig.host, HttpConfig.port
    listen = get("http", "listen") or DEFAULT_LISTEN
    parsed = _host_port(listen)
    if parsed is None:
        problem("http", "listen", f"{listen!r} is not host:port, like {DEFAULT_LISTEN!r}")
    else:
        host, port = parsed
    token = get("http", "token_file")
    numbers = {}
    for key, default, least in (
        ("max_body_bytes", HttpConfig.max_body_bytes, 1024),
        ("webhooks_per_minute", HttpConfig.webhooks_per_minute, 1),
    ):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problem("http", key, f"must be a whole number >= {least}")
            value = default
        numbers[key] = value
    return HttpConfig(
        host=host,
        port=port,
        token_file=Path(token) if token else None,
        max_body_bytes=numbers["max_body_bytes"],
        webhooks_per_minute=numbers["webhooks_per_minute"],
    )


def _alerts(
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


def loopback(host: str) -> bool:
    """True for an address only this host can reach (an address, not a name that may resolve
    to something else)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(listen: str) -> tuple[str, int] | None:
    host, colon, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:8088
    if not colon or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
            return None
    return host, int(port)


def _webhooks(data: dict[str, Any], problem: Problem) -> tuple[WebhookConfig, ...]:
    table = data.get(WEBHOOKS)
    if table is None:
        return ()
    if not isinstance(table, dict):
        problem(WEBHOOKS, None, "must be tables, one per source: [webhooks.<source>]")
        return ()
    known = _KNOWN[f"{WEBHOOKS}.<source>"]
    found = []
    for source, value in table.items():
        section = f"{WEBHOOKS}.{source}"
        if not isinstance(value, dict):
            problem(section, None, "must be a table, like [webhooks.ci] secret_file = ...")
            continue
        if not _SOURCE.fullmatch(source):
            problem(section, None, "a source name is lowercase letters, digits, - and _")
        for key in value:
            if key not in known:
                problem(section, key, f"unknown key (known: {', '.join(sorted(known))})")
        secret, room = value.get("secret_file"), value.get("room")
        if not isinstance(secret, str) or not secret:
            problem(section, "secret_file", "missing: every webhook is signed with its secret")
            continue
        if room is not None and (not isinstance(room, str) or not ROOM_ID.fullmatch(room)):
            problem(section, "room", f"{room!r} is not a Matrix room id like !abc:example.org")
            continue
        versions = value.get("records_versions", False)
        if not isinstance(versions, bool):
            problem(section, "records_versions", "must be true or false")
            continue
        found.append(WebhookConfig(source, Path(secret), room, versions))
    return tuple(found)


def _mirrors(data: dict[str, Any], problem: Problem) -> tuple[str, ...]:
    table = data.get("mirrors")
    if not isinstance(table, dict):
        return ()
    remotes = table.get("remotes", [])
    if not isinstance(remotes, list) or not all(isinstance(r, str) and r for r in remotes):
        problem("mirrors", "remotes", 'must be a list of remotes, like ["/srv/backup/state.git"]')
        return ()
    if len(set(remotes)) != len(remotes):
        problem("mirrors", "remotes", "lists a remote twice")
    return tuple(dict.fromkeys(remotes))


_SECRET = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_KEEP_DAYS = 3650


def _runbooks(data: dict[str, Any], problem: Problem) -> RunbooksConfig:
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


def _downloads(data: dict[str, Any], problem: Problem, get: Get) -> DownloadsConfig:
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


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Line number of `key` in `[section]` (or of the section header), for error messages."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            current = header.group(1).strip()
            if key is None and current == section:
                return number
        elif current == section and key and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None
