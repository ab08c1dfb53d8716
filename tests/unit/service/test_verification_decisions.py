"""The operator's side of emoji verification on the host: `opsbot keys verifications`, `confirm`
and `reject`, against the journal the running bot writes (bot/transport/matrix/decisions.py).
The bot's side of it runs against Element in tests/matrix/test_element_verification.py."""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import RoomSendResponse

from bot.cli.host import load_config
from bot.service.keys import decide
from bot.transport.matrix.decisions import FILE, DecisionJournal
from bot.transport.matrix.sas import CANCEL, READY, REQUEST
from bot.transport.matrix.verification import MAX_FLOWS, Verifier
from tests.helpers.sas import EMOJI


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:1"\nuser_id = "@opsbot:example.org"\n'
        f'password_file = "{tmp_path / "password"}"\n'
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\nrepo = "{tmp_path / "state.git"}"\n'
    )
    return path


@pytest.fixture
def journal(tmp_path: Path) -> DecisionJournal:
    return DecisionJournal(tmp_path / "state" / "matrix" / FILE)


def keys(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "keys", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def offer(journal: DecisionJournal, user: str = "@eve:example.org") -> int:
    return journal.offer("$req", user, "EVEPHONE", "!dm:example.org", EMOJI, (1234, 5678, 90), None)


def test_a_waiting_verification_is_listed_with_its_emojis_and_numbers(
    config: Path, journal: DecisionJournal
) -> None:
    number = offer(journal)
    out = keys(config, "verifications").stdout
    assert f"{number}: @eve:example.org (device EVEPHONE), since " in out
    assert "   emoji: 🐶 Dog  🐱 Cat  🦁 Lion  🐎 Horse  🦄 Unicorn  🐷 Pig  🐘 Elephant\n" in out
    assert "   numbers: 1234 5678 90\n" in out


def test_nothing_waiting_says_how_to_start_one(config: Path) -> None:
    assert "no verification is waiting" in keys(config, "verifications").stdout


def test_a_decision_is_taken_once_and_only_while_waiting(journal: DecisionJournal) -> None:
    number = offer(journal)
    decided = journal.decide(number, "confirmed")
    assert decided is not None and decided.state == "confirmed"
    again = journal.decide(number, "rejected")
    assert again is not None and again.state == "confirmed"  # the first word stands
    journal.finish(number, "cancelled", "cancelled by @eve:example.org: no (m.user)")
    assert journal.waiting() == []


def test_confirming_a_cancelled_verification_is_refused_with_why(
    config: Path, journal: DecisionJournal
) -> None:
    number = offer(journal)
    journal.finish(number, "cancelled", "cancelled by @eve:example.org: The SAS did not match.")
    done = keys(config, "confirm", str(number))
    assert done.returncode == 1
    assert done.stderr == (
        f"opsbot keys confirm: verification {number} is not waiting: cancelled by "
        "@eve:example.org: The SAS did not match.\n"
    )
    assert journal.get(number).state == "cancelled"  # type: ignore[union-attr]


def test_an_unknown_or_missing_id_says_where_to_find_one(config: Path) -> None:
    unknown = keys(config, "reject", "42")
    assert unknown.returncode == 1 and "no verification 42: opsbot keys verifications" in (
        unknown.stderr
    )
    missing = keys(config, "confirm")
    assert missing.returncode == 1 and "which verification?" in missing.stderr


def test_a_confirmation_the_bot_does_not_pick_up_says_so(
    config: Path, journal: DecisionJournal
) -> None:
    number = offer(journal)
    lines = decide(load_config(config), number, "confirm", wait=0.3)
    assert lines == [f"confirmed {number}; the bot has not acted on it yet (is it running?)"]


def test_what_an_earlier_run_left_waiting_is_ended_at_the_next_start(
    config: Path, journal: DecisionJournal
) -> None:
    number = offer(journal)
    journal.abandon("the bot restarted during the verification")
    assert journal.waiting() == []
    out = keys(config, "verifications").stdout
    assert f"{number}: @eve:example.org (device EVEPHONE): the bot restarted" in out


def test_a_confirmation_waiting_for_the_person_s_side_says_so(
    config: Path, journal: DecisionJournal
) -> None:
    number = offer(journal)
    said: list[list[str]] = []
    operator = threading.Thread(
        target=lambda: said.append(decide(load_config(config), number, "confirm", wait=1.0))
    )
    operator.start()
    while journal.waiting():
        time.sleep(0.01)
    journal.finish(number, "sent")  # the bot picked it up and sent its MAC; the person has not
    operator.join()
    assert said == [
        [
            f"{number}: @eve:example.org (device EVEPHONE): confirmed, the bot's MAC is sent: "
            'verified once they press "They match" too (within the minute)'
        ]
    ]


def test_a_device_name_with_line_breaks_or_escapes_cannot_draw_a_false_emoji_line(
    config: Path, journal: DecisionJournal
) -> None:
    forged = "EVE\n   emoji: 🐶 Dog  🐶 Dog\x1b[1A\x1b[2K"
    number = journal.offer(
        "$req", "@eve:example.org", forged, "!dm:example.org", EMOJI, (1234, 5678, 90), None
    )
    out = keys(config, "verifications").stdout
    assert "\x1b" not in out
    assert [line for line in out.splitlines() if line.startswith("   emoji:")] == [
        "   emoji: 🐶 Dog  🐱 Cat  🦁 Lion  🐎 Horse  🦄 Unicorn  🐷 Pig  🐘 Elephant"
    ]
    assert f"{number}: @eve:example.org (device EVE\\n   emoji: " in out


# How many verifications the bot holds at once: one per person, so nobody can fill the slots.

BOT_ID = "@opsbot:example.org"
NOW = 1_800_000_000.0


class Client:
    """What the verifier uses of nio's client: who the bot is, and sending into a room."""

    user_id, device_id, should_query_keys = BOT_ID, "BOTDEVICE", False
    olm = SimpleNamespace(account=SimpleNamespace(identity_keys={"ed25519": "b" * 43}))

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def room_send(self, room: str, kind: str, content: dict[str, Any], **_: Any) -> Any:
        self.sent.append((kind, content))
        return RoomSendResponse("$sent", room)

    def answers_to(self, request: str) -> list[str]:
        """The kinds of event the bot sent in the flow of `request`, with a cancel's reason."""
        return [
            f"{kind} {content.get('reason', '')}".strip()
            for kind, content in self.sent
            if content["m.relates_to"]["event_id"] == request
        ]


def request(event_id: str, sender: str, device: str = "PHONE") -> dict[str, Any]:
    """A person's client asking to verify the bot (in-room)."""
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": NOW * 1000,
        "content": {
            "msgtype": REQUEST,
            "to": BOT_ID,
            "from_device": device,
            "methods": ["m.sas.v1"],
        },
    }


@pytest.fixture
def verifier(tmp_path: Path) -> Iterator[tuple[Verifier, Client]]:
    client = Client()
    verifier = Verifier(client, tmp_path / "state", None, clock=lambda: NOW)  # type: ignore[arg-type]
    yield verifier, client
    verifier.close()


@pytest.mark.security
async def test_one_member_cannot_fill_the_slots_and_refuse_the_operator_s_verification(
    verifier: tuple[Verifier, Client],
) -> None:
    bot, client = verifier
    for n in range(MAX_FLOWS + 2):
        await bot.receive("!dm-mallory", request(f"$mallory{n}", "@mallory:example.org"))

    await bot.receive("!dm-alice", request("$alice", "@alice:example.org"))

    assert client.answers_to("$alice") == [READY]


@pytest.mark.security
async def test_a_new_request_replaces_the_same_person_s_earlier_one_only(
    verifier: tuple[Verifier, Client],
) -> None:
    bot, client = verifier
    await bot.receive("!dm-alice", request("$alice", "@alice:example.org"))
    await bot.receive("!dm-mallory", request("$first", "@mallory:example.org"))

    await bot.receive("!dm-mallory", request("$second", "@mallory:example.org", "LAPTOP"))

    assert client.answers_to("$first") == [READY, f"{CANCEL} a newer request replaces this one"]
    assert client.answers_to("$second") == [READY]
    assert client.answers_to("$alice") == [READY]
    assert sorted(bot.flows) == ["$alice", "$second"]


async def test_as_many_people_as_there_are_slots_may_verify_at_once_and_no_more(
    verifier: tuple[Verifier, Client],
) -> None:
    bot, client = verifier
    for n in range(MAX_FLOWS + 1):
        await bot.receive(f"!dm{n}", request(f"$r{n}", f"@person{n}:example.org"))
    assert all(client.answers_to(f"$r{n}") == [READY] for n in range(MAX_FLOWS))
    assert client.answers_to(f"$r{MAX_FLOWS}") == [f"{CANCEL} too many verifications at once"]
