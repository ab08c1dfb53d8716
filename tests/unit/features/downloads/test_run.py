"""A download run end to end on the host, with the runbook runner and a real program: its
progress read from its output, its file uploaded when it fits or offered as a link when it does
not, and each fault (a checksum mismatch, the quota, a failed program, a restart in the middle)
a clear reply with nothing left behind."""

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from bot.core.effects import Upload
from bot.features.downloads.host import Downloads
from bot.features.downloads.run import Delivery, DownloadRun
from bot.features.downloads.store import QuotaExceeded
from bot.features.runbooks.runner import Launch, RunResult, run
from tests.helpers.bot import ALICE, ROOM
from tests.helpers.downloads import downloads_at
from tests.helpers.page_cache import dirty_bytes

# A download program as an operator would write one: fetch, write into the run's directory,
# say how far it is. $1 is the size to write, $2 a checksum to report (or "").
PROGRAM = """#!/bin/sh
size=$1
echo "fetching $size bytes"
echo "progress 0 $size"
head -c "$size" /dev/zero | tr '\\0' 'x' > "$OPSBOT_DOWNLOAD_DIR/dump.bin" || exit 3
echo "progress $size $size"
[ -n "$2" ] && echo "sha256 $2 dump.bin"
echo done
"""


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    hooks = tmp_path / "hooks.d"
    hooks.mkdir()
    (hooks / "fetch-dump").write_text(PROGRAM)
    (hooks / "fetch-dump").chmod(0o755)
    return hooks


async def download(
    downloads: Downloads,
    hooks: Path,
    size: int,
    reported: str = "",
    declared: dict[str, str] | None = None,
    upload_limit: int | None = 10**6,
) -> tuple[DownloadRun, RunResult, Delivery]:
    run_id = f"r{os.urandom(4).hex()}"
    job = DownloadRun(downloads, run_id, ALICE, ROOM)
    env = job.begin()
    cancel = asyncio.Event()
    guard = asyncio.ensure_future(job.guard(cancel, every=0.05))
    launch = Launch("fetch-dump", [str(size), reported], env, 30, 4096, job.budget)
    result = await run(hooks, launch, on_output=job.feed, cancel=cancel)
    guard.cancel()
    delivered = job.deliver(
        result.status == "ok", declared or {}, upload_limit, "$ev", result.error
    )
    return job, result, delivered


async def test_progress_lines_are_read_and_kept_out_of_the_output(
    tmp_path: Path, hooks: Path
) -> None:
    job, result, _ = await download(downloads_at(tmp_path), hooks, 1000)
    assert job.progress_text().startswith("downloading: [####################] 100% 1000 B of")
    assert b"fetching 1000 bytes" in result.output


async def test_a_file_within_the_upload_limit_is_uploaded_in_reply(
    tmp_path: Path, hooks: Path
) -> None:
    _, _, delivered = await download(downloads_at(tmp_path), hooks, 5000, upload_limit=10_000)
    assert delivered.ok and delivered.text == "downloaded dump.bin (4.9 KiB), attached below"
    [upload] = delivered.effects
    assert isinstance(upload, Upload)
    assert (upload.room, upload.name, upload.in_reply_to) == (ROOM, "dump.bin", "$ev")
    assert Path(upload.path).read_bytes() == b"x" * 5000


async def test_a_file_over_the_upload_limit_is_offered_as_a_link_for_the_person(
    tmp_path: Path, hooks: Path
) -> None:
    downloads = downloads_at(tmp_path)
    job, _, delivered = await download(downloads, hooks, 50_000, upload_limit=10_000)
    assert delivered.ok and not delivered.effects
    assert "http://127.0.0.1:8088/downloads/" in delivered.text
    assert f"for {ALICE} only" in delivered.text and "one use" in delivered.text
    token = delivered.text.split("/downloads/")[1].split("/")[0]
    assert downloads.ledger.admit(token, "dump.bin", "10.0.0.1").run_id == job.run_id  # type: ignore[union-attr]


async def test_a_reported_checksum_that_does_not_match_fails_the_run(
    tmp_path: Path, hooks: Path
) -> None:
    downloads = downloads_at(tmp_path)
    job, _, delivered = await download(downloads, hooks, 1000, reported="0" * 64)
    assert not delivered.ok and delivered.error == "checksum"
    assert delivered.text.startswith("checksum mismatch, nothing delivered:\ndump.bin: sha256 ")
    assert not downloads.store.run_dir(job.run_id).exists()


async def test_a_declared_checksum_that_matches_lets_the_file_through(
    tmp_path: Path, hooks: Path
) -> None:
    digest = hashlib.sha256(b"x" * 1000).hexdigest()
    _, _, delivered = await download(
        downloads_at(tmp_path), hooks, 1000, declared={"dump.bin": digest}
    )
    assert delivered.ok


async def test_a_total_announced_past_the_quota_stops_the_run_at_once(
    tmp_path: Path, hooks: Path
) -> None:
    downloads = downloads_at(tmp_path, quota=100_000)
    _, result, delivered = await download(downloads, hooks, 5_000_000)
    assert result.status in ("cancelled", "failed")  # stopped, or the kernel refused first
    assert not delivered.ok and delivered.error == "quota"
    assert "only 97.7 KiB of the 97.7 KiB download quota is left" in delivered.text
    assert downloads.store.used() == 0


async def test_no_file_grows_past_what_the_quota_left(tmp_path: Path, hooks: Path) -> None:
    downloads = downloads_at(tmp_path, quota=100_000)
    (hooks / "sneaky").write_text(  # announces nothing, writes too much
        '#!/bin/sh\nhead -c 5000000 /dev/zero > "$OPSBOT_DOWNLOAD_DIR/big" || exit 7\n'
    )
    (hooks / "sneaky").chmod(0o755)
    job = DownloadRun(downloads, "r-sneaky", ALICE, ROOM)
    launch = Launch("sneaky", [], job.begin(), 30, 4096, job.budget)
    result = await run(hooks, launch, on_output=job.feed)
    assert result.exit_code == 7  # the kernel refused the write
    assert downloads.store.used() <= 100_000
    assert not job.deliver(False, {}, None, None, result.error).ok
    assert downloads.store.used() == 0


async def test_a_run_when_the_quota_is_used_up_does_not_start(tmp_path: Path) -> None:
    downloads = downloads_at(tmp_path, quota=10)
    (downloads.store.open_run("old") / "f").write_bytes(b"x" * 10)
    with pytest.raises(QuotaExceeded):
        DownloadRun(downloads, "r2", ALICE, ROOM).begin()


async def test_a_failed_program_delivers_nothing(tmp_path: Path, hooks: Path) -> None:
    (hooks / "broken").write_text('#!/bin/sh\necho partial > "$OPSBOT_DOWNLOAD_DIR/x"\nexit 2\n')
    (hooks / "broken").chmod(0o755)
    downloads = downloads_at(tmp_path)
    job = DownloadRun(downloads, "r-broken", ALICE, ROOM)
    result = await run(hooks, Launch("broken", [], job.begin(), 30, 4096), on_output=job.feed)
    delivered = job.deliver(result.status == "ok", {}, None, None, result.error)
    assert (delivered.ok, delivered.text) == (False, "the download failed (exited with 2)")
    assert not downloads.store.run_dir("r-broken").exists()


async def test_without_a_listener_a_set_of_files_says_why_it_cannot_be_delivered(
    tmp_path: Path,
) -> None:
    downloads = downloads_at(tmp_path, http=False)
    job = DownloadRun(downloads, "r-set", ALICE, ROOM)
    job.begin()
    for name in ("a", "b"):
        (downloads.store.run_dir("r-set") / name).write_text(name)
    delivered = job.deliver(True, {}, 10**6, None)
    assert not delivered.ok and "without an [http] listener" in delivered.text


def test_a_restart_in_the_middle_marks_the_download_interrupted_and_removes_it(
    tmp_path: Path,
) -> None:
    downloads = downloads_at(tmp_path)
    DownloadRun(downloads, "r-cut", ALICE, ROOM).begin()
    (downloads.store.run_dir("r-cut") / "half").write_bytes(b"x" * 100)
    downloads.close()  # the process stops here

    assert downloads_at(tmp_path).interrupted() == ["r-cut"]  # the next start
    again = downloads_at(tmp_path)
    assert not again.store.run_dir("r-cut").exists() and again.ledger.running() == []


async def test_a_file_is_written_back_to_the_disk_while_the_program_still_writes_it(
    tmp_path: Path, hooks: Path
) -> None:
    (hooks / "fetch-slowly").write_text(
        "#!/bin/sh\n"
        'head -c 12582912 /dev/urandom > "$OPSBOT_DOWNLOAD_DIR/big.bin"\n'
        'while [ ! -e "$OPSBOT_DOWNLOAD_DIR/../release" ]; do sleep 0.02; done\n'
    )
    (hooks / "fetch-slowly").chmod(0o755)
    downloads = downloads_at(tmp_path, quota=10**8)
    job = DownloadRun(downloads, "slow", ALICE, ROOM)
    env = job.begin()
    cancel = asyncio.Event()
    guard = asyncio.ensure_future(job.guard(cancel, every=0.05))
    launch = Launch("fetch-slowly", [], env, 30, 4096, job.budget)
    running = asyncio.ensure_future(run(hooks, launch, on_output=job.feed, cancel=cancel))
    big = Path(env["OPSBOT_DOWNLOAD_DIR"]) / "big.bin"
    dirty = None
    for _ in range(250):
        await asyncio.sleep(0.02)
        if big.exists() and big.stat().st_size == 12 * 1024 * 1024:
            dirty = dirty_bytes(big)
            if dirty == 0:
                break
    (Path(env["OPSBOT_DOWNLOAD_DIR"]).parent / "release").touch()
    result = await running
    guard.cancel()
    assert result.status == "ok"
    assert dirty == 0
