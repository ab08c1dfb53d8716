"""The bot's side of emoji verification (bot/transport/matrix/sas.py), step by step.

The other side here is the person's client reduced to the spec's arithmetic, written with
vodozemac from the spec's strings, independently of the module under test: the commitment it
checks, the emojis it derives, the MACs it computes and checks. The real person's client
(matrix-js-sdk with Element's Rust crypto) is in tests/matrix/test_element_verification.py."""

import base64
import hashlib
import json
from typing import Any

import pytest
import vodozemac

from bot.transport.matrix.sas import (
    ACCEPT,
    CANCEL,
    DONE,
    EMOJI,
    KEY,
    MAC,
    READY,
    Cancelled,
    Party,
    SasFlow,
    commitment,
)

BOT = Party("@opsbot:example.org", "BOTDEVICE")
EVE = Party("@eve:example.org", "EVEPHONE")
REQUEST_ID = "$request-event-id"
BOT_DEVICE_KEY = "b" * 43
BOT_MASTER = "m" * 43
EVE_DEVICE_KEY = "e" * 43
EVE_MASTER = "E" * 43
RELATION = {"m.relates_to": {"rel_type": "m.reference", "event_id": REQUEST_ID}}


def start_content(**changes: Any) -> dict[str, Any]:
    """What Element sends to start SAS in a room."""
    return {
        "from_device": EVE.device_id,
        "method": "m.sas.v1",
        "key_agreement_protocols": ["curve25519-hkdf-sha256"],
        "hashes": ["sha256"],
        "message_authentication_codes": ["hkdf-hmac-sha256.v2", "hkdf-hmac-sha256"],
        "short_authentication_string": ["decimal", "emoji"],
        **RELATION,
        **changes,
    }


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class Person:
    """The starting side of SAS, as the spec computes it."""

    def __init__(self, mac_method: str = "hkdf-hmac-sha256.v2") -> None:
        self.sas = vodozemac.Sas()
        self.key = self.sas.public_key.to_base64()
        self.mac_method = mac_method
        self.established: Any = None

    def keys_exchanged(self, bot_key: str) -> None:
        self.established = self.sas.diffie_hellman(
            vodozemac.Curve25519PublicKey.from_base64(bot_key)
        )

    def sas_bytes(self, bot_key: str) -> Any:
        info = (
            f"MATRIX_KEY_VERIFICATION_SAS|{EVE.user_id}|{EVE.device_id}|{self.key}"
            f"|{BOT.user_id}|{BOT.device_id}|{bot_key}|{REQUEST_ID}"
        )
        return self.established.bytes(info)

    def mac(self, text: str, info: str) -> str:
        if self.mac_method == "hkdf-hmac-sha256":
            return str(self.established.calculate_mac_invalid_base64(text, info))
        return str(self.established.calculate_mac(text, info))

    def mac_content(self, keys: dict[str, str]) -> dict[str, Any]:
        info = f"MATRIX_KEY_VERIFICATION_MAC{EVE.user_id}{EVE.device_id}{BOT.user_id}"
        info += f"{BOT.device_id}{REQUEST_ID}"
        macs = {key_id: self.mac(key, info + key_id) for key_id, key in keys.items()}
        return {"mac": macs, "keys": self.mac(",".join(sorted(macs)), info + "KEY_IDS"), **RELATION}

    def check_bot_mac(self, content: dict[str, Any]) -> set[str]:
        """The key ids of the bot's MAC that check out against the keys Element knows."""
        info = f"MATRIX_KEY_VERIFICATION_MAC{BOT.user_id}{BOT.device_id}{EVE.user_id}"
        info += f"{EVE.device_id}{REQUEST_ID}"
        macs = content["mac"]
        assert content["keys"] == self.mac(",".join(sorted(macs)), info + "KEY_IDS")
        known = {f"ed25519:{BOT.device_id}": BOT_DEVICE_KEY, f"ed25519:{BOT_MASTER}": BOT_MASTER}
        return {k for k, mac in macs.items() if mac == self.mac(known[k], info + k)}


def new_flow(now: float = 1000.0) -> SasFlow:
    return SasFlow(REQUEST_ID, "!dm:example.org", BOT, BOT_DEVICE_KEY, BOT_MASTER, EVE, now)


def to_deciding(flow: SasFlow, person: Person, now: float = 1000.0) -> str:
    """Start and key exchanged; the bot's public key."""
    flow.receive("m.key.verification.start", EVE.user_id, start_content(), now)
    assert flow.on_start(start_content())[0] == ACCEPT
    flow.receive(KEY, EVE.user_id, {"key": person.key}, now)
    kind, key = flow.on_key({"key": person.key, **RELATION})
    assert kind == KEY
    person.keys_exchanged(key["key"])
    return str(key["key"])


def test_the_commitment_is_the_spec_s_unpadded_base64_over_key_and_canonical_start() -> None:
    # The worked example matrix-rust-sdk tests against (to-device, so with a transaction id).
    start = {
        "from_device": "XOWLHHFSWM",
        "transaction_id": "bYxBsirjUJO9osar6ST4i2M2NjrYLA7l",
        "method": "m.sas.v1",
        "key_agreement_protocols": ["curve25519-hkdf-sha256", "curve25519"],
        "hashes": ["sha256"],
        "message_authentication_codes": ["hkdf-hmac-sha256", "hmac-sha256"],
        "short_authentication_string": ["decimal", "emoji"],
    }
    assert (
        commitment("Q/NmNFEUS1fS+YeEmiZkjjblKTitrKOAk7cPEumcMlg", start)
        == "CCQmB4JCdB0FW21FdAnHj/Hu8+W9+Nb0vgwPEnZZQ4g"
    )


def test_ready_offers_sas_and_relates_to_the_request() -> None:
    assert new_flow().ready() == (
        READY,
        {"from_device": BOT.device_id, "methods": ["m.sas.v1"], **RELATION},
    )


def test_the_accept_commits_to_the_key_the_bot_sends_later() -> None:
    flow, person = new_flow(), Person()
    _, accept = flow.on_start(start_content())
    assert accept["key_agreement_protocol"] == "curve25519-hkdf-sha256"
    assert accept["message_authentication_code"] == "hkdf-hmac-sha256.v2"
    assert accept["m.relates_to"] == RELATION["m.relates_to"]
    _, key = flow.on_key({"key": person.key, **RELATION})
    digest = hashlib.sha256(key["key"].encode() + canonical(start_content())).digest()
    assert accept["commitment"] == base64.b64encode(digest).decode().rstrip("=")


def test_both_sides_see_the_same_emojis_and_numbers_and_the_bot_sends_no_mac_yet() -> None:
    flow, person = new_flow(), Person()
    bot_key = to_deciding(flow, person)
    expected = person.sas_bytes(bot_key)
    assert len(flow.emoji) == 7
    assert flow.emoji == [EMOJI[i] for i in expected.emoji_indices]
    assert flow.decimals == tuple(expected.decimals)
    assert flow.state == "deciding"
    # The person confirms first: their MAC alone gets no MAC and no done from the bot.
    mac = person.mac_content({f"ed25519:{EVE.device_id}": EVE_DEVICE_KEY})
    assert flow.on_mac(mac, EVE_DEVICE_KEY, EVE_MASTER) == []


def test_confirming_sends_a_mac_over_the_device_and_master_key_then_done() -> None:
    flow, person = new_flow(), Person()
    to_deciding(flow, person)
    mac = person.mac_content(
        {f"ed25519:{EVE.device_id}": EVE_DEVICE_KEY, f"ed25519:{EVE_MASTER}": EVE_MASTER}
    )
    flow.on_mac(mac, EVE_DEVICE_KEY, EVE_MASTER)
    sent = flow.confirm()
    assert [kind for kind, _ in sent] == [MAC, DONE]
    assert person.check_bot_mac(sent[0][1]) == {
        f"ed25519:{BOT.device_id}",
        f"ed25519:{BOT_MASTER}",
    }
    assert sent[1][1] == RELATION
    assert flow.state == "verified"
    assert set(flow.their_verified) == {f"ed25519:{EVE.device_id}", f"ed25519:{EVE_MASTER}"}


def test_the_bot_confirming_first_sends_done_once_their_mac_checks_out() -> None:
    flow, person = new_flow(), Person()
    to_deciding(flow, person)
    assert [kind for kind, _ in flow.confirm()] == [MAC]
    mac = person.mac_content({f"ed25519:{EVE.device_id}": EVE_DEVICE_KEY})
    assert flow.on_mac(mac, EVE_DEVICE_KEY, EVE_MASTER) == [(DONE, RELATION)]


def test_the_first_mac_method_with_its_base64_quirk_still_verifies() -> None:
    flow, person = new_flow(), Person("hkdf-hmac-sha256")
    flow.on_start(start_content(message_authentication_codes=["hkdf-hmac-sha256"]))
    _, key = flow.on_key({"key": person.key})
    person.keys_exchanged(key["key"])
    mac = person.mac_content({f"ed25519:{EVE.device_id}": EVE_DEVICE_KEY})
    flow.on_mac(mac, EVE_DEVICE_KEY, None)
    assert person.check_bot_mac(flow.confirm()[0][1]) == {
        f"ed25519:{BOT.device_id}",
        f"ed25519:{BOT_MASTER}",
    }


def test_a_mac_over_another_device_key_is_a_key_mismatch() -> None:
    flow, person = new_flow(), Person()
    to_deciding(flow, person)
    mac = person.mac_content({f"ed25519:{EVE.device_id}": "x" * 43})
    with pytest.raises(Cancelled) as cancelled:
        flow.on_mac(mac, EVE_DEVICE_KEY, EVE_MASTER)
    assert cancelled.value.code == "m.key_mismatch"


def test_a_tampered_key_list_is_a_key_mismatch() -> None:
    flow, person = new_flow(), Person()
    to_deciding(flow, person)
    mac = person.mac_content({f"ed25519:{EVE.device_id}": EVE_DEVICE_KEY})
    mac["keys"] = person.mac("ed25519:OTHER", "wrong info")
    with pytest.raises(Cancelled, match=r"m\.key_mismatch"):
        flow.on_mac(mac, EVE_DEVICE_KEY, EVE_MASTER)


def test_no_confirmation_is_possible_before_the_keys_are_exchanged() -> None:
    flow = new_flow()
    flow.on_start(start_content())
    with pytest.raises(Cancelled, match=r"m\.unexpected_message"):
        flow.confirm()


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "m.reciprocate.v1"},
        {"key_agreement_protocols": ["curve25519"]},
        {"message_authentication_codes": ["hmac-sha256"]},
        {"short_authentication_string": []},
    ],
)
def test_a_start_with_nothing_in_common_is_an_unknown_method(changes: dict[str, Any]) -> None:
    with pytest.raises(Cancelled) as cancelled:
        new_flow().on_start(start_content(**changes))
    assert cancelled.value.code == "m.unknown_method"


def test_a_start_from_another_device_than_the_one_that_asked_is_refused() -> None:
    with pytest.raises(Cancelled, match=r"m\.unexpected_message"):
        new_flow().on_start(start_content(from_device="OTHERDEVICE"))


def test_an_event_from_someone_else_in_the_room_is_a_user_mismatch() -> None:
    with pytest.raises(Cancelled, match=r"m\.user_mismatch"):
        new_flow().receive(KEY, "@mallory:example.org", {"key": "k"}, 1000.0)


def test_a_rejection_cancels_with_mismatched_sas_related_to_the_request() -> None:
    flow = new_flow()
    to_deciding(flow, Person())
    kind, content = flow.reject()
    assert kind == CANCEL and content["code"] == "m.mismatched_sas"
    assert content["m.relates_to"] == RELATION["m.relates_to"]
    assert flow.state == "cancelled"


def test_the_operator_has_a_minute_and_the_flow_ten() -> None:
    flow = new_flow(now=1000.0)
    assert flow.overdue(1500.0) is None  # waiting for their start: Element's request lasts
    to_deciding(flow, Person(), now=1500.0)
    assert flow.overdue(1559.0) is None
    assert "nobody confirmed" in str(flow.overdue(1561.0))
    assert "10 minutes" in str(flow.overdue(1601.0))


def test_after_confirming_the_bot_waits_a_minute_for_their_mac() -> None:
    flow = new_flow(now=1000.0)
    to_deciding(flow, Person(), now=1000.0)
    flow.confirm()
    assert flow.overdue(1059.0) is None
    assert "did not answer" in str(flow.overdue(1061.0))


def test_their_cancel_ends_the_flow_with_their_reason() -> None:
    flow = new_flow()
    flow.on_cancel({"code": "m.mismatched_sas", "reason": "The SAS did not match."})
    assert (flow.state, flow.cancel_code) == ("cancelled", "m.mismatched_sas")
    assert flow.overdue(99999.0) is None
    with pytest.raises(Cancelled):
        flow.receive(MAC, EVE.user_id, {}, 1000.0)
