"""Mentions in what the bot sends: every message carries `m.mentions`, empty unless the bot means
to ping someone (the people an incident notifies, the person a reply answers), and text from
outside (alert labels and annotations, webhook payloads) never pings the room, not even in
older clients that ignore `m.mentions` and match "@room" in the body.

The content is read where the Matrix transport hands it to its client: the transport, its
effects and the HTTP listener are the real ones; only `room_send` and `room_create` record what
would go to the homeserver instead of sending it.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nio import AsyncClient, MatrixRoom, RoomCreateResponse, RoomSendResponse

from bot import config
from bot.engine.services import Services
from bot.engine.types import Reply
from bot.features.alerts import alertmanager as alerts
from bot.features.catalog import sections
from bot.transport.http import HttpListener
from bot.transport.http.webhooks import sign
from bot.transport.matrix.content import edit_content, notice, reply_content
from bot.transport.matrix.deliverer import Deliverer
from bot.transport.matrix.notices import mention_content
from tests.helpers.bot import ALICE, Bot

ME = "@opsbot:localhost"
ALERTS_ROOM = "!alerts:example.org"
ANNOUNCE_ROOM = "!announce:example.org"
CI_ROOM = "!ci:example.org"
ONCALL = "@oncall:example.org"
TOKEN = "alertmanager-token"
CI_SECRET = b"ci-secret"
OUTSIDE_TEXT = "@room disk full, ask @alice:example.org"

RULES = '[[rule]]\nmatch = { severity = "critical" }\nincident_severity = "sev1"\n'
POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[incidents.notify]
sev1 = ["{ONCALL}"]

[rooms]
announce = ["{ANNOUNCE_ROOM}"]
"""


class Homeserver(AsyncClient):
    """A client that records what it would send, in rooms it is in."""

    def __init__(self, rooms: tuple[str, ...]) -> None:
        super().__init__("https://matrix.example.org", ME)
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.listener = ""  # the HTTP listener's URL, once it is started
        self.deliverer: Deliverer | None = None
        for room in rooms:
            self.rooms[room] = MatrixRoom(room, ME)

    async def room_send(
        self, room_id: str, message_type: str, content: dict[str, Any], **_: Any
    ) -> RoomSendResponse:
        self.sent.append((room_id, content))
        return RoomSendResponse(f"$sent{len(self.sent)}", room_id)

    async def room_create(self, **_: Any) -> RoomCreateResponse:
        self.rooms["!incident:example.org"] = MatrixRoom("!incident:example.org", ME)
        return RoomCreateResponse("!incident:example.org")


@pytest.fixture
async def homeserver(bot: Bot, tmp_path: Path) -> AsyncIterator[Homeserver]:
    bot.edit("alerts/rules.toml", RULES)
    bot.edit("policy.toml", POLICY)
    (tmp_path / "am.token").write_text(TOKEN)
    (tmp_path / "ci.secret").write_bytes(CI_SECRET)
    host_config = tmp_path / "opsbot.toml"
    host_config.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
        f'[alerts]\nroom = "{ALERTS_ROOM}"\ntoken_file = "{tmp_path / "am.token"}"\n'
        f'[webhooks.ci]\nsecret_file = "{tmp_path / "ci.secret"}"\nroom = "{CI_ROOM}"\n'
    )
    client = Homeserver((ALERTS_ROOM, ANNOUNCE_ROOM, CI_ROOM))
    listener = HttpListener(
        config.load(host_config, sections()), Services(bot.engine), alerts.ROUTES
    )
    client.deliverer = Deliverer(client, bot.engine, bot.engine.ledger)
    await listener.start()
    client.listener = listener.url
    yield client
    await listener.stop()
    await client.close()


def alert_group(summary: str) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "status": "firing",
        "groupLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {"summary": summary},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "severity": "critical", "owner": "@room"},
                "annotations": {"summary": summary},
                "fingerprint": "e94c744ae3d44df8",
                "startsAt": "2026-11-26T11:58:00Z",
            }
        ],
    }


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def delivered(homeserver: Homeserver) -> list[tuple[str, dict[str, Any]]]:
    """What the deliverer sends of what is owed (until nothing more is due)."""
    assert homeserver.deliverer is not None
    while await homeserver.deliverer.drain():
        pass
    return homeserver.sent


def pings_the_room(content: dict[str, Any]) -> bool:
    """As an older client would see it: the word @room in the body, or m.mentions room."""
    text = f"{content['body']} {content['formatted_body']}".lower()
    return "@room" in text or content["m.mentions"].get("room", False)


@pytest.mark.security
async def test_an_alert_s_notice_mentions_nobody_and_does_not_ping_the_room(
    homeserver: Homeserver,
) -> None:
    body = json.dumps(alert_group(OUTSIDE_TEXT)).encode()

    status = await post(
        f"{homeserver.listener}/alertmanager", body, {"Authorization": f"Bearer {TOKEN}"}
    )

    assert status == 200
    sent = await delivered(homeserver)
    [content] = [c for room, c in sent if c["body"].startswith("[FIRING:1]")]
    assert (ALERTS_ROOM, content) in sent
    assert content["m.mentions"] == {}
    assert not pings_the_room(content)
    assert "@\u2060room disk full, ask @alice:example.org" in content["body"]  # shown, not pinged


@pytest.mark.security
async def test_the_incident_an_alert_opens_mentions_only_the_people_it_notifies(
    homeserver: Homeserver,
) -> None:
    body = json.dumps(alert_group(OUTSIDE_TEXT)).encode()

    await post(f"{homeserver.listener}/alertmanager", body, {"Authorization": f"Bearer {TOKEN}"})

    sent = await delivered(homeserver)
    announced = [content for room, content in sent if room == ANNOUNCE_ROOM]
    assert announced, "the sev1 incident is announced"
    for content in announced:
        assert content["m.mentions"] == {"user_ids": [ONCALL]}
        assert not pings_the_room(content)
    assert all("m.mentions" in content for _, content in sent)


@pytest.mark.security
async def test_a_webhook_s_text_mentions_nobody_and_does_not_ping_the_room(
    homeserver: Homeserver,
) -> None:
    body = json.dumps({"text": OUTSIDE_TEXT, "status": "@ROOM"}).encode()
    timestamp, delivery = str(int(time.time())), str(uuid.uuid4())
    headers = {
        "X-Timestamp": timestamp,
        "X-Delivery": delivery,
        "X-Signature": sign(CI_SECRET, timestamp, delivery, body),
    }

    status = await post(f"{homeserver.listener}/webhooks/ci", body, headers)

    assert status == 202
    [(room, content)] = await delivered(homeserver)
    assert room == CI_ROOM
    assert content["m.mentions"] == {}
    assert not pings_the_room(content)


REPLY = Reply(True, None, "noted: @room is down", "noted: @room is down")


@pytest.mark.security
@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (notice("@room: build failed"), {}),
        (reply_content(REPLY, in_reply_to="$command", sender=ALICE), {"user_ids": [ALICE]}),
        (edit_content(REPLY, original="$reply"), {}),
        (mention_content("INC-1 opened: @Room", (ONCALL,)), {"user_ids": [ONCALL]}),
    ],
    ids=["notice", "reply", "edit", "notify"],
)
def test_every_message_says_whom_it_mentions_and_never_pings_the_room(
    content: dict[str, Any], mentions: dict[str, Any]
) -> None:
    assert content["m.mentions"] == mentions
    assert not pings_the_room(content)
    assert not pings_the_room(content.get("m.new_content", content))


def test_a_word_that_only_starts_with_room_is_left_alone() -> None:
    assert notice("@roomba is docked")["body"] == "@roomba is docked"
