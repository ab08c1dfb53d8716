"""A feature that lives only in the tests: bookmarks. It uses every part of the contract
(docs/adding-a-feature.md), so a test can show that the catalog alone registers a feature:

- a command, `!bookmark <label> <text...>`, with an argument kind of its own (`<label>`);
- a record kind, `bookmarks/<label>.toml`, and its check;
- a section of the host config, `[bookmarks] greeting`;
- a section of policy.toml, `[bookmarks] labels`: the labels people may set;
- a journal, `bookmarks.sqlite`, with its schema version;
- a worker that takes the command's jobs and counts them in the journal;
- a page, `GET /bookmarks/{label}`, that shows the count.
"""

import asyncio
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config.http import HttpConfig
from bot.config.problems import Get, Problem
from bot.config.section import ConfigSection
from bot.core.effects import Job
from bot.core.errors import InvalidRecord, Refused
from bot.engine.context import Change, Context, Outcome
from bot.engine.feature import Feature
from bot.engine.host import Worker, WorkerParts
from bot.engine.http import Fetch, Page, Served
from bot.engine.kinds import ArgError, ArgKind
from bot.engine.registry import Command
from bot.engine.requests import Requests
from bot.state.journal_file import JournalFile
from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection
from bot.state.records import FROM_PATH, decode, encode
from bot.state.view import StateView

NAME = "bookmarks"
JOURNAL = "bookmarks.sqlite"
SCHEMA = 1
_LABEL = re.compile(r"[a-z][a-z0-9-]{0,31}")


# the argument kind


def label(value: str) -> str:
    if not _LABEL.fullmatch(value):
        raise ArgError("must be a label: lowercase letters, digits and '-', like release-notes")
    return value


# the record kind and its check


@dataclass(frozen=True)
class Bookmark:
    label: str = field(metadata=FROM_PATH)
    text: str = ""
    by: str = ""
    at: datetime | None = None


def path_of(name: str) -> str:
    return f"{NAME}/{name}.toml"


def problems(view: StateView) -> list[InvalidRecord]:
    found = []
    for entry in view.snapshot.list(NAME):
        name = entry.removesuffix(".toml")
        try:
            record = decode(Bookmark, path_of(name), view.text(path_of(name)) or "", label=name)
            if not record.text:
                raise InvalidRecord(path_of(name), "text", "missing: what the bookmark says")
        except InvalidRecord as e:
            found.append(e)
    return found


# the section of policy.toml


def _labels(table: dict[str, Any], read: PolicyReader) -> tuple[str, ...] | None:
    """The labels people may set; a label that is not one is left out (grants less)."""
    found = []
    for name in read.strings("bookmarks.labels", table.get("labels", [])) or []:
        if _LABEL.fullmatch(name):
            found.append(name)
        else:
            read.problem("bookmarks.labels", f"{name!r} is not a label")
    return tuple(found) if "labels" in table else None


LABELS: PolicySection[tuple[str, ...] | None] = PolicySection(
    NAME, frozenset({"labels"}), _labels, default=None, unreadable=()
)
"""None: any label; otherwise only these."""


# the command


def bookmark(ctx: Context) -> Outcome:
    name = ctx.args["label"]
    allowed = ctx.policy.section(LABELS)
    if allowed is not None and name not in allowed:
        raise Refused(
            f"{name!r} is not a label policy.toml lets people set",
            hint=f"labels: {', '.join(allowed) or '(none)'} ([bookmarks] labels in policy.toml)",
        )
    record = Bookmark(label=name, text=ctx.args["text"], by=ctx.sender, at=ctx.now)
    files: dict[str, str | None] = {path_of(name): encode(record)}
    return Outcome(
        f"bookmark: {name}",
        change=Change(name, files),
        effects=(Job(NAME, {"label": name}),),
    )


COMMAND = Command(
    name="bookmark",
    usage="<label> <text...>",
    summary="keep a line of text under a label",
    examples=("!bookmark release-notes the notes are in the wiki",),
    handler=bookmark,
    writes=True,
)


# the host config's section


@dataclass(frozen=True)
class Settings:
    greeting: str = "bookmarked"


def _settings(
    table: dict[str, Any], problem: Problem, get: Get, _http: HttpConfig | None
) -> Settings:
    greeting = get(NAME, "greeting")
    return Settings(greeting) if greeting else Settings()


SECTION: ConfigSection[Settings] = ConfigSection(
    NAME, frozenset({"greeting"}), _settings, default=Settings()
)


# the journal


class Counts:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("CREATE TABLE IF NOT EXISTS seen (label TEXT PRIMARY KEY, n INTEGER)")
        self.conn.execute(f"PRAGMA user_version = {SCHEMA}")

    def count(self, name: str) -> int:
        row = self.conn.execute("SELECT n FROM seen WHERE label = ?", [name]).fetchone()
        return int(row[0]) if row else 0

    def add(self, name: str) -> None:
        self.conn.execute(
            "INSERT INTO seen VALUES (?, 1) ON CONFLICT DO UPDATE SET n = n + 1", [name]
        )

    def close(self) -> None:
        self.conn.close()


# the worker


async def work(parts: WorkerParts, stop: asyncio.Event) -> None:
    counts = Counts(parts.config.paths.state_dir / JOURNAL)
    try:
        while not stop.is_set():
            for owed in parts.outbox.jobs(NAME):
                assert isinstance(owed.effect, Job)
                counts.add(str(owed.effect.data["label"]))
                parts.outbox.sent(owed, None)
            await asyncio.sleep(0.05)
    finally:
        counts.close()


# the page


async def show(requests: Requests, fetch: Fetch) -> Served:
    config = requests.host_config()
    assert config is not None
    name = fetch.params["label"]
    counts = Counts(config.paths.state_dir / JOURNAL)
    try:
        n = counts.count(name)
    finally:
        counts.close()
    greeting = config.section(SECTION).greeting
    return Served(text=f"{greeting}: {name} ({n} time{'' if n == 1 else 's'})")


FEATURE = Feature(
    NAME,
    commands=(COMMAND,),
    kinds=(ArgKind("label", label),),
    checks=(problems,),
    config=(SECTION,),
    policy=(LABELS,),
    journals=(JournalFile(JOURNAL, SCHEMA, Counts),),
    workers=(Worker(NAME, work),),
    pages=(Page("/bookmarks/{label}", show),),
)
