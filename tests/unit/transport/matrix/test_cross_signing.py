"""The bot's cross-signing keys: canonical JSON, the signatures the spec asks for, the key file."""

import base64
import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nio import AsyncClient

from bot.core.ids import fingerprint
from bot.transport.matrix.cross_signing_keys import CrossSigningError, CrossSigningKeys
from bot.transport.matrix.homeserver_keys import Homeserver
from bot.transport.matrix.signed_json import canonical_json, key_public, sign, verifies

USER = "@opsbot:example.org"


def raw(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def check(obj: dict, user: str, public: str) -> None:
    """Verifies with cryptography alone, as the spec says: the object without `signatures`
    and `unsigned`, in canonical JSON."""
    signature = obj["signatures"][user][f"ed25519:{public}"]
    bare = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    Ed25519PublicKey.from_public_bytes(raw(public)).verify(
        raw(signature),
        json.dumps(bare, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(),
    )


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_utf8() -> None:
    value = {"b": 1, "a": {"z": [1, "é"], "y": None}, "日本": "語"}
    assert canonical_json(value) == '{"a":{"y":null,"z":[1,"é"]},"b":1,"日本":"語"}'.encode()


def test_the_spec_example_of_canonical_json() -> None:
    # From the Matrix spec's "Canonical JSON" examples.
    assert canonical_json(
        {
            "auth": {
                "success": True,
                "mxid": "@john.doe:example.com",
                "profile": {
                    "display_name": "John Doe",
                    "three_pids": [
                        {"medium": "email", "address": "john.doe@example.org"},
                        {"medium": "msisdn", "address": "123456789"},
                    ],
                },
            }
        }
    ) == (
        b'{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
        b'"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
        b'{"address":"123456789","medium":"msisdn"}]},"success":true}}'
    )


def test_the_self_and_user_signing_keys_are_signed_by_the_master_key() -> None:
    keys = CrossSigningKeys.generate(USER)
    body = keys.upload_body()
    master = key_public(body["master_key"])
    assert master == keys.master_public and len(raw(master)) == 32
    assert body["master_key"]["usage"] == ["master"]
    for name, usage in (("self_signing_key", "self_signing"), ("user_signing_key", "user_signing")):
        obj = body[name]
        assert obj["usage"] == [usage] and obj["user_id"] == USER
        check(obj, USER, master)
        assert verifies(obj, USER, master)
    assert key_public(body["self_signing_key"]) == keys.self_signing_public


def test_the_device_signature_verifies_and_keeps_the_devices_own() -> None:
    keys = CrossSigningKeys.generate(USER)
    device = {
        "user_id": USER,
        "device_id": "ABCDEF",
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {"curve25519:ABCDEF": "c" * 43, "ed25519:ABCDEF": "e" * 43},
        "signatures": {USER: {"ed25519:ABCDEF": "own"}},
        "unsigned": {"device_display_name": "opsbot"},
    }
    signed = keys.sign_device(device)
    check(signed, USER, keys.self_signing_public)
    assert verifies(signed, USER, keys.self_signing_public)
    assert "unsigned" not in signed
    assert signed["signatures"][USER]["ed25519:ABCDEF"] == "own"  # the device's own is kept
    assert not verifies(signed, USER, keys.master_public)  # signed by the self-signing key only


def test_a_changed_object_no_longer_verifies() -> None:
    keys = CrossSigningKeys.generate(USER)
    signed = sign({"user_id": USER, "keys": {"ed25519:X": "x"}}, keys.master, USER)
    assert verifies(signed, USER, keys.master_public)
    tampered = {**signed, "keys": {"ed25519:X": "y"}}
    assert not verifies(tampered, USER, keys.master_public)


def test_the_key_file_is_private_and_reads_back_the_same_keys(tmp_path: Path) -> None:
    keys = CrossSigningKeys.generate(USER)
    path = tmp_path / "cross_signing.json"
    keys.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CrossSigningKeys.load(path)
    assert again is not None
    assert again.master_public == keys.master_public
    assert again.self_signing_public == keys.self_signing_public
    assert CrossSigningKeys.load(tmp_path / "missing.json") is None


def test_the_fingerprint_is_the_unpadded_key_in_groups_of_four() -> None:
    keys = CrossSigningKeys.generate(USER)
    shown = fingerprint(keys.master_public)
    assert shown.replace(" ", "") == keys.master_public and "=" not in shown
    assert all(len(group) == 4 for group in shown.split()[:-1])


class Answers(Homeserver):
    """The homeserver's answers to the upload, recorded: interactive auth on the first try."""

    def __init__(self) -> None:
        client = AsyncClient("http://localhost", USER)
        client.user_id = USER  # as a login sets it
        super().__init__(client)
        self.sent: list[dict[str, Any]] = []

    async def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        self.sent.append(dict(body))
        if "auth" not in body:
            return 401, {"flows": [{"stages": ["m.login.password"]}], "session": "S"}
        return 200, {}


async def test_interactive_auth_is_answered_with_the_password() -> None:
    server = Answers()
    await server.upload_keys(CrossSigningKeys.generate(USER), "hunter2")
    assert server.sent[1]["auth"] == {
        "type": "m.login.password",
        "session": "S",
        "password": "hunter2",
        "identifier": {"type": "m.id.user", "user": USER},
    }


async def test_interactive_auth_with_a_token_only_says_to_add_password_file() -> None:
    server = Answers()
    with pytest.raises(CrossSigningError, match="add password_file to \\[matrix\\]"):
        await server.upload_keys(CrossSigningKeys.generate(USER), None)
    assert len(server.sent) == 1
