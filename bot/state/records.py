"""The files of the state repo as typed records, read and written as TOML.

People edit these files by hand and review them in diffs, so writing a record goes through
tomlkit and changes only the keys that changed: comments, order and layout a person wrote survive.
Reading is strict: an unknown key is more likely a typo (`aprovals = 1`) than a wish, and a
silently ignored approval rule is worse than a refused command. Every problem names the file and
the field.
"""

import dataclasses
import functools
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import tomlkit

from bot.core.errors import InvalidRecord
from bot.state.names import name_problem, version_problem

FROM_PATH = {"from_path": True}
"""Marks a field whose value is the file's name, not a key in it (apps/web.toml -> "web")."""


@dataclass(frozen=True)
class App:
    name: str = field(metadata=FROM_PATH)
    description: str = ""
    deploy: str | None = None
    health: str | None = None
    observe: str | None = None
    gitops: Mapping[str, Any] | None = None
    """The `[gitops]` table as written: rendered for a GitOps engine, which applies it (no
    deploy hook runs on this host). The GitOps feature reads and checks it; the state layer
    only knows that it is there."""


@dataclass(frozen=True)
class Environment:
    name: str = field(metadata=FROM_PATH)
    order: int = 0
    description: str = ""
    approvals: int = 0
    proposal_expiry_hours: int = 24
    require_verified_device: bool = False


@dataclass(frozen=True)
class Deployment:
    env: str = field(metadata=FROM_PATH)
    app: str = field(metadata=FROM_PATH)
    version: str = ""
    requested_by: str = ""
    requested_at: datetime | None = None
    reason: str = ""
    command: str = ""
    """The command that asked for it (deploy, redeploy, rollback, promote): what the metrics
    count as a rollback or a redeploy is read here, never from a commit message. Empty in
    records written before opsbot kept it (or by hand)."""


@dataclass(frozen=True)
class Freeze:
    env: str = field(metadata=FROM_PATH)
    by: str = ""
    since: datetime | None = None
    until: datetime | None = None
    reason: str = ""

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class Lock:
    """A deploy lock: only its holder (or an admin) may change the environment."""

    env: str = field(metadata=FROM_PATH)
    by: str = ""
    since: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class Suspension:
    """Reconciliation of an app or an environment is paused while this exists."""

    name: str = field(metadata=FROM_PATH)
    by: str = ""
    since: datetime | None = None
    reason: str = ""


R = TypeVar("R")

_REQUIRED = {
    Deployment: ("version", "requested_by", "requested_at"),
    Freeze: ("by", "since"),
    Lock: ("by", "since"),
    Suspension: ("by", "since"),
    Environment: ("order",),
}

_SHAPES: dict[tuple[type, str], Callable[[str], str | None]] = {
    (Deployment, "version"): version_problem,
}
"""Fields that reach a hook's argv: held to the shape a command's argument must have."""


def _table(name: str) -> Callable[[str, Any], Any]:
    def table(path: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidRecord(path, name, f"must be a table: [{name}]")
        return types.MappingProxyType(value)

    return table


_TABLES: dict[tuple[type, str], Callable[[str, Any], Any]] = {
    (App, "gitops"): _table("gitops"),
}
"""Fields that are TOML tables, each read by its own parser (which names file and key)."""


_type_hints = functools.cache(typing.get_type_hints)


def parse_toml(path: str, text: str) -> dict[str, Any]:
    """Reading needs only the values, and every command reads several files: the standard
    library's parser is many times faster than tomlkit, which is kept for writing."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidRecord(path, None, f"not valid TOML ({e})") from None


def decode(cls: type[R], path: str, text: str, **from_path: str) -> R:
    """Reads the record `cls` from the TOML `text` of the file at `path`."""
    found = _decoded(cls, path, text, tuple(sorted(from_path.items())))  # type: ignore[arg-type]
    return typing.cast(R, found)


# Every command reads the same few records again (the apps, the environments, the deployment
# it changes), and records are frozen: one decoding of each text is kept.
@functools.lru_cache(maxsize=1024)
def _decoded(cls: type, path: str, text: str, path_values: tuple[tuple[str, str], ...]) -> object:
    from_path = dict(path_values)
    for key, value in from_path.items():
        # The file's name is an app or environment name, and a hand edit can name it anything.
        if (problem := name_problem(value)) is not None:
            raise InvalidRecord(path, key, f"{value!r} (from the file name) {problem}")
    data = parse_toml(path, text)
    hints = _type_hints(cls)
    values: dict[str, Any] = dict(from_path)
    known = set()
    for f in dataclasses.fields(cls):
        if f.metadata.get("from_path"):
            continue
        known.add(f.name)
        if f.name not in data:
            if f.name in _REQUIRED.get(cls, ()):
                raise InvalidRecord(path, f.name, "missing")
            continue
        table = _TABLES.get((cls, f.name))
        if table is not None:
            values[f.name] = table(path, data[f.name])
            continue
        values[f.name] = _check(path, f.name, hints[f.name], data[f.name])
        shape = _SHAPES.get((cls, f.name))
        if shape is not None and (problem := shape(values[f.name])) is not None:
            raise InvalidRecord(path, f.name, f"{values[f.name]!r} {problem}")
    for key in data:
        if key not in known:
            raise InvalidRecord(path, key, f"unknown field (known: {', '.join(sorted(known))})")
    if cls is App and values.get("gitops") is not None and values.get("deploy") is not None:
        raise InvalidRecord(
            path,
            "deploy",
            "an app with [gitops] is applied by its GitOps "
            "engine, not by a deploy hook: remove one of them",
        )
    return cls(**values)


def encode(record: object, previous: str | None = None, *, header: str | None = None) -> str:
    """The TOML text of `record`, keeping everything of `previous` that did not change."""
    doc = tomlkit.parse(previous) if previous else tomlkit.document()
    if header and not previous:
        for line in header.splitlines():
            doc.add(tomlkit.comment(line))
    for f in dataclasses.fields(record):  # type: ignore[arg-type]
        if f.metadata.get("from_path"):
            continue
        value = getattr(record, f.name)
        if value is None or (value == f.default and f.name not in doc):
            doc.pop(f.name, None)
        elif doc.get(f.name) != value:
            doc[f.name] = value
    return tomlkit.dumps(doc)


def _check(path: str, key: str, hint: Any, value: Any) -> Any:
    expected = _unoptional(hint)
    if expected is datetime:
        if not isinstance(value, datetime):
            raise InvalidRecord(path, key, "must be a date and time, like 2026-11-26T14:05:00Z")
        if value.tzinfo is None:
            raise InvalidRecord(path, key, "needs a time zone, like 2026-11-26T14:05:00Z")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRecord(path, key, f"must be a whole number >= 0, not {value!r}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise InvalidRecord(path, key, f"must be true or false, not {value!r}")
        return value
    if expected is str:
        if not isinstance(value, str):
            raise InvalidRecord(path, key, f"must be a string, not {value!r}")
        return value
    raise TypeError(f"no check for {hint!r}")


def _unoptional(hint: Any) -> Any:
    if isinstance(hint, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def strings(path: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRecord(path, key, "must be a list of strings")
    return list(value)
