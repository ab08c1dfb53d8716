"""A feature that only the tests know (tests/helpers/bookmarks.py), put in the catalog's list
and nowhere else, works end to end: its command through the console, its record's check, its
section of the host config and its section of policy.toml, its journal, its worker taking the
command's job, and its page on the HTTP listener. Nothing in bot/ names it."""

import asyncio
import io
import time
from pathlib import Path

import aiohttp
import pytest

from bot.config import load
from bot.config.paths import HostPaths
from bot.core.errors import OpsbotError
from bot.engine.host import WorkerParts
from bot.engine.services import Services
from bot.features import catalog
from bot.service import upgrade
from bot.service.assemble import init_repo, open_engine
from bot.state.view import StateView
from bot.transport import console
from bot.transport.http import HttpListener
from tests.helpers import bookmarks
from tests.helpers.bot import ALICE, BOB, Bot, Clock
from tests.helpers.git import git

BOT = Path(__file__).resolve().parents[2] / "bot"
FEATURES = (*catalog.FEATURES, bookmarks.FEATURE)
POLICY = (
    f'[roles.admin]\nmembers = ["{ALICE}"]\n'
    f'[roles.bookmarker]\nmembers = ["{BOB}"]\ncommands = ["bookmark"]\n'
)


def said(engine: object, line: str) -> tuple[int, str]:
    out = io.StringIO()
    status = console.serve(engine, ALICE, io.StringIO(line + "\n"), out)  # type: ignore[arg-type]
    return status, out.getvalue()


@pytest.fixture
def paths(tmp_path: Path) -> HostPaths:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=[ALICE])
    return paths


def host_config(tmp_path: Path, paths: HostPaths, extra: str = "") -> Path:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        f'[paths]\nrepo = "{paths.repo}"\nstate_dir = "{paths.state_dir}"\n'
        f'[http]\nlisten = "127.0.0.1:0"\n{extra}'
    )
    return path


def test_no_file_of_bot_names_the_feature() -> None:
    naming = [p.name for p in BOT.rglob("*.py") if "bookmark" in p.read_text().lower()]
    assert naming == []


async def test_its_command_commits_and_its_worker_and_page_answer(
    tmp_path: Path, paths: HostPaths
) -> None:
    engine = open_engine(paths, features=FEATURES)
    status, out = said(engine, "!bookmark release-notes the notes are in the wiki")
    assert status == 0 and "bookmark: release-notes" in out
    record = git(paths.repo, "show", "main:bookmarks/release-notes.toml")
    assert 'text = "the notes are in the wiki"' in record
    assert git(paths.repo, "log", "-1", "--format=%s", "main").strip() == (
        "bookmark: release-notes"
    )

    config = load(
        host_config(tmp_path, paths, '[bookmarks]\ngreeting = "kept"\n'), catalog.sections(FEATURES)
    )
    services = Services(engine, config)
    listener = HttpListener(config, services, pages=[p for f in FEATURES for p in f.pages])
    await listener.start()
    stop = asyncio.Event()
    parts = WorkerParts(engine.repo, engine.ledger, services, config, listener.url)
    working = asyncio.gather(*(w.run(parts, stop) for f in FEATURES for w in f.workers))
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 20
            while True:
                async with http.get(f"{listener.url}/bookmarks/release-notes") as r:
                    page = (r.status, await r.text())
                if page == (200, "kept: release-notes (1 time)") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        assert page == (200, "kept: release-notes (1 time)")
        assert engine.ledger.jobs(bookmarks.NAME) == []  # taken, once
    finally:
        stop.set()
        await working
        await listener.stop()


def test_its_check_names_a_record_that_does_not_read(paths: HostPaths, clock: Clock) -> None:
    bot = Bot(paths, open_engine(paths, clock=clock, features=FEATURES), clock)
    assert bot.say("!bookmark oncall the rota is in the wiki").ok
    assert bot.engine.view().problems() == []
    bot.edit("bookmarks/oncall.toml", 'by = "@alice:example.org"\n')
    problems = StateView(bot.engine.repo.snapshot(), catalog.checks(FEATURES)).problems()
    assert [(p.path, p.message) for p in problems] == [
        (
            "bookmarks/oncall.toml",
            "bookmarks/oncall.toml: text: missing: what the bookmark says",
        )
    ]
    assert StateView(bot.engine.repo.snapshot(), catalog.checks()).problems() == []


def test_its_section_of_the_policy_says_which_labels_people_may_set(
    paths: HostPaths, clock: Clock
) -> None:
    bot = Bot(paths, open_engine(paths, clock=clock, features=FEATURES), clock)
    bot.edit("policy.toml", POLICY)  # no [bookmarks]: any label
    assert bot.say("!bookmark release-notes the notes are in the wiki", sender=BOB).ok
    bot.edit("policy.toml", POLICY + '[bookmarks]\nlabels = ["oncall"]\n')
    assert bot.say("!bookmark oncall the rota is in the wiki", sender=BOB).ok
    refused = bot.say("!bookmark release-notes moved to the handbook", sender=BOB)
    assert "'release-notes' is not a label policy.toml lets people set" in refused.text
    assert "notes are in the wiki" in bot.show("bookmarks/release-notes.toml")


def test_its_section_of_the_policy_is_checked_like_the_core_s(
    paths: HostPaths, clock: Clock
) -> None:
    bot = Bot(paths, open_engine(paths, clock=clock, features=FEATURES), clock)
    bot.edit("policy.toml", POLICY + '[bookmarks]\nlabels = ["oncall", "On Call"]\nlabel = 1\n')
    view = StateView(
        bot.engine.repo.snapshot(), catalog.checks(FEATURES), catalog.policy_sections(FEATURES)
    )
    assert [p.message for p in view.problems()] == [
        "policy.toml: bookmarks.label: unknown field (known: labels)",
        "policy.toml: bookmarks.labels: 'On Call' is not a label",
    ]
    assert view.policy().closed is None
    assert bot.say("!bookmark oncall the rota is in the wiki", sender=BOB).ok


def test_a_misspelt_section_of_its_policy_still_closes_the_policy(
    paths: HostPaths, clock: Clock
) -> None:
    bot = Bot(paths, open_engine(paths, clock=clock, features=FEATURES), clock)
    bot.edit("policy.toml", POLICY + '[bookmark]\nlabels = ["oncall"]\n')
    refused = bot.say("!bookmark oncall the rota is in the wiki", sender=BOB)
    assert not refused.ok
    assert "[bookmark] is not a section opsbot knows" in refused.text
    assert bot.say("!bookmark oncall the rota is in the wiki").ok  # the admins still act


def test_the_core_alone_does_not_know_its_section_of_the_policy(
    paths: HostPaths, clock: Clock
) -> None:
    bot = Bot(paths, open_engine(paths, clock=clock, features=FEATURES), clock)
    bot.edit("policy.toml", POLICY + '[bookmarks]\nlabels = ["oncall"]\n')
    view = StateView(bot.engine.repo.snapshot(), catalog.checks(), catalog.policy_sections())
    assert view.policy().closed == "[bookmarks] is not a section opsbot knows"


def test_its_argument_kind_says_what_it_wants(paths: HostPaths) -> None:
    engine = open_engine(paths, features=FEATURES)
    status, out = said(engine, "!bookmark Release the notes")
    assert status == 1
    assert "<label> 'Release' must be a label" in out


def test_its_section_of_the_host_config_is_checked_like_the_core_s(
    tmp_path: Path, paths: HostPaths
) -> None:
    path = host_config(tmp_path, paths, '[bookmarks]\ngreting = "typo"\n')
    with pytest.raises(OpsbotError) as raised:
        load(path, catalog.sections(FEATURES))
    assert "[bookmarks] greting: unknown key (known: greeting)" in raised.value.message
    assert (
        load(host_config(tmp_path, paths), catalog.sections(FEATURES)).section(bookmarks.SECTION)
        == bookmarks.Settings()
    )


def test_its_journal_is_migrated_and_guarded_with_the_core_s(paths: HostPaths) -> None:
    host = upgrade.Host(
        paths,
        ALICE,
        paths.signing_key,
        refs=catalog.kept_refs(FEATURES),
        journals=catalog.journals(FEATURES),
    )
    bookmarks.Counts(paths.state_dir / bookmarks.JOURNAL).close()
    upgrade.check_versions(host)
    counts = bookmarks.Counts(paths.state_dir / bookmarks.JOURNAL)
    counts.conn.execute("PRAGMA user_version = 9")
    counts.close()
    with pytest.raises(OpsbotError) as raised:
        upgrade.check_versions(host)
    assert "bookmarks.sqlite" in raised.value.message


def test_help_lists_its_command(paths: HostPaths) -> None:
    engine = open_engine(paths, features=FEATURES)
    status, out = said(engine, "!help bookmark")
    assert status == 0 and "!bookmark <label> <text...>" in out
