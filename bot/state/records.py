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
from bot.state.record_text import plain

FROM_PATH = {"from_path": True}
"""Marks a field whose value is the file's name, not a key in it (apps/web.toml -> "web")."""

Shape = Callable[[Any], str | None]
"""What is wrong with a value (the text after the field's name), or None when it is right."""


def spec(
    *,
    required: bool = False,
    shape: Shape | None = None,
    each: Shape | None = None,
    table: Callable[[str, Any], Any] | None = None,
    from_path: bool = False,
) -> dict[str, Any]:
    """A field's metadata for the one decoder (`decode`): `required` (missing is a problem),
    `shape` (checked once the type is), `each` (checked for every item of a list or table),
    `table` (a TOML table read by its own parser, which names the file and key), `from_path`
    (the file's name, not a key in it; checked by `shape`, else as a name)."""
    found: dict[str, Any] = {"required": required, "from_path": from_path}
    for key, value in (("shape", shape), ("each", each), ("table", table)):
        if value is not None:
            found[key] = value
    return found


def one_of(*choices: str) -> Shape:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def shown(problem: Callable[[str], str | None]) -> Shape:
    """A name's or a version's problem, said after the value itself."""
    return lambda value: None if (p := problem(value)) is None else f"{value!r} {p}"


def _table(name: str) -> Callable[[str, Any], Any]:
    def table(path: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidRecord(path, name, f"must be a table: [{name}]")
        return types.MappingProxyType(value)

    return table


def _items(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True)
class App:
    name: str = field(metadata=FROM_PATH)
    description: str = ""
    deploy: str | None = None
    health: str | None = None
    observe: str | None = None
    gitops: Mapping[str, Any] | None = field(default=None, metadata=spec(table=_table("gitops")))
    """The `[gitops]` table as written: rendered for a GitOps engine, which applies it (no
    deploy hook runs on this host). The GitOps feature reads and checks it; the state layer
    only knows that it is there."""


@dataclass(frozen=True)
class Environment:
    name: str = field(metadata=FROM_PATH)
    order: int = field(default=0, metadata=spec(required=True))
    description: str = ""
    approvals: int = 0
    proposal_expiry_hours: int = 24
    require_verified_device: bool = False
    windows: tuple[Any, ...] = field(default=(), metadata=spec(table=lambda _p, v: _items(v)))
    """The `[[windows]]` tables as written: freeze windows on a calendar. The governance
    feature reads and checks them; one that does not read refuses changes to this environment
    only, so it is never a reason to skip the environment here."""


@dataclass(frozen=True)
class Deployment:
    env: str = field(metadata=FROM_PATH)
    app: str = field(metadata=FROM_PATH)
    # It reaches a hook's argv: held to the shape a command's argument must have.
    version: str = field(default="", metadata=spec(required=True, shape=shown(version_problem)))
    requested_by: str = field(default="", metadata=spec(required=True))
    requested_at: datetime | None = field(default=None, metadata=spec(required=True))
    reason: str = ""
    command: str = ""
    """The command that asked for it (deploy, redeploy, rollback, promote): what the metrics
    count as a rollback or a redeploy is read here, never from a commit message. Empty in
    records written before opsbot kept it (or by hand)."""
    hotfix: str = ""
    """The incident (`INC-7`) an emergency change was made for, past a freeze or the approvals
    (`--hotfix`); empty for every other change."""


@dataclass(frozen=True)
class Freeze:
    env: str = field(metadata=FROM_PATH)
    by: str = field(default="", metadata=spec(required=True))
    since: datetime | None = field(default=None, metadata=spec(required=True))
    until: datetime | None = None
    reason: str = ""

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class Lock:
    """A deploy lock: only its holder (or an admin) may change the environment."""

    env: str = field(metadata=FROM_PATH)
    by: str = field(default="", metadata=spec(required=True))
    since: datetime | None = field(default=None, metadata=spec(required=True))
    reason: str = ""


@dataclass(frozen=True)
class Suspension:
    """Reconciliation of an app or an environment is paused while this exists."""

    name: str = field(metadata=FROM_PATH)
    by: str = field(default="", metadata=spec(required=True))
    since: datetime | None = field(default=None, metadata=spec(required=True))
    reason: str = ""


R = TypeVar("R")

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
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in from_path.items():
        # The file's name is an app or environment name, and a hand edit can name it anything.
        shape = fields[key].metadata.get("shape", name_problem)
        if (problem := shape(value)) is not None:
            raise InvalidRecord(path, key, f"{value!r} (from the file name) {problem}")
    data = parse_toml(path, text)
    hints = _type_hints(cls)
    values: dict[str, Any] = dict(from_path)
    known = set()
    for f in fields.values():
        if f.metadata.get("from_path"):
            continue
        known.add(f.name)
        if f.name not in data:
            if f.metadata.get("required"):
                raise InvalidRecord(path, f.name, "missing")
            continue
        values[f.name] = _field(path, f, hints[f.name], data[f.name])
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


def _field(path: str, f: dataclasses.Field[Any], hint: Any, value: Any) -> Any:
    """One field's value, read as its type and its metadata (`spec`) say."""
    table = f.metadata.get("table")
    if table is not None:
        return table(path, value)
    expected = _unoptional(hint)
    origin = typing.get_origin(expected)
    each: Shape | None = f.metadata.get("each")
    if origin is tuple:
        items = strings(path, f.name, value)
        for item in items:
            _shaped(path, f.name, each, item)
        value = tuple(items)
    elif origin in (Mapping, dict) or expected in (Mapping, dict):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InvalidRecord(path, f.name, "must be a table of strings")
        for key, item in value.items():
            _shaped(path, f"{f.name}.{key}", each, item)
        value = dict(value)
    else:
        value = _check(path, f.name, hint, value)
    _shaped(path, f.name, f.metadata.get("shape"), value)
    return value


def _shaped(path: str, key: str, shape: Shape | None, value: Any) -> None:
    if shape is not None and (problem := shape(value)) is not None:
        raise InvalidRecord(path, key, problem)


def encode(record: object, previous: str | None = None, *, header: str | None = None) -> str:
    """The TOML text of `record`, keeping everything of `previous` that did not change."""
    fields = [f for f in dataclasses.fields(record) if not f.metadata.get("from_path")]  # type: ignore[arg-type]
    values = {f.name: getattr(record, f.name) for f in fields}
    at_default = {f.name for f in fields if values[f.name] == f.default}
    known = plain(previous, header, values, at_default)
    if known is not None:
        return known
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
