"""A runbook's declaration, `runbooks/<name>.toml` in the state repo, read and checked.

The repo names a program of the host's hooks directory and its argv as a template over typed
parameters; the host decides what programs exist and which secrets they get. Everything here
is pure: a declaration in, a checked `Runbook` or an `InvalidRecord` naming the field out. The
words a run is typed with are read against it in binding.py.
"""

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.errors import InvalidRecord, NotFound
from bot.features.downloads.checksums import declared_sha256
from bot.features.runbooks.environ import refusal as env_refusal
from bot.features.runbooks.params import Param, decode_param
from bot.features.runbooks.patterns import PatternError, compile_pattern

if TYPE_CHECKING:
    from bot.state.view import StateView

DIRECTORY = "runbooks"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESERVED = {"cancel"}  # `!run cancel <id>`
PROGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SECRET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
KINDS = ("command", "download")  # a download: bot/features/downloads/
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MAX_KEEP = 16 * 1024 * 1024
DEFAULT_KEEP = 1024 * 1024
MAX_TIMEOUT = 24 * 3600
_KNOWN = {
    "summary",
    "help",
    "kind",
    "program",
    "args",
    "env",
    "timeout_seconds",
    "roles",
    "environments",
    "confirm",
    "keep_output_bytes",
    "redact",
    "concurrency",
    "when_busy",
    "params",
    "tunnel",
    "sha256",
}


@dataclass(frozen=True)
class Tunnel:
    """A program started before the runbook's own and stopped after it (a VPN, `ssh -L`): the
    run waits until 127.0.0.1:`port` accepts connections, at most `wait_seconds`."""

    program: str
    args: tuple[str, ...]
    port: int
    wait_seconds: int = 10


@dataclass(frozen=True)
class Runbook:
    name: str
    summary: str
    program: str
    help: str = ""
    kind: str = "command"
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # NAME -> template
    secrets: Mapping[str, str] = field(default_factory=dict)  # NAME -> host secret name
    params: tuple[Param, ...] = ()
    timeout: int = 60
    roles: tuple[str, ...] = ()  # empty: whoever policy.toml lets run !run
    environments: tuple[str, ...] = ()  # empty: any; else the env parameters must be in it
    confirm: bool = False
    keep_output: int = DEFAULT_KEEP
    redact: tuple[str, ...] = ()
    concurrency: int = 1
    when_busy: str = "queue"  # or "refuse"
    tunnel: Tunnel | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)  # a download's file -> checksum

    def usage(self) -> str:
        words = [f"!run {self.name}", *(p.usage() for p in self.params)]
        if self.confirm:
            words.append("--confirm")
        return " ".join(words)

    def describe(self) -> str:
        lines = [self.usage(), f"  {self.summary}"]
        if self.help:
            lines += [f"  {line}" for line in self.help.strip().splitlines()]
        lines += [f"  {p.describe()}" for p in self.params]
        if self.confirm:
            lines.append("  --confirm: required; this runbook acts, it does not only look")
        busy = "waits its turn" if self.when_busy == "queue" else "is refused"
        lines.append(
            f"  runs at most {self.timeout}s; {self.concurrency} at a time, a further run {busy}"
        )
        return "\n".join(lines)


def path_of(name: str) -> str:
    return f"{DIRECTORY}/{name}.toml"


def names(view: "StateView") -> list[str]:
    return sorted(
        entry.removesuffix(".toml")
        for entry in view.snapshot.list(DIRECTORY)
        if entry.endswith(".toml") and NAME.fullmatch(entry.removesuffix(".toml"))
    )


def load(view: "StateView", name: str) -> Runbook:
    """The runbook `name`, or NotFound suggesting the nearest names."""
    import difflib

    if not NAME.fullmatch(name) or name in RESERVED:
        raise NotFound(f"no runbook {name[:40]!r}", hint="!runbooks lists them")
    text = view.text(path_of(name))
    if text is None:
        close = difflib.get_close_matches(name, names(view), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise NotFound(f"no runbook {name!r}", hint=hint + "!runbooks lists them")
    return decode(name, text)


def problems(view: "StateView") -> list[InvalidRecord]:
    """Every file of runbooks/ that is not a runbook one may run, naming the file and the field
    (for `opsbot check`, and the watcher's news of a push)."""
    found: list[InvalidRecord] = []
    for entry in sorted(view.snapshot.list(DIRECTORY)):
        if not entry.endswith(".toml"):
            continue  # a README beside them
        name = entry.removesuffix(".toml")
        if not NAME.fullmatch(name):
            why = "not a runbook name: lowercase letters, digits, - and _, at most 64"
            found.append(InvalidRecord(path_of(name), None, why))
            continue
        try:
            decode(name, view.text(path_of(name)) or "")
        except InvalidRecord as e:
            found.append(e)
    return found


def ungranted(
    view: "StateView", secrets: Collection[str], grants: Mapping[str, Collection[str]]
) -> list[InvalidRecord]:
    """Every host secret (one of `secrets`) a runbook asks for that the host config does not
    grant it, for `opsbot check` given the host config: such a runbook is refused when it is
    asked for and again before it runs. A secret the host has not at all is no one's to leak,
    and its run is refused for that."""
    found: list[InvalidRecord] = []
    for name in names(view):
        try:
            runbook = load(view, name)
        except (InvalidRecord, NotFound):
            continue  # `problems` names it
        for key, secret in runbook.secrets.items():
            if secret in secrets and secret not in grants.get(name, ()):
                grant = f'[runbooks.grants] {name} = ["{secret}"]'
                why = f"the host config does not grant it the secret {secret!r} ({grant})"
                found.append(InvalidRecord(path_of(name), f"env.{key}", why))
    return found


def decode(name: str, text: str) -> Runbook:
    path = path_of(name)
    if name in RESERVED:
        raise InvalidRecord(path, None, f"{name!r} is a word of !run; rename the file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidRecord(path, None, f"not valid TOML ({e})") from None
    for key in data:
        if key not in _KNOWN:
            raise InvalidRecord(path, key, f"unknown (known: {', '.join(sorted(_KNOWN))})")
    summary = _string(path, data, "summary", required=True)
    program = _string(path, data, "program", required=True)
    if not PROGRAM.fullmatch(program):
        raise InvalidRecord(path, "program", "a name in the hooks directory, never a path")
    kind = _string(path, data, "kind") or "command"
    if kind not in KINDS:
        raise InvalidRecord(path, "kind", f"must be one of: {', '.join(KINDS)}")
    params_table = data.get("params", {})
    if not isinstance(params_table, dict):
        raise InvalidRecord(path, "params", "must be tables: [params.<name>]")
    params = tuple(decode_param(path, n, t) for n, t in params_table.items())
    known = {p.name for p in params}
    args = _strings(path, data, "args")
    for arg in args:
        _check_template(path, "args", arg, known)
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    env_table = data.get("env", {})
    if not isinstance(env_table, dict):
        raise InvalidRecord(path, "env", 'must be a table: NAME = "value" or { secret = ... }')
    for key, value in env_table.items():
        why = env_refusal(key)
        if why is not None:  # a value or a secret alike: the name is what steers
            raise InvalidRecord(path, f"env.{key}", why)
        if isinstance(value, dict) and set(value) == {"secret"}:
            secret = value["secret"]
            if not isinstance(secret, str) or not SECRET_NAME.fullmatch(secret):
                why = "secret names one of [runbooks] secrets the host config grants this runbook"
                raise InvalidRecord(path, f"env.{key}", why)
            secrets[key] = secret
        elif isinstance(value, str):
            _check_template(path, f"env.{key}", value, known)
            env[key] = value
        else:
            raise InvalidRecord(path, f"env.{key}", 'must be "text" or { secret = "name" }')
    when_busy = _string(path, data, "when_busy") or "queue"
    if when_busy not in ("queue", "refuse"):
        raise InvalidRecord(path, "when_busy", 'must be "queue" or "refuse"')
    redact = _strings(path, data, "redact")
    for pattern in redact:
        try:
            compile_pattern(pattern)
        except PatternError as e:
            raise InvalidRecord(path, "redact", f"{pattern!r}: {e}") from None
    confirm = data.get("confirm", False)
    if not isinstance(confirm, bool):
        raise InvalidRecord(path, "confirm", "must be true or false")
    return Runbook(
        name=name,
        summary=summary,
        program=program,
        help=_string(path, data, "help"),
        kind=kind,
        args=args,
        env=env,
        secrets=secrets,
        params=params,
        timeout=_number(path, data, "timeout_seconds", 60, 1, MAX_TIMEOUT),
        roles=_strings(path, data, "roles"),
        environments=_strings(path, data, "environments"),
        confirm=confirm,
        keep_output=_number(path, data, "keep_output_bytes", DEFAULT_KEEP, 1024, MAX_KEEP),
        redact=redact,
        concurrency=_number(path, data, "concurrency", 1, 1, 64),
        when_busy=when_busy,
        tunnel=_tunnel(path, data.get("tunnel"), known),
        sha256=declared_sha256(path, kind, data.get("sha256")),
    )


def _tunnel(path: str, table: Any, known: set[str]) -> Tunnel | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise InvalidRecord(path, "tunnel", "must be a table: program, args, port")
    program = _string(path, table, "program", required=True, where="tunnel.")
    if not PROGRAM.fullmatch(program):
        raise InvalidRecord(path, "tunnel.program", "a name in the hooks directory, never a path")
    args = _strings(path, table, "args", where="tunnel.")
    for arg in args:
        _check_template(path, "tunnel.args", arg, known)
    port = _number(path, table, "port", 0, 1, 65535, where="tunnel.")
    wait = _number(path, table, "wait_seconds", 10, 1, 300, where="tunnel.")
    return Tunnel(program, args, port, wait)


# checks


def _check_template(path: str, where: str, template: str, known: set[str]) -> None:
    plain = template.replace("{{", "").replace("}}", "")
    for name in _PLACEHOLDER.findall(plain):
        if name not in known:
            raise InvalidRecord(
                path,
                where,
                f"{{{name}}} names no parameter (known: {', '.join(sorted(known)) or 'none'})",
            )
    if "{" in _PLACEHOLDER.sub("", plain) or "}" in _PLACEHOLDER.sub("", plain):
        raise InvalidRecord(path, where, f"{template!r}: a lone brace (write {{{{ or }}}})")


def _string(
    path: str, data: Mapping[str, Any], key: str, *, required: bool = False, where: str = ""
) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidRecord(path, where + key, "missing")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidRecord(path, where + key, "must be a non-empty string")
    return value


def _strings(path: str, data: Mapping[str, Any], key: str, *, where: str = "") -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRecord(path, where + key, "must be a list of strings")
    return tuple(value)


def _number(
    path: str,
    data: Mapping[str, Any],
    key: str,
    default: int,
    low: int,
    high: int,
    *,
    where: str = "",
) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecord(path, where + key, f"must be a whole number from {low} to {high}")
    return value
