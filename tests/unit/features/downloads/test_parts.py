"""Downloads, the parts without a network: the progress channel and how it reads, the quota,
retention, checksums, and who a link admits."""

import os
import time
from pathlib import Path

import pytest

from bot import config
from bot.features.catalog import sections
from bot.features.downloads import progress
from bot.features.downloads.links import Admitted, Denied, LinkBook
from bot.features.downloads.progress import Checksum, Meter, Progress, describe, parse
from bot.features.downloads.settings import DOWNLOADS
from bot.features.downloads.store import DownloadStore, QuotaExceeded, sha256

ALICE, BOB = "@alice:example.org", "@bob:example.org"


# the progress channel


def test_a_progress_line_reports_bytes_done_and_total() -> None:
    assert parse("progress 1024 4096") == Progress(1024, 4096)
    assert parse("progress 10 -\n") == Progress(10, None)


def test_a_sha256_line_reports_a_files_checksum() -> None:
    digest = "AB" * 32
    assert parse(f"sha256 {digest} logs/app.log") == Checksum("ab" * 32, "logs/app.log")


@pytest.mark.parametrize(
    "line",
    ["progress", "progress 1", "progress -1 10", "progress 1 2 3", "Progress 1 2", "sha256 xyz f"],
)
def test_anything_else_is_ordinary_output(line: str) -> None:
    assert parse(line) is None


def test_the_reply_shows_a_bar_the_rate_and_the_time_left() -> None:
    text = describe(Progress(512 * 1024**2, 1024**3), rate=64 * 1024**2)
    assert text == "[##########----------] 50% 512.0 MiB of 1.0 GiB, 64.0 MiB/s, 8s left"


def test_without_a_total_the_reply_shows_what_arrived_so_far() -> None:
    assert describe(Progress(1536, None), rate=None) == "1.5 KiB so far"


def test_the_rate_is_over_the_last_seconds_not_since_the_start() -> None:
    meter = Meter(window=10)
    meter.observe(0, at=0)
    meter.observe(100, at=1)  # a fast start
    for second in range(2, 30):
        meter.observe(100 + (second - 1) * 10, at=second)  # then 10 bytes a second
    assert meter.rate() == pytest.approx(10)


def test_long_durations_read_in_minutes_and_hours() -> None:
    assert progress.duration(75) == "1m15s"
    assert progress.duration(3 * 3600 + 120) == "3h02m"


# the quota and retention


def test_a_run_that_would_go_past_the_quota_is_refused_with_what_is_left(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path / "d", quota=1000)
    (store.open_run("r1") / "a").write_bytes(b"x" * 600)
    store.check(400)
    with pytest.raises(QuotaExceeded) as refused:
        store.check(401)
    assert (refused.value.needed, refused.value.room) == (401, 400)


def test_a_runs_files_are_listed_without_following_symlinks(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path / "d", quota=10**6)
    run = store.open_run("r1")
    (run / "sub").mkdir()
    (run / "sub" / "b.log").write_bytes(b"bb")
    (run / "a.log").write_bytes(b"a")
    (tmp_path / "secret").write_text("not yours")
    (run / "escape").symlink_to(tmp_path / "secret")
    assert [(f.name, f.size) for f in store.files("r1")] == [("a.log", 1), ("sub/b.log", 2)]
    assert store.used("r1") == 3 + len(str(tmp_path / "secret"))  # the link itself, not its target


def test_stale_runs_are_those_untouched_past_the_retention(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path / "d", quota=10**6)
    old, new, running = store.open_run("old"), store.open_run("new"), store.open_run("running")
    day_ago = time.time() - 86400
    for path in (old, running):
        os.utime(path, (day_ago, day_ago))
    assert store.stale(3600, keep={"running"}) == ["old"]
    assert new.exists()


def test_a_run_id_is_never_a_path(tmp_path: Path) -> None:
    store = DownloadStore(tmp_path / "d", quota=10)
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            store.run_dir(bad)


def test_sha256_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256(tmp_path / "f") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# links


@pytest.fixture
def ledger(tmp_path: Path) -> LinkBook:
    ledger = LinkBook(tmp_path / "downloads.sqlite")
    ledger.started("r1", ALICE, "!room:example.org")
    return ledger


def test_a_link_admits_the_first_address_and_refuses_another(ledger: LinkBook) -> None:
    link = ledger.issue("r1", ALICE, lifetime=60, single_use=False)
    assert ledger.admit(link.token, "a.log", "10.0.0.1") == Admitted("r1", ALICE, False)
    assert ledger.admit(link.token, "a.log", "10.0.0.1") == Admitted("r1", ALICE, False)
    other = ledger.admit(link.token, "a.log", "10.0.0.2")
    assert isinstance(other, Denied) and other.status == 403
    assert "another address" in other.reason and ALICE in other.reason


def test_a_link_past_its_expiry_is_refused(ledger: LinkBook) -> None:
    link = ledger.issue("r1", ALICE, lifetime=60, single_use=False, now=1000)
    refused = ledger.admit(link.token, "a.log", "10.0.0.1", now=1060)
    assert isinstance(refused, Denied) and refused.status == 410 and "expired" in refused.reason


def test_a_single_use_link_is_spent_once_a_file_was_served_to_its_end(ledger: LinkBook) -> None:
    link = ledger.issue("r1", ALICE, lifetime=60, single_use=True)
    assert isinstance(ledger.admit(link.token, "a.log", "10.0.0.1"), Admitted)
    assert isinstance(ledger.admit(link.token, "a.log", "10.0.0.1"), Admitted)  # not spent yet
    ledger.spend(link.token, "a.log")
    again = ledger.admit(link.token, "a.log", "10.0.0.1")
    assert isinstance(again, Denied) and again.status == 410 and "used already" in again.reason
    assert isinstance(ledger.admit(link.token, "b.log", "10.0.0.1"), Admitted)  # the set's next


def test_an_unknown_token_is_not_found(ledger: LinkBook) -> None:
    ledger.issue("r1", ALICE, lifetime=60, single_use=True)
    refused = ledger.admit("guessed", "a.log", "10.0.0.1")
    assert isinstance(refused, Denied) and refused.status == 404


def test_the_ledger_keeps_no_token_only_its_hash(ledger: LinkBook, tmp_path: Path) -> None:
    link = ledger.issue("r1", ALICE, lifetime=60, single_use=True)
    ledger.close()
    assert link.token.encode() not in (tmp_path / "downloads.sqlite").read_bytes()


def test_runs_left_running_by_a_stop_are_interrupted_at_the_next_start(ledger: LinkBook) -> None:
    assert ledger.interrupt_all() == ["r1"]
    assert ledger.running() == []


def test_forgetting_a_run_removes_its_links(ledger: LinkBook) -> None:
    link = ledger.issue("r1", ALICE, lifetime=60, single_use=True)
    ledger.forget("r1")
    refused = ledger.admit(link.token, "a.log", "10.0.0.1")
    assert isinstance(refused, Denied) and refused.status == 404


# the host config


def test_the_downloads_section_is_read_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        '[paths]\nstate_dir = "/var/lib/opsbot"\nrepo = "/var/lib/opsbot/state.git"\n'
        '[downloads]\nquota_bytes = 2048\npublic_url = "https://ops.example.org/"\n'
    )
    loaded = config.load(path, sections()).section(DOWNLOADS)
    assert loaded.quota_bytes == 2048 and loaded.public_url == "https://ops.example.org"
    assert loaded.single_use and loaded.link_expiry_minutes == 60
    assert loaded.root(config.load(path, sections()).paths) == Path("/var/lib/opsbot/downloads")


def test_a_bad_downloads_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        '[paths]\nstate_dir = "/s"\nrepo = "/r"\n[downloads]\nquota_bytes = "lots"\n'
        "single_use = 1\n"
    )
    with pytest.raises(config.ConfigError) as problem:
        config.load(path, sections())
    assert "[downloads] quota_bytes: must be a whole number" in str(problem.value)
    assert "[downloads] single_use: must be true or false" in str(problem.value)
