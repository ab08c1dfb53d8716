"""Alertmanager's webhook (`POST /alertmanager`, payload version 4), fed payloads of the shape
Alertmanager 0.25 sends: one notice per alert group, and the alerts that a rule of
`alerts/rules.toml` matches open an incident for their group, or add to its timeline. Each is
one signed commit with the usual trailers, read back with `git`. (test_real_alertmanager.py
does the same with a real Alertmanager.)"""

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import config
from bot.core.effects import CreateRoom, Effect, Notify
from bot.engine.services import Services
from bot.features.alerts import alertmanager as alerts
from bot.features.catalog import checks, sections
from bot.features.incidents.timeline import plain_line
from bot.features.incidents.timeline import read as read_timeline
from bot.state.view import StateView
from bot.transport.http import HttpListener
from tests.helpers.bot import ALICE, Bot
from tests.helpers.git import git

ALERTS_ROOM = "!alerts:example.org"
ONCALL = "@oncall:example.org"
TOKEN = "alertmanager-token"
DISK = '{}:{alertname="DiskFull"}'

RULES = """
[[rule]]
match = { alertname = "SiteDown" }
incident_severity = "sev1"

[[rule]]
match = { severity = "critical" }
incident_severity = "sev2"

[[rule]]
match = { severity = "page" }
incident_severity = "sev3"
"""

POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[incidents.notify]
sev1 = ["{ONCALL}"]

[rooms]
announce = ["!announce:example.org"]
"""


@dataclass
class Matrix:
    """What the routes owe the Matrix side, read from the outbox: the notices of the route
    (`posted`: room, or "announcement rooms", and text) and the effects of the commands it ran
    (rooms, notices that mention people)."""

    ledger: Any = None

    @property
    def posted(self) -> list[tuple[str, str]]:
        return [
            (n.rooms[0] if n.rooms else "announcement rooms", n.text)
            for identity, n in self._owed()
            if isinstance(n, Notify)
            and identity.startswith("alertmanager:")
            and "#" not in identity
        ]

    @property
    def effects(self) -> list[Effect]:
        return [
            e for identity, e in self._owed() if "#" in identity or identity.startswith("room:")
        ]

    def _owed(self) -> list[tuple[str, Effect]]:
        return [(owed.identity, owed.effect) for owed in self.ledger.due()]


Serve = Callable[..., Awaitable[HttpListener]]


@pytest.fixture
async def serve(bot: Bot, tmp_path: Path) -> AsyncIterator[Serve]:
    bot.edit("alerts/rules.toml", RULES)
    (tmp_path / "am.token").write_text(TOKEN)
    started: list[HttpListener] = []

    async def start(matrix: Matrix, *, room: bool = True, **section: object) -> HttpListener:
        section = {"token_file": str(tmp_path / "am.token"), **section}
        if room:
            section["room"] = ALERTS_ROOM
        host_config = tmp_path / "opsbot.toml"
        host_config.write_text(
            f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
            '[http]\nlisten = "127.0.0.1:0"\n[alerts]\n'
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in section.items() if v is not None)
        )
        matrix.ledger = bot.engine.ledger
        listener = HttpListener(
            config.load(host_config, sections()), Services(bot.engine), alerts.ROUTES
        )
        await listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        await listener.stop()


def alert(
    name: str,
    status: str = "firing",
    summary: str = "",
    fingerprint: str = "e94c744ae3d44df8",
    starts_at: str = "2026-11-26T11:58:00.303051591Z",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": summary} if summary else {},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-26T12:03:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint,
    }


def group(*alerts: dict[str, Any], key: str = DISK, name: str = "DiskFull") -> dict[str, Any]:
    """A webhook payload as Alertmanager 0.25 sends it for a group by alertname."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "opsbot",
        "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": 0,
    }


async def send(
    listener: HttpListener, payload: Any, token: str | None = TOKEN
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{listener.url}/alertmanager", data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


def incident_commits(bot: Bot, incident: str = "INC-1") -> list[str]:
    return git(bot.repo, "log", "--format=%s", "--grep", f"^Incident: {incident}$").splitlines()


def timeline(bot: Bot, incident: str = "INC-1") -> list[str]:
    return [plain_line(e) for e in read_timeline(bot.engine.view(), incident).entries]


DB1 = alert("DiskFull", summary="disk 95% full", severity="critical", instance="db1")
DB2 = alert("DiskFull", fingerprint="0123456789abcdef", severity="critical", instance="db2")


async def test_a_matching_alert_opens_an_incident_for_its_group(serve: Serve, bot: Bot) -> None:
    matrix = Matrix()
    listener = await serve(matrix)

    status, answer = await send(listener, group(DB1))

    assert status == 200
    assert answer["incident"] == "INC-1"
    record = tomllib.loads(bot.show("incidents/INC-1/incident.toml"))
    assert record["alert_group"] == DISK
    assert record["severity"] == "sev2"
    assert record["status"] == "investigating"
    assert record["reporter"] == "@opsbot:localhost"
    assert "acknowledged_at" not in record  # an alert is not a person acknowledging it
    assert record["declared_in"] == ALERTS_ROOM
    assert timeline(bot) == [
        "- 2026-11-26 12:00 UTC · @opsbot:localhost · opened INC-1 (sev2) from alerts: "
        "alertname=DiskFull",
        "- 2026-11-26 12:00 UTC · @opsbot:localhost · alert firing: DiskFull "
        "{instance=db1, severity=critical}: disk 95% full "
        "[e94c744ae3d44df8 since 2026-11-26T11:58:00.303051591Z]",
    ]
    assert matrix.posted == [
        (
            ALERTS_ROOM,
            "[FIRING:1] alertname=DiskFull\n"
            "- firing: DiskFull {instance=db1, severity=critical}: disk 95% full\n"
            "INC-1 (sev2) opened for these alerts",
        ),
    ]
    announced = [e for e in matrix.effects if isinstance(e, Notify) and e.announce]  # sev1, sev2
    assert [n.text for n in announced] == ["INC-1 (sev2) opened by alerts: alertname=DiskFull"]


async def test_its_commit_is_signed_and_carries_the_usual_trailers(serve: Serve, bot: Bot) -> None:
    await send(await serve(Matrix()), group(DB1))

    message = git(bot.repo, "log", "-1", "--format=%an <%ae>%n%B", "main")
    lines = message.splitlines()
    assert lines[0] == "Alertmanager <@opsbot:localhost>"
    assert lines[1] == "incident alert: INC-1 (sev2) from alerts: alertname=DiskFull"
    assert f"Requested by Alertmanager in {ALERTS_ROOM}." in lines
    assert "Incident: INC-1" in lines
    assert "Severity: sev2" in lines
    assert any(line.startswith("Opsbot-Invocation: alertmanager:") for line in lines)
    git(bot.repo, "verify-commit", "main")


async def test_the_same_alerts_sent_again_write_nothing_new(serve: Serve, bot: Bot) -> None:
    matrix = Matrix()
    listener = await serve(matrix)
    await send(listener, group(DB1))
    head = bot.head()

    status, answer = await send(listener, group(DB1))  # Alertmanager's repeat_interval

    assert (status, answer["incident"], answer["commit"]) == (200, "INC-1", None)
    assert bot.head() == head
    assert matrix.posted[-1][1].endswith("\nalready in the timeline of INC-1")


async def test_more_alerts_of_the_group_and_their_resolution_go_to_the_same_incident(
    serve: Serve, bot: Bot
) -> None:
    matrix = Matrix()
    listener = await serve(matrix)
    await send(listener, group(DB1))

    await send(listener, group(DB1, DB2))
    await send(listener, group({**DB1, "status": "resolved"}, DB2))
    await send(listener, group({**DB2, "status": "resolved"}))

    assert incident_commits(bot) == [
        "incident alert: INC-1 alerts, 1 alert",
        "incident alert: INC-1 alerts, 1 alert",
        "incident alert: INC-1 alerts, 1 alert",
        "incident alert: INC-1 (sev2) from alerts: alertname=DiskFull",
    ]
    events = [line.split(" · ", 2)[2].split(" [")[0] for line in timeline(bot)[1:]]
    assert events == [
        "alert firing: DiskFull {instance=db1, severity=critical}: disk 95% full",
        "alert firing: DiskFull {instance=db2, severity=critical}",
        "alert resolved: DiskFull {instance=db1, severity=critical}: disk 95% full",
        "alert resolved: DiskFull {instance=db2, severity=critical}",
    ]
    assert not (bot.repo / "incidents" / "INC-2").exists()
    assert git(bot.repo, "ls-tree", "--name-only", "main", "incidents/").split() == [
        "incidents/INC-1",
        "incidents/README.md",
    ]
    assert matrix.posted[-1] == (
        ALERTS_ROOM,
        "[RESOLVED] alertname=DiskFull\n"
        "- resolved: DiskFull {instance=db2, severity=critical}\n"
        "every alert of INC-1 is resolved; !incident resolve INC-1 once it is over",
    )
    assert tomllib.loads(bot.show("incidents/INC-1/incident.toml"))["status"] == "investigating"


async def test_alerts_no_rule_matches_are_posted_and_write_nothing(serve: Serve, bot: Bot) -> None:
    matrix = Matrix()
    listener = await serve(matrix)
    head = bot.head()
    warning = alert("HighLatency", summary="p99 above 2s", severity="warning", service="web")

    status, answer = await send(listener, group(warning, key="{}:{x}", name="HighLatency"))

    assert (status, answer) == (200, {"ok": True, "incident": None, "commit": None})
    assert bot.head() == head
    assert matrix.posted == [
        (
            ALERTS_ROOM,
            "[FIRING:1] alertname=HighLatency\n"
            "- firing: HighLatency {service=web, severity=warning}: p99 above 2s",
        )
    ]


async def test_resolved_alerts_without_an_open_incident_open_none(serve: Serve, bot: Bot) -> None:
    head = bot.head()
    await send(await serve(Matrix()), group({**DB1, "status": "resolved"}))
    assert bot.head() == head


async def test_the_first_matching_rule_and_the_worst_severity_win(serve: Serve, bot: Bot) -> None:
    listener = await serve(Matrix())
    page = alert("SiteDown", fingerprint="aa", severity="page")  # rule 1 (sev1), not rule 3
    other = alert("SiteDown", fingerprint="bb", severity="critical")  # rule 1 too

    await send(listener, group(page, other, key="{}:{site}", name="SiteDown"))

    assert tomllib.loads(bot.show("incidents/INC-1/incident.toml"))["severity"] == "sev1"


async def test_after_people_resolve_it_the_group_firing_again_is_a_new_incident(
    serve: Serve, bot: Bot
) -> None:
    listener = await serve(Matrix())
    await send(listener, group(DB1))
    assert bot.say("!incident resolve INC-1 --summary 'cleaned up'").ok

    await send(listener, group({**DB1, "startsAt": "2026-11-26T13:00:00Z"}))

    assert tomllib.loads(bot.show("incidents/INC-2/incident.toml"))["alert_group"] == DISK
    assert len(incident_commits(bot, "INC-1")) == 2


async def test_a_loud_incident_is_announced_and_its_room_owed(serve: Serve, bot: Bot) -> None:
    bot.edit("policy.toml", POLICY)
    down = alert("SiteDown", summary="www is down", severity="critical")
    matrix = Matrix()

    await send(await serve(matrix), group(down, key="{}:{a}", name="SiteDown"))

    room, notice = matrix.effects
    assert isinstance(room, CreateRoom)
    assert (room.key, room.invite, room.link_in) == ("incident:INC-1", (ONCALL,), ALERTS_ROOM)
    assert isinstance(notice, Notify)
    assert notice.announce and notice.mentions == (ONCALL,)
    assert notice.text == "INC-1 (sev1) opened by alerts: alertname=SiteDown"


async def test_without_an_alerts_room_the_notice_goes_to_the_announcement_rooms(
    serve: Serve,
) -> None:
    matrix = Matrix()
    await send(await serve(matrix, room=False), group(DB1))
    assert matrix.posted[0][0] == "announcement rooms"
    assert matrix.posted[0][1].startswith("[FIRING:1] alertname=DiskFull\n")


async def test_broken_rules_are_said_in_the_notice_and_write_nothing(
    serve: Serve, bot: Bot
) -> None:
    bot.edit(
        "alerts/rules.toml",
        '[[rule]]\nmatch = { severity = "critical" }\nincident_severity = "urgent"\n',
    )
    matrix = Matrix()
    head = bot.head()

    status, _ = await send(await serve(matrix), group(DB1))

    assert status == 200
    assert bot.head() == head
    assert matrix.posted[0][1].endswith(
        "not recorded as an incident: refused: alerts/rules.toml: rule 1: incident_severity: "
        "must be one of sev1, sev2, sev3, sev4, sev5; fix alerts/rules.toml in the state repo"
    )
    assert [p.path for p in StateView(bot.engine.repo.snapshot(), checks()).problems()] == [
        "alerts/rules.toml"
    ]


def test_the_template_s_rules_are_valid(bot: Bot) -> None:
    assert StateView(bot.engine.repo.snapshot(), checks()).problems() == []
    assert "incident_severity" in bot.show("alerts/rules.toml")


async def test_show_names_the_alert_group(serve: Serve, bot: Bot) -> None:
    await send(await serve(Matrix()), group(DB1))
    assert f"alert group: {DISK}" in bot.say("!incident show INC-1").text.splitlines()


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_without_its_token_alertmanager_is_refused(
    serve: Serve, bot: Bot, token: str | None
) -> None:
    matrix = Matrix()
    head = bot.head()
    status, _ = await send(await serve(matrix), group(DB1), token=token)
    assert status == 401
    assert (bot.head(), matrix.posted) == (head, [])


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {**group(DB1), "version": "3"},
        {**group(DB1), "groupKey": ""},
        group({**DB1, "fingerprint": "not hex"}),
        group({**DB1, "startsAt": "2026-11-26 11:58"}),
        group({**DB1, "status": "pending"}),
        group({**DB1, "labels": {"alertname": 7}}),
    ],
)
async def test_what_is_not_a_v4_payload_is_400(serve: Serve, bot: Bot, payload: Any) -> None:
    matrix = Matrix()
    head = bot.head()
    status, answer = await send(await serve(matrix), payload)
    assert (status, answer) == (400, {"ok": False, "error": "not an Alertmanager v4 payload"})
    assert (bot.head(), matrix.posted) == (head, [])


async def test_a_notice_is_owed_whether_or_not_the_homeserver_is_there(
    serve: Serve, bot: Bot
) -> None:
    """The route only owes its notice: sending it is the deliverer's, later. So Alertmanager is
    never told to retry because of Matrix, and a repeat of the group changes nothing."""
    matrix = Matrix()
    listener = await serve(matrix)

    first, _ = await send(listener, group(DB1))
    again, _ = await send(listener, group(DB1))

    assert (first, again) == (200, 200)
    assert len(incident_commits(bot)) == 1
    assert matrix.posted[-1][1].endswith("\nalready in the timeline of INC-1")


def opened_incidents(bot: Bot) -> list[str]:
    listed = git(bot.repo, "ls-tree", "--name-only", "main", "incidents/").split()
    return [path for path in listed if path.startswith("incidents/INC-")]


@pytest.mark.security
async def test_a_burst_of_requests_gets_429_past_the_limit_and_opens_no_more_incidents(
    serve: Serve, bot: Bot
) -> None:
    matrix = Matrix()
    listener = await serve(matrix)  # 20 a minute, in bursts of 10, per client address
    groups = [group(DB1, key=f"{{}}:{{instance=db{n}}}") for n in range(20)]

    answers = await asyncio.gather(*(send(listener, payload) for payload in groups))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 10 + [429] * 10
    assert len(opened_incidents(bot)) == 10
    assert len([text for room, text in matrix.posted if room == ALERTS_ROOM]) == 10


async def test_the_limit_is_the_host_config_s(serve: Serve) -> None:
    listener = await serve(Matrix(), requests_per_minute=2)  # a burst of 1

    statuses = [(await send(listener, group(DB1)))[0] for _ in range(3)]

    assert statuses == [200, 429, 429]


@pytest.mark.security
async def test_a_flood_without_the_token_does_not_use_up_alertmanager_s_budget(
    serve: Serve, bot: Bot
) -> None:
    matrix = Matrix()
    listener = await serve(matrix)

    flood = [(await send(listener, group(DB1), token="guess"))[0] for _ in range(30)]
    status, answer = await send(listener, group(DB1))

    assert flood == [401] * 10 + [429] * 20
    assert (status, answer["incident"]) == (200, "INC-1")


@pytest.mark.security
async def test_json_nested_a_hundred_thousand_deep_is_400_with_a_short_reason(
    serve: Serve, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    matrix = Matrix()
    head = bot.head()
    listener = await serve(matrix)

    answers = [
        await send(listener, b"[" * 100_000 + b"]" * 100_000),
        await send(
            listener, {**group(DB1), "commonLabels": {"x": json.loads("[" * 40 + "]" * 40)}}
        ),
    ]

    assert answers == [(400, {"ok": False, "error": "JSON nested deeper than 32 levels"})] * 2
    assert (bot.head(), matrix.posted) == (head, [])
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_body_that_is_not_json_is_400(serve: Serve) -> None:
    status, answer = await send(await serve(Matrix()), b"not json")
    assert (status, answer) == (400, {"ok": False, "error": "body is not JSON"})


@pytest.mark.security
async def test_a_token_that_is_not_utf_8_is_401_not_a_crash(serve: Serve) -> None:
    listener = await serve(Matrix())
    body = json.dumps(group(DB1)).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(
        b"POST /alertmanager HTTP/1.1\r\nHost: opsbot\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"401"


async def test_on_loopback_the_config_may_let_alerts_in_without_a_token(
    serve: Serve, bot: Bot
) -> None:
    listener = await serve(Matrix(), token_file=None, unauthenticated=True)

    status, answer = await send(listener, group(DB1), token=None)

    assert (status, answer["incident"]) == (200, "INC-1")
