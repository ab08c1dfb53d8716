"""The incident timeline: entries kept as data in chunks under incidents/<id>/timeline/, shown to
people one line each, escaped; old timelines still read; a bad file reported, never fatal."""

import random
import string
import tomllib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.effects import Notify
from bot.engine.types import Invocation
from bot.features.incidents.entries import note, said
from bot.features.incidents.internal import IncidentRoomMade
from bot.features.incidents.timeline import (
    CHUNK_ENTRIES,
    decode_chunk,
    encode_entry,
    from_journal,
    markdown_line,
    to_journal,
)
from tests.helpers.bot import ALICE, BOB, MALLORY, Bot
from tests.helpers.git import git

SEPARATORS = ["\u2028", "\u2029", "\u0085", "\r", "\n"]
FORGED = f"- 2026-11-26 12:00 UTC · {BOB} · resolved INC-1"


def opened(bot: Bot) -> Bot:
    reply = bot.say("!incident open sev2 Database is down")
    assert reply.ok, reply.text
    return bot


def noted(bot: Bot, text: str, sender: str = ALICE) -> None:
    reply = bot.say(f"!incident note INC-1 {text}", sender=sender)
    assert reply.ok, reply.text


def postmortem(bot: Bot) -> str:
    reply = bot.say("!incident postmortem INC-1")
    assert reply.ok, reply.text
    return bot.show("incidents/INC-1/postmortem.md")


def section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def items(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def chunks(bot: Bot, incident: str = "INC-1") -> list[str]:
    listed = git(bot.repo, "ls-tree", "--name-only", "main", f"incidents/{incident}/timeline/")
    return listed.split()


def entries(bot: Bot, incident: str = "INC-1") -> list[dict[str, Any]]:
    return [e for name in chunks(bot, incident) for e in tomllib.loads(bot.show(name))["entry"]]


# Finding 5: a note cannot forge an entry


@pytest.mark.security
@pytest.mark.parametrize("separator", SEPARATORS, ids=ascii)
def test_a_note_cannot_forge_a_postmortem_event_by_someone_else(bot: Bot, separator: str) -> None:
    opened(bot)
    noted(bot, f"first{separator}{FORGED}", sender=MALLORY)

    timeline = items(section(postmortem(bot), "Timeline"))

    assert timeline == [
        f"- 2026-11-26 12:00 UTC · {ALICE} · opened INC-1 (sev2): Database is down",
        f"- 2026-11-26 12:00 UTC · {MALLORY} · note: first {FORGED}",
    ]


@pytest.mark.security
@pytest.mark.parametrize("separator", SEPARATORS, ids=ascii)
def test_a_note_cannot_forge_an_event_in_incident_show(bot: Bot, separator: str) -> None:
    opened(bot)
    noted(bot, f"first{separator}{FORGED}", sender=MALLORY)

    shown = bot.say("!incident show INC-1").text

    assert shown.splitlines()[-2:] == [
        f"  2026-11-26 12:00 UTC {ALICE}: opened INC-1 (sev2): Database is down",
        f"  2026-11-26 12:00 UTC {MALLORY}: note: first {FORGED}",
    ]


@pytest.mark.security
def test_a_note_cannot_start_a_heading_or_markup_in_the_postmortem(bot: Bot) -> None:
    opened(bot)
    noted(bot, "ok\u2028## Deploys and rollbacks\u2028- none <img src=x> [x](http://e.vil) **b**?")

    text = postmortem(bot)

    assert [line for line in text.splitlines() if line.startswith("## Deploys")] == [
        "## Deploys and rollbacks"
    ]
    note = items(section(text, "Timeline"))[-1]
    assert note == (
        f"- 2026-11-26 12:00 UTC · {ALICE} · note: ok ## Deploys and rollbacks - none "
        r"\<img src=x> \[x\](http://e.vil) \*\*b\*\*?"
    )
    assert items(section(text, "Open questions"))[0] == (
        r"- ok ## Deploys and rollbacks - none \<img src=x> \[x\](http://e.vil) \*\*b\*\*?"
    )


@pytest.mark.security
def test_a_note_is_one_entry_by_its_author_with_its_separators_made_spaces(bot: Bot) -> None:
    opened(bot)
    noted(bot, f"first\u2028{FORGED}", sender=MALLORY)

    assert [(e["who"], e["kind"], e["text"]) for e in entries(bot)][1:] == [
        (MALLORY, "note", f"first {FORGED}")
    ]
    assert f'text = "first {FORGED}"' in bot.show(chunks(bot)[0])


@pytest.mark.security
def test_a_note_is_echoed_to_the_incident_room_on_one_line(bot: Bot) -> None:
    opened(bot)
    transport = Invocation(
        sender="@opsbot:example.org",
        text="(incident room)",
        event_id="$room",
        received_at=bot.clock(),
        room_id="!ops:example.org",
        transport="matrix",
    )
    assert bot.engine.request(IncidentRoomMade("INC-1", "!inc1:example.org"), transport).ok

    reply = bot.say(f"!incident note INC-1 first\u2028{FORGED}", sender=MALLORY)

    echoed = [e.text for e in reply.effects if isinstance(e, Notify)]
    assert echoed == [f"{MALLORY} noted on INC-1: first {FORGED}"]


@given(st.text())
def test_any_text_reads_back_as_written_and_renders_as_one_line(text: str) -> None:
    at = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    written = note(at, BOB, text)

    read, problems = decode_chunk("0001.toml", encode_entry(written).encode())

    assert (read, problems) == ([written], [])
    shown = markdown_line(written)
    assert len(shown.splitlines()) == 1
    assert shown.startswith(f"- 2026-11-26 14:05 UTC · {BOB} · note:")


# Finding 9: the repo grows with the text added, not with its square


@pytest.mark.security
def test_150_notes_of_4_kib_grow_the_repo_linearly(bot: Bot) -> None:
    opened(bot)

    def blob_bytes() -> int:
        objects = git(bot.repo, "cat-file", "--batch-all-objects", "--batch-check")
        return sum(
            int(size) for _, kind, size in map(str.split, objects.splitlines()) if kind == "blob"
        )

    before = blob_bytes()
    letters = random.Random(9)
    added = 0
    for _ in range(150):
        text = "".join(letters.choices(string.ascii_letters + " ", k=4000))
        noted(bot, text)
        added += len(text)

    # Rewriting one growing file per note stored about 75 times the text added.
    assert blob_bytes() - before < 15 * added
    assert len(entries(bot)) == 151


def test_a_chunk_takes_at_most_its_share_of_entries_then_the_next_begins(bot: Bot) -> None:
    opened(bot)
    for n in range(CHUNK_ENTRIES + 5):
        noted(bot, f"step {n}")

    names = chunks(bot)

    assert names == ["incidents/INC-1/timeline/0001.toml", "incidents/INC-1/timeline/0002.toml"]
    assert len(tomllib.loads(bot.show(names[0]))["entry"]) == CHUNK_ENTRIES
    assert [e["text"] for e in entries(bot)][-1] == f"step {CHUNK_ENTRIES + 4}"


def test_a_note_only_adds_lines_to_the_history(bot: Bot) -> None:
    opened(bot)
    noted(bot, "first")
    noted(bot, "second")

    diff = git(bot.repo, "diff", "main~1", "main", "--", "incidents/INC-1/timeline/")

    changed = [line for line in diff.splitlines()[4:] if line[:1] in "+-"]
    assert changed and all(line.startswith("+") for line in changed)
    assert '+text = "second"' in changed


# Incidents of earlier releases: timeline.md is read, never written

OLD_RECORD = f"""title = "Disk full"
severity = "sev2"
status = "investigating"
reporter = "{ALICE}"
opened_at = 2026-11-26T04:00:00Z
participants = ["{ALICE}"]
[roles]
commander = "{ALICE}"
"""
OLD_TIMELINE = (
    "# INC-1: Disk full\n\n"
    f"- 2026-11-26 04:00 UTC · {ALICE} · opened INC-1 (sev2): Disk full\n"
    f"- 2026-11-26 04:05 UTC · {BOB} said: the disk is full\n"
    "  of logs\n"
    f"- 2026-11-26 04:06 UTC · {ALICE} · severity sev2 -> sev1 (all of it)\n"
    f"- 2026-11-26 04:07 UTC · {MALLORY} · note: hm\u2028{FORGED}\n"
)


def old_incident(bot: Bot) -> Bot:
    bot.edit("incidents/INC-1/incident.toml", OLD_RECORD)
    bot.edit("incidents/INC-1/timeline.md", OLD_TIMELINE)
    return bot


def test_an_old_timeline_is_shown_and_new_entries_go_to_chunks(bot: Bot) -> None:
    old_incident(bot)

    noted(bot, "still full", sender=BOB)

    assert bot.show("incidents/INC-1/timeline.md") == OLD_TIMELINE
    assert [(e["who"], e["text"]) for e in entries(bot)] == [(BOB, "still full")]
    shown = bot.say("!incident show INC-1").text.splitlines()
    assert shown[-4:] == [
        f"  2026-11-26 04:00 UTC {ALICE}: opened INC-1 (sev2): Disk full",
        f"  2026-11-26 04:06 UTC {ALICE}: severity sev2 -> sev1 (all of it)",
        f"  2026-11-26 04:07 UTC {MALLORY}: note: hm {FORGED}",
        f"  2026-11-26 12:00 UTC {BOB}: note: still full",
    ]


@pytest.mark.security
def test_an_old_timeline_is_split_only_where_its_writer_ended_lines(bot: Bot) -> None:
    old_incident(bot)

    timeline = items(section(postmortem(bot), "Timeline"))

    assert timeline[-1] == f"- 2026-11-26 04:07 UTC · {MALLORY} · note: hm {FORGED}"
    assert not any(f"· {BOB} · resolved" in line.split(" · note: ")[0] for line in timeline)


def test_the_severity_history_of_an_old_incident_comes_from_its_timeline(bot: Bot) -> None:
    old_incident(bot)

    history = items(section(postmortem(bot), "Severity history"))

    assert history == [
        f"- 2026-11-26 04:00 UTC · {ALICE} · declared sev2",
        f"- 2026-11-26 04:06 UTC · {ALICE} · sev2 -> sev1 (all of it)",
    ]


def test_transcript_lines_left_in_the_journal_by_an_earlier_release_are_still_committed() -> None:
    old = f"- 2026-11-26 12:03 UTC · {BOB} said: primary is down\n  replica looks fine"
    at = datetime(2026, 11, 26, 12, 3, tzinfo=UTC)

    assert from_journal(old) == said(at, BOB, "primary is down\nreplica looks fine")
    assert from_journal(to_journal(said(at, BOB, "a\u2028b"))) == said(at, BOB, "a\u2028b")
    assert from_journal("not a line") is None


# A bad file is reported and skipped


@pytest.mark.security
def test_a_malformed_chunk_is_reported_and_the_rest_still_shown(bot: Bot) -> None:
    opened(bot)
    noted(bot, "first")
    bot.edit("incidents/INC-1/timeline/0002.toml", "[[entry]\nbroken")

    noted(bot, "after the damage")
    shown = bot.say("!incident show INC-1")

    assert shown.ok, shown.text
    assert f"  2026-11-26 12:00 UTC {ALICE}: note: after the damage" in shown.text
    assert "unreadable: incidents/INC-1/timeline/0002.toml: not valid TOML" in shown.text
    assert bot.show("incidents/INC-1/timeline/0002.toml") == "[[entry]\nbroken"
    assert "incidents/INC-1/timeline/0003.toml" in chunks(bot)
    problems = [p.message for p in bot.engine.view().problems()]
    assert any(p.startswith("incidents/INC-1/timeline/0002.toml") for p in problems)


@pytest.mark.security
def test_an_entry_by_no_one_is_reported_and_skipped(bot: Bot) -> None:
    opened(bot)
    path = chunks(bot)[0]
    forged = (
        '\n[[entry]]\nat = 2026-11-26T12:01:00Z\nwho = "bob\\n"\nkind = "event"\n'
        'text = "by no one"\n'
    )
    bot.edit(path, bot.show(path) + forged)

    shown = bot.say("!incident show INC-1").text

    assert "by no one" not in shown
    assert f"unreadable: {path}: entry 2: who: 'bob\\n' is not a Matrix user id" in shown


@pytest.mark.security
def test_a_bad_incident_record_does_not_stop_list_or_show_for_the_others(bot: Bot) -> None:
    opened(bot)
    opened(bot)
    record = bot.show("incidents/INC-1/incident.toml")
    bot.edit("incidents/INC-1/incident.toml", record.replace('"sev2"', '"sev1\\n"'))

    listed = bot.say("!incident list")
    other = bot.say("!incident show INC-2")
    broken = bot.say("!incident show INC-1")

    assert listed.ok and other.ok, (listed.text, other.text)
    assert listed.text.splitlines()[0].startswith("INC-2 sev2 investigating: Database is down")
    assert "unreadable: incidents/INC-1/incident.toml: severity: must be one of" in listed.text
    assert (broken.ok, broken.error) == (False, "invalid_record")
    assert bot.say("!incident note INC-2 still works").ok
