"""Incidents: each command one commit under incidents/INC-<n>/, carrying `Incident:` and
`Severity:` trailers; effects for the transport (a room, notices that mention people)."""

import dataclasses
import tomllib
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.effects import CreateRoom, Notify, dump_request
from bot.engine.types import Invocation, Reply
from bot.features.catalog import policy_sections
from bot.features.incidents.entries import event, said, shared_file
from bot.features.incidents.incident_policy import INCIDENT_POLICY
from bot.features.incidents.internal import AlertGroup, IncidentRoomMade, IncidentTranscript
from bot.features.incidents.timeline import plain_line
from bot.state.policy import decode_policy
from tests.helpers.bot import ALICE, BOB, MALLORY, Bot
from tests.helpers.git import git

CAROL = "@carol:example.org"
ONCALL = "@oncall:example.org"
OPS = "!ops:example.org"
WAR_ROOM = "!inc1:example.org"

POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.responder]
members = ["{BOB}", "{CAROL}"]
commands = ["incident sev", "incident assign", "incident status", "incident resolve",
            "incident reopen", "incident postmortem", "incident open", "incident note"]

[roles.everyone]
members = ["*"]
commands = ["help", "incident open", "incident note", "incident list", "incident show"]

[incidents]
roles = ["liaison"]

[incidents.notify]
sev1 = ["{ONCALL}", "{CAROL}"]
sev2 = ["{ONCALL}"]

[rooms]
announce = ["!announce:example.org"]
"""


@pytest.fixture
def team(bot: Bot) -> Bot:
    bot.edit("policy.toml", POLICY)
    return bot


def over(bot: Bot, text: str, sender: str = ALICE, **facts: Any) -> Reply:
    """A command with the invocation's facts chosen (room, room members, transport)."""
    invocation = Invocation(
        sender=sender,
        text=text,
        event_id=f"${uuid.uuid4().hex}",
        received_at=bot.clock(),
        room_id=OPS,
        transport="matrix",
    )
    reply = bot.engine.run(dataclasses.replace(invocation, **facts))
    assert reply is not None
    return reply


REQUESTS = {
    "incident room": IncidentRoomMade,
    "incident transcript": IncidentTranscript,
    "incident alert": AlertGroup,
}


def internal(bot: Bot, name: str, args: dict[str, Any]) -> Reply:
    """What the deliverer does after it made a room, or the transport to record a transcript:
    a typed request, built here from the request's name and fields."""
    invocation = Invocation(
        sender="@opsbot:example.org",
        text=f"({name})",
        event_id=f"${uuid.uuid4().hex}",
        received_at=bot.clock(),
        room_id=OPS,
        transport="matrix",
    )
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    return bot.engine.request(REQUESTS[name](**fields), invocation)


def incident_log(bot: Bot, incident: str = "INC-1") -> list[str]:
    return git(bot.repo, "log", "--format=%s", "--grep", f"^Incident: {incident}$").splitlines()


def timeline(bot: Bot, incident: str = "INC-1") -> list[dict[str, Any]]:
    """The entries of an incident's timeline, oldest first, as `git` shows its files."""
    names = git(bot.repo, "ls-tree", "--name-only", "main", f"incidents/{incident}/timeline/")
    return [e for name in names.split() for e in tomllib.loads(bot.show(name))["entry"]]


def said_and_done(bot: Bot, incident: str = "INC-1") -> list[tuple[str, str, str]]:
    """(who, kind, text) of each entry of the timeline."""
    return [(e["who"], e["kind"], e["text"]) for e in timeline(bot, incident)]


def notices(reply: Reply) -> list[Notify]:
    return [e for e in reply.effects if isinstance(e, Notify)]


def opened(bot: Bot, text: str = "!incident open sev2 Database is down") -> Bot:
    reply = bot.say(text)
    assert reply.ok, reply.text
    return bot


# Opening


def test_open_writes_the_record_and_the_timeline_in_one_commit_with_trailers(bot: Bot) -> None:
    reply = bot.say("!incident open sev2 Database is down")
    assert reply.ok, reply.text
    assert reply.text.startswith(
        f"incident open: INC-1 (sev2): Database is down; commander {ALICE}"
    )
    record = bot.show("incidents/INC-1/incident.toml")
    for line in [
        'title = "Database is down"',
        'severity = "sev2"',
        'status = "investigating"',
        f'reporter = "{ALICE}"',
        "opened_at = 2026-11-26T12:00:00Z",
        f'declared_in = "{OPS}"',
        f'commander = "{ALICE}"',
    ]:
        assert line in record
    assert "acknowledged_at" not in record
    assert timeline(bot) == [
        {
            "at": datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
            "who": ALICE,
            "kind": "event",
            "text": "opened INC-1 (sev2): Database is down",
            "facts": {"severity": "sev2"},
        }
    ]
    assert incident_log(bot) == ["incident open: INC-1 (sev2): Database is down"]
    trailers = git(bot.repo, "log", "-1", "--format=%(trailers)")
    assert "Incident: INC-1\nSeverity: sev2" in trailers


def test_open_without_a_severity_is_sev3(bot: Bot) -> None:
    opened(bot, "!incident open Login page is slow")
    assert 'severity = "sev3"' in bot.show("incidents/INC-1/incident.toml")
    assert 'title = "Login page is slow"' in bot.show("incidents/INC-1/incident.toml")


def test_incident_numbers_follow_the_highest_directory(bot: Bot) -> None:
    opened(bot)
    bot.edit("incidents/INC-7/incident.toml", bot.show("incidents/INC-1/incident.toml"))
    reply = bot.say("!incident open Another one")
    assert reply.text.startswith("incident open: INC-8 ")
    assert bot.show("incidents/INC-8/incident.toml")


def test_open_over_matrix_asks_for_a_room_inviting_the_reporter_and_the_policy_people(
    team: Bot,
) -> None:
    reply = team.say("!incident open sev1 Payments failing", sender=BOB)
    rooms = [e for e in reply.effects if isinstance(e, CreateRoom)]
    assert rooms == [
        CreateRoom(
            key="incident:INC-1",
            name="INC-1: Payments failing",
            topic=rooms[0].topic,
            invite=(BOB, ONCALL, CAROL),
            link_in=OPS,
            link_text="INC-1 has its own encrypted room: INC-1: Payments failing",
            then=dump_request(IncidentRoomMade("INC-1")),
        )
    ]
    assert "sev1" in rooms[0].topic


def test_open_from_the_console_creates_no_room(bot: Bot) -> None:
    reply = over(bot, "!incident open sev2 Database is down", transport="console", room_id=None)
    assert reply.ok, reply.text
    assert not [e for e in reply.effects if isinstance(e, CreateRoom)]
    assert [n.announce for n in notices(reply)] == [True]


@pytest.mark.parametrize(
    ("severity", "announced"), [("sev1", True), ("sev2", True), ("sev3", False)]
)
def test_open_announces_sev1_and_sev2(team: Bot, severity: str, announced: bool) -> None:
    reply = team.say(f"!incident open {severity} Something broke")
    announce = [n for n in notices(reply) if n.announce]
    assert bool(announce) == announced
    if announced:
        assert announce[0].text == f"INC-1 ({severity}) declared by {ALICE}: Something broke"


# Bad input: refused, nothing written


@pytest.mark.parametrize(
    "text",
    [
        "!incident open",
        "!incident open sev2",
        "!incident open ...",
        "!incident open sev2 '?!'",
        "!incident open sev2 -- !!",
    ],
)
def test_an_empty_or_punctuation_only_title_is_refused(bot: Bot, text: str) -> None:
    head = bot.head()
    reply = bot.say(text)
    assert not reply.ok
    assert reply.error == "usage"
    assert bot.head() == head


@pytest.mark.parametrize(
    "text", ["!incident open sev9 Database is down", "!incident open sev0 Database is down"]
)
def test_open_with_a_severity_outside_sev1_to_sev5_is_refused(bot: Bot, text: str) -> None:
    head = bot.head()
    reply = bot.say(text)
    assert not reply.ok
    assert "must be a severity from sev1 (worst) to sev5" in reply.text
    assert bot.head() == head


def test_sev_outside_sev1_to_sev5_is_refused(bot: Bot) -> None:
    opened(bot)
    head = bot.head()
    reply = bot.say("!incident sev INC-1 sev6")
    assert reply.error == "usage"
    assert "must be a severity from sev1 (worst) to sev5" in reply.text
    assert bot.head() == head


def test_an_unknown_incident_is_refused_with_the_open_ones_listed(bot: Bot) -> None:
    opened(bot)
    opened(bot, "!incident open Second thing")
    opened(bot, "!incident open Third thing")
    bot.say("!incident resolve INC-2")
    head = bot.head()
    reply = bot.say("!incident note INC-9 hello")
    assert not reply.ok
    assert reply.error == "not_found"
    assert reply.text == "refused: no incident INC-9; open: INC-1, INC-3"
    assert bot.head() == head


def test_without_an_id_outside_an_incident_room_the_bot_asks_which(bot: Bot) -> None:
    opened(bot)
    opened(bot, "!incident open Second thing")
    head = bot.head()
    reply = bot.say("!incident note is anyone on it")
    assert not reply.ok
    assert reply.text.startswith("refused: which incident? open: INC-1, INC-2")
    assert bot.head() == head


@pytest.mark.parametrize(
    "text", ["!incident open sev2 Database is down --dry-run", "!incident note INC-1 hm --dry-run"]
)
def test_a_dry_run_after_a_title_or_note_shows_the_change_and_writes_nothing(
    bot: Bot, text: str
) -> None:
    opened(bot)
    head = bot.head()
    reply = bot.say(text)
    assert reply.ok, reply.text
    assert reply.text.startswith("dry run: would commit: incident ")
    assert "--dry-run" not in reply.text.splitlines()[0]
    assert bot.head() == head


def test_a_note_over_4_kib_is_refused(bot: Bot) -> None:
    opened(bot)
    head = bot.head()
    reply = bot.say("!incident note INC-1 " + "x" * 4100)
    assert not reply.ok
    assert "4 KiB" in reply.text
    assert bot.head() == head


def test_resolving_a_resolved_incident_is_refused(bot: Bot) -> None:
    opened(bot)
    assert bot.say("!incident resolve INC-1").ok
    head = bot.head()
    for text in ("!incident resolve INC-1", "!incident status INC-1 resolved"):
        reply = bot.say(text)
        assert not reply.ok
        assert "INC-1 is already resolved at 12:00 UTC" in reply.text
        assert "!incident reopen INC-1" in reply.text
    assert bot.head() == head


def test_assigning_someone_not_in_the_room_is_refused(team: Bot) -> None:
    opened(team)
    head = team.head()
    members = frozenset({ALICE, BOB})
    reply = over(team, "!incident assign INC-1 scribe @carol:example.org", room_members=members)
    assert not reply.ok
    assert f"{CAROL} is not in this room" in reply.text
    assert team.head() == head
    assert over(team, "!incident assign INC-1 scribe @bob:example.org", room_members=members).ok


def test_the_same_severity_again_is_refused(bot: Bot) -> None:
    opened(bot)
    head = bot.head()
    reply = bot.say("!incident sev INC-1 sev2")
    assert reply.text.startswith("refused: INC-1 is already sev2")
    assert bot.head() == head


def test_an_unknown_role_is_refused_and_policy_roles_are_known(team: Bot) -> None:
    opened(team)
    head = team.head()
    reply = team.say(f"!incident assign INC-1 janitor {BOB}")
    assert not reply.ok
    assert "roles: commander, communications, scribe, liaison" in reply.text
    assert team.head() == head
    assert team.say(f"!incident assign INC-1 liaison {BOB}").ok
    assert f'liaison = "{BOB}"' in team.show("incidents/INC-1/incident.toml")


# Markdown and HTML from people


def test_markdown_and_html_are_stored_as_typed_and_escaped_in_replies(bot: Bot) -> None:
    reply = bot.say("!incident open sev2 DB <b>down</b> **now** [x](http://e.vil)")
    assert reply.ok, reply.text
    assert "<b>down</b>" in reply.text
    assert "<b>" not in reply.html and "&lt;b&gt;down&lt;/b&gt;" in reply.html
    assert 'title = "DB <b>down</b> **now** [x](http://e.vil)"' in bot.show(
        "incidents/INC-1/incident.toml"
    )
    note = bot.say('!incident note INC-1 <script>alert(1)</script> `rm -rf` _it\'s_ "quoted"')
    assert note.ok, note.text
    typed = '<script>alert(1)</script> `rm -rf` _it\'s_ "quoted"'
    assert said_and_done(bot)[-1] == (ALICE, "note", typed)
    for read in ("!incident show INC-1", "!incident list"):
        shown = bot.say(read)
        assert "<b>" not in shown.html and "<script>" not in shown.html
        assert "&lt;b&gt;" in shown.html


def test_a_note_of_several_lines_is_one_entry_kept_as_typed(bot: Bot) -> None:
    opened(bot)
    forged = f"- 2026-11-26 12:00 UTC · {BOB} · resolved INC-1"
    assert bot.say(f"!incident note INC-1 first\n{forged}").ok
    assert said_and_done(bot)[1:] == [(ALICE, "note", f"first\n{forged}")]


# Changing an incident


def test_sev_mentions_the_roles_the_participants_and_the_policy_people(team: Bot) -> None:
    opened(team)
    team.say(f"!incident assign INC-1 scribe {BOB}")
    team.say("!incident note INC-1 looking at replication", sender=CAROL)
    reply = team.say("!incident sev INC-1 sev1 --reason 'all regions'", sender=BOB)
    assert reply.ok, reply.text
    expected = (ALICE, CAROL, ONCALL)  # roles, participants, policy; not the one who typed it
    assert reply.text.startswith(
        f"incident sev: INC-1 raised from sev2 to sev1: Database is down; notifying "
        f"{', '.join(expected)}"
    )
    to_room = [n for n in notices(reply) if n.room_key == "incident:INC-1"]
    assert [n.mentions for n in to_room] == [expected]
    assert "Severity: sev1" in git(team.repo, "log", "-1", "--format=%(trailers)")
    assert said_and_done(team)[-1] == (BOB, "event", "severity sev2 -> sev1 (all regions)")


@pytest.mark.parametrize(
    ("start", "to", "announced"),
    [
        ("sev3", "sev2", True),
        ("sev2", "sev1", True),
        ("sev1", "sev2", False),
        ("sev4", "sev3", False),
    ],
)
def test_raising_to_sev1_or_sev2_is_announced(
    team: Bot, start: str, to: str, announced: bool
) -> None:
    opened(team, f"!incident open {start} Something broke")
    reply = team.say(f"!incident sev INC-1 {to}")
    assert any(n.announce for n in notices(reply)) == announced


def test_assign_replaces_the_commander_and_keeps_a_persons_comments(bot: Bot) -> None:
    opened(bot)
    text = bot.show("incidents/INC-1/incident.toml")
    text = text.replace('title = "Database is down"', 'title = "Database is down" # as paged')
    bot.edit("incidents/INC-1/incident.toml", "# Customer impact: EU only\n" + text)
    reply = bot.say(f"!incident assign INC-1 commander {BOB}")
    assert reply.ok, reply.text
    assert reply.text.startswith(f"incident assign: INC-1 commander {BOB} (was {ALICE})")
    record = bot.show("incidents/INC-1/incident.toml")
    assert f'commander = "{BOB}"' in record
    assert "# Customer impact: EU only" in record
    assert 'title = "Database is down" # as paged' in record
    assert [n.mentions for n in notices(reply)] == [(BOB,)]


def test_the_first_action_acknowledges_and_monitoring_mitigates(bot: Bot) -> None:
    opened(bot)
    bot.clock.advance(minutes=5)
    bot.say("!incident note INC-1 looking")
    bot.clock.advance(minutes=5)
    bot.say("!incident status INC-1 identified")
    bot.clock.advance(minutes=20)
    bot.say("!incident status INC-1 monitoring")
    bot.clock.advance(minutes=10)
    bot.say("!incident status INC-1 investigating")
    bot.say("!incident status INC-1 monitoring")
    record = bot.show("incidents/INC-1/incident.toml")
    assert "acknowledged_at = 2026-11-26T12:05:00Z" in record
    assert "mitigated_at = 2026-11-26T12:30:00Z" in record
    assert "resolved_at" not in record
    shown = bot.say("!incident show INC-1").text
    assert "time to acknowledge: 5m; time to mitigate: 30m; not resolved yet" in shown


def test_status_resolved_is_resolve(bot: Bot) -> None:
    opened(bot)
    bot.clock.advance(hours=1, minutes=5)
    reply = bot.say("!incident status INC-1 resolved")
    assert reply.ok, reply.text
    assert "resolved after 1h5m" in reply.text
    record = bot.show("incidents/INC-1/incident.toml")
    for line in [
        'status = "resolved"',
        "acknowledged_at = 2026-11-26T13:05:00Z",
        "mitigated_at = 2026-11-26T13:05:00Z",
        "resolved_at = 2026-11-26T13:05:00Z",
    ]:
        assert line in record


def test_resolve_keeps_the_summary_and_announces_a_loud_incident(bot: Bot) -> None:
    opened(bot)
    reply = bot.say('!incident resolve INC-1 --summary "failed over to the replica"')
    assert reply.ok, reply.text
    assert 'summary = "failed over to the replica"' in bot.show("incidents/INC-1/incident.toml")
    assert [n.announce for n in notices(reply)] == [True]


def test_reopen_clears_the_resolution_and_keeps_the_mitigation(bot: Bot) -> None:
    opened(bot)
    bot.say("!incident resolve INC-1")
    bot.clock.advance(minutes=30)
    reply = bot.say("!incident reopen INC-1 --reason 'errors are back'")
    assert reply.ok, reply.text
    record = bot.show("incidents/INC-1/incident.toml")
    assert 'status = "investigating"' in record
    assert "resolved_at" not in record
    assert "mitigated_at = 2026-11-26T12:00:00Z" in record
    assert said_and_done(bot)[-1] == (ALICE, "event", "reopened INC-1 (errors are back)")
    head = bot.head()
    assert bot.say("!incident reopen INC-1").text.startswith("refused: INC-1 is not resolved")
    assert bot.head() == head


def test_people_who_act_become_participants(bot: Bot) -> None:
    opened(bot)
    bot.say("!incident note INC-1 me too", sender=MALLORY)
    bot.say("!incident note INC-1 again", sender=MALLORY)
    assert f'participants = ["{ALICE}", "{MALLORY}"]' in bot.show("incidents/INC-1/incident.toml")


def test_every_incident_command_is_one_commit_with_its_trailers(bot: Bot) -> None:
    opened(bot)
    opened(bot, "!incident open Unrelated")
    for text in [
        "!incident sev INC-1 sev1",
        f"!incident assign INC-1 scribe {BOB}",
        "!incident status INC-1 identified",
        "!incident note INC-1 found it",
        "!incident resolve INC-1",
        "!incident reopen INC-1",
        "!incident postmortem INC-1",
    ]:
        assert bot.say(text).ok, text
    assert [s.split(":")[0] for s in incident_log(bot)] == [
        "incident postmortem",
        "incident reopen",
        "incident resolve",
        "incident note",
        "incident status",
        "incident assign",
        "incident sev",
        "incident open",
    ]
    assert incident_log(bot, "INC-2") == ["incident open: INC-2 (sev3): Unrelated"]
    severities = git(
        bot.repo,
        "log",
        "--format=%(trailers:key=Severity,valueonly)",
        "--grep",
        "^Incident: INC-1$",
    )
    assert severities.split() == ["sev1"] * 7 + ["sev2"]


def test_list_and_show_write_nothing(bot: Bot) -> None:
    opened(bot)
    head = bot.head()
    for text in ("!incident list", "!incident list all --sev sev2", "!incident show INC-1"):
        reply = bot.say(text)
        assert reply.ok and reply.commit is None, reply.text
    assert bot.head() == head


def test_list_shows_open_ones_worst_first_and_all_with_a_filter(bot: Bot) -> None:
    opened(bot, "!incident open sev3 Slow search")
    opened(bot, "!incident open sev1 Checkout down")
    opened(bot, "!incident open sev2 Old thing")
    bot.say("!incident resolve INC-3")
    lines = bot.say("!incident list").text.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "INC-2 sev1 investigating",
        "INC-1 sev3 investigating",
    ]
    every = bot.say("!incident list all").text.splitlines()
    assert [line.split()[0] for line in every] == ["INC-2", "INC-1", "INC-3"]
    assert bot.say("!incident list all --sev sev2").text.startswith(
        "INC-3 sev2 resolved: Old thing"
    )
    assert bot.say("!incident list open --sev sev5").text == "no open incidents of sev5"


# The transport's side: the room and the transcript


def test_the_transport_records_the_room_and_commands_there_need_no_id(bot: Bot) -> None:
    opened(bot)
    opened(bot, "!incident open Second thing")
    reply = internal(bot, "incident room", {"incident": "INC-1", "room": WAR_ROOM})
    assert reply.ok, reply.text
    assert f'room = "{WAR_ROOM}"' in bot.show("incidents/INC-1/incident.toml")
    assert incident_log(bot)[0] == f"incident room: INC-1 room {WAR_ROOM}"
    note = over(bot, "!incident note failing over now", room_id=WAR_ROOM)
    assert note.ok, note.text
    assert said_and_done(bot)[-1] == (ALICE, "note", "failing over now")
    assert "failing over" not in str(said_and_done(bot, "INC-2"))


def test_a_command_from_elsewhere_is_echoed_to_the_incident_room(bot: Bot) -> None:
    opened(bot)
    internal(bot, "incident room", {"incident": "INC-1", "room": WAR_ROOM})
    reply = bot.say("!incident status INC-1 identified")
    assert [(n.rooms, n.text) for n in notices(reply)] == [
        ((WAR_ROOM,), f"INC-1 is now identified, by {ALICE}")
    ]
    in_room = over(bot, "!incident status monitoring", room_id=WAR_ROOM)
    assert notices(in_room) == []


def test_the_transcript_is_appended_in_one_commit_and_speakers_take_part(bot: Bot) -> None:
    opened(bot)
    head = bot.head()
    at = datetime(2026, 11, 26, 12, 3, 30, tzinfo=UTC)
    entries = [
        said(at, BOB, "primary is down\nreplica looks fine"),
        shared_file(at, CAROL, "g.png"),
    ]
    reply = internal(bot, "incident transcript", {"incident": "INC-1", "entries": entries})
    assert reply.ok, reply.text
    assert git(bot.repo, "rev-list", "--count", f"{head}..main").strip() == "1"
    assert timeline(bot)[-2:] == [
        {"at": at, "who": BOB, "kind": "said", "text": "primary is down\nreplica looks fine"},
        {"at": at, "who": CAROL, "kind": "file", "text": "g.png"},
    ]
    record = bot.show("incidents/INC-1/incident.toml")
    assert f'participants = ["{ALICE}", "{BOB}", "{CAROL}"]' in record
    assert "acknowledged_at" not in record  # talking is not acting on it


def test_the_transcript_takes_only_what_was_said_or_shared(bot: Bot) -> None:
    opened(bot)
    head = bot.head()
    at = bot.clock()
    for entries in (
        [],
        [event(at, BOB, "resolved INC-1")],
        ["- 2026-11-26 12:00 UTC · @x:y said: hello"],
        [said(at, "bob", "hello")],
    ):
        reply = internal(bot, "incident transcript", {"incident": "INC-1", "entries": entries})
        assert not reply.ok
    assert bot.head() == head


def test_internal_commands_cannot_be_typed(bot: Bot) -> None:
    opened(bot)
    reply = bot.say(f"!incident room INC-1 {WAR_ROOM}")
    assert reply.error == "unknown_command"


# Policy, permissions, help


def test_the_policy_names_incident_roles_notify_lists_and_announcement_rooms() -> None:
    policy = decode_policy(POLICY, sections=policy_sections())
    incidents = policy.section(INCIDENT_POLICY)
    assert incidents.roles == ("liaison",)
    assert incidents.notify_for("sev1") == (ONCALL, CAROL)
    assert incidents.notify_for("sev3") == ()
    assert policy.announce == ("!announce:example.org",)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('[incidents.notify]\nsev6 = ["@a:b"]', "incidents.notify.sev6"),
        ('[incidents.notify]\nsev1 = ["alice"]', "incidents.notify.sev1"),
        ('[incidents]\nroles = ["Big Boss"]', "incidents.roles"),
        ("[incidents]\nnotfy = {}", "incidents.notfy"),
        ('[rooms]\nannounce = ["#ops:example.org"]', "rooms.announce"),
    ],
)
def test_a_bad_incident_policy_names_the_file_and_the_field(extra: str, field: str) -> None:
    problems = decode_policy(extra, sections=policy_sections()).problems
    assert [(p.path, p.field) for p in problems] == [("policy.toml", field)]


def test_the_template_lets_everyone_declare_and_note_but_not_resolve(bot: Bot) -> None:
    assert bot.say("!incident open sev3 Printer on fire", sender=MALLORY).ok
    assert bot.say("!incident note INC-1 it is smoking", sender=MALLORY).ok
    assert bot.say("!incident show INC-1", sender=MALLORY).ok
    head = bot.head()
    reply = bot.say("!incident resolve INC-1", sender=MALLORY)
    assert reply.error == "forbidden"
    assert bot.head() == head


def test_help_incident_lists_the_incident_commands(bot: Bot) -> None:
    reply = bot.say("!help incident")
    assert reply.ok, reply.text
    usages = [line for line in reply.text.splitlines() if line.startswith("!")]
    assert [u.split()[1] for u in usages] == [
        "open",
        "sev",
        "assign",
        "status",
        "note",
        "resolve",
        "reopen",
        "list",
        "show",
        "postmortem",
        "cause",
    ]
    assert "room" not in [u.split()[1] for u in usages]  # internal commands are not for people


def test_help_incident_says_what_your_roles_do_not_allow_instead_of_its_usage(bot: Bot) -> None:
    text = bot.say("!help incident", sender=MALLORY).text
    assert "!incident resolve: your roles do not allow it; ask an admin" in text
    assert "!incident resolve [<incident>]" not in text
    assert "!incident note [<incident>] <text...>" in text


def test_help_for_one_command_you_may_not_run_says_so(bot: Bot) -> None:
    reply = bot.say("!help deploy", sender=MALLORY)
    assert reply.text.startswith("!deploy: your roles do not allow it; ask an admin")
    assert "<version>" not in reply.text


# Pure functions for the transport


def test_what_was_said_and_shared_is_shown_on_one_line_each() -> None:
    at = datetime(2026, 11, 26, 14, 5, 59, tzinfo=UTC)
    assert plain_line(said(at, BOB, "hi")) == f"- 2026-11-26 14:05 UTC · {BOB} · said: hi"
    assert (
        plain_line(said(at, BOB, "one\r\ntwo\x00three"))
        == f"- 2026-11-26 14:05 UTC · {BOB} · said: one two three"
    )
    assert (
        plain_line(shared_file(at, BOB, "my\ngraph.png"))
        == f"- 2026-11-26 14:05 UTC · {BOB} · shared a file: my graph.png"
    )
