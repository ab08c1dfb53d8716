"""The crypto store answers nio's trust questions from memory, and as SqliteStore would."""

import random
from pathlib import Path

from nio.crypto import OlmAccount, OlmDevice
from nio.store import SqliteStore

from bot.transport.matrix.store import CryptoStore

CHANGES = (
    "verify_device",
    "unverify_device",
    "blacklist_device",
    "unblacklist_device",
    "ignore_device",
    "unignore_device",
)
QUESTIONS = ("is_device_verified", "is_device_blacklisted", "is_device_ignored")


def opened(kind: type[SqliteStore], path: Path, account: OlmAccount) -> SqliteStore:
    path.mkdir()
    store = kind("@bot:example.org", "BOT", str(path), pickle_key="k", database_name="c.db")
    store.save_account(account)
    return store


def devices(count: int) -> list[OlmDevice]:
    return [
        OlmDevice("@alice:example.org", f"D{i}", {"ed25519": f"e{i}", "curve25519": f"c{i}"})
        for i in range(count)
    ]


def test_every_answer_is_the_sqlite_store_s_after_any_changes(tmp_path: Path) -> None:
    account = OlmAccount()
    mine, theirs = (
        opened(CryptoStore, tmp_path / "a", account),
        opened(SqliteStore, tmp_path / "b", account),
    )
    ours, reference = devices(4), devices(4)
    for store, group in ((mine, ours), (theirs, reference)):
        store.save_device_keys({"@alice:example.org": {d.id: d for d in group[:3]}})
    rng = random.Random(7)
    for _ in range(300):
        i = rng.randrange(4)  # the fourth device is never saved: unknown to both
        for question in QUESTIONS:
            assert getattr(mine, question)(ours[i]) == getattr(theirs, question)(reference[i])
        if i < 3:
            change = rng.choice([*CHANGES, "ignore_devices"])
            if change == "ignore_devices":
                picked = rng.sample(range(3), 2)
                mine.ignore_devices([ours[j] for j in picked])
                theirs.ignore_devices([reference[j] for j in picked])
            else:
                assert getattr(mine, change)(ours[i]) == getattr(theirs, change)(reference[i])


def test_what_it_kept_survives_a_restart(tmp_path: Path) -> None:
    account = OlmAccount()
    store = opened(CryptoStore, tmp_path / "s", account)
    [device] = devices(1)
    store.save_device_keys({"@alice:example.org": {device.id: device}})
    assert store.blacklist_device(device)
    again = CryptoStore("@bot:example.org", "BOT", str(tmp_path / "s"), "k", "c.db")
    assert again.is_device_blacklisted(device)
    assert not again.is_device_verified(device)


def test_a_sync_without_encrypted_rooms_writes_nothing(tmp_path: Path) -> None:
    store = opened(CryptoStore, tmp_path / "s", OlmAccount())
    store.save_encrypted_rooms(set())
    store.save_encrypted_rooms({"!room:example.org"})
    assert store.load_encrypted_rooms() == {"!room:example.org"}
