"""The transport's view of people's cross-signing: signatures checked per key query, and the
host config's [matrix] share_keys_with."""

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot import config
from bot.config import ConfigError
from bot.features.catalog import sections
from bot.transport.matrix.cross_signing_keys import CrossSigningKeys
from bot.transport.matrix.people import person_keys
from bot.transport.matrix.signed_json import public_of, sign

ALICE = "@alice:example.org"
MATRIX = '[matrix]\nhomeserver = "https://m.example.org"\nuser_id = "@opsbot:example.org"\n'
MATRIX += 'password_file = "/run/credentials/opsbot.service/password"\n'
PATHS = '[paths]\nrepo = "/var/lib/opsbot/state.git"\nstate_dir = "/var/lib/opsbot"\n'


def device(device_id: str) -> dict[str, Any]:
    key = public_of(Ed25519PrivateKey.generate())
    return {
        "user_id": ALICE,
        "device_id": device_id,
        "algorithms": ["m.megolm.v1.aes-sha2"],
        "keys": {f"ed25519:{device_id}": key, f"curve25519:{device_id}": key},
    }


def answer(keys: CrossSigningKeys, devices: dict[str, dict[str, Any]]) -> dict[str, Any]:
    body = keys.upload_body()
    return {
        "device_keys": {ALICE: devices},
        "master_keys": {ALICE: body["master_key"]},
        "self_signing_keys": {ALICE: body["self_signing_key"]},
    }


def test_a_device_signed_by_the_self_signing_key_the_master_key_signed_is_cross_signed() -> None:
    keys = CrossSigningKeys.generate(ALICE)
    signed, unsigned = keys.sign_device(device("LAPTOP")), device("ROGUE")
    seen = person_keys(answer(keys, {"LAPTOP": signed, "ROGUE": unsigned}), ALICE)
    assert seen.master == keys.master_public
    assert seen.signed == {("LAPTOP", signed["keys"]["ed25519:LAPTOP"])}
    assert seen.devices == {"LAPTOP", "ROGUE"}


def test_a_self_signing_key_the_master_key_did_not_sign_vouches_for_nothing() -> None:
    keys = CrossSigningKeys.generate(ALICE)
    other = CrossSigningKeys.generate(ALICE)
    reply = answer(keys, {"LAPTOP": keys.sign_device(device("LAPTOP"))})
    reply["master_keys"][ALICE] = other.upload_body()["master_key"]
    assert person_keys(reply, ALICE).signed == frozenset()


def test_a_device_signature_by_another_key_does_not_count() -> None:
    keys = CrossSigningKeys.generate(ALICE)
    forged = sign(device("ROGUE"), Ed25519PrivateKey.generate(), ALICE)
    assert person_keys(answer(keys, {"ROGUE": forged}), ALICE).signed == frozenset()


def test_a_person_without_cross_signing_has_no_master_key() -> None:
    seen = person_keys({"device_keys": {ALICE: {"PHONE": device("PHONE")}}}, ALICE)
    assert (seen.master, seen.signed, seen.devices) == (None, frozenset(), {"PHONE"})


def load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "opsbot.toml"
    path.write_text(PATHS + MATRIX + text)
    return config.load(path, sections())


def test_room_keys_go_to_cross_signed_devices_only_by_default(tmp_path: Path) -> None:
    loaded = load(tmp_path, "")
    assert loaded.matrix is not None and loaded.matrix.share_keys_with == "cross-signed"
    loaded = load(tmp_path, 'share_keys_with = "all"\n')
    assert loaded.matrix is not None and loaded.matrix.share_keys_with == "all"


def test_share_keys_with_takes_only_its_two_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="share_keys_with"):
        load(tmp_path, 'share_keys_with = "verified"\n')
