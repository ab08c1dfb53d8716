"""Checksums taken while a download arrives: a file whose sha256 is expected is read as it
grows, so when the program exits only its last bytes are left to read before it is handed
over; what is checked is still the whole file, byte for byte."""

import asyncio
import hashlib
import os
from pathlib import Path

from bot.features.downloads.digests import Digests
from bot.features.downloads.run import DownloadRun
from bot.features.runbooks.runner import Launch, run
from tests.helpers.bot import ALICE, ROOM
from tests.helpers.downloads import downloads_at

HALF = 3 * 1024 * 1024
# Writes half the file, waits while the bot looks, then the rest; reports its checksum first.
PROGRAM = f"""#!/bin/sh
echo "sha256 $1 dump.bin"
echo "progress 0 {2 * HALF}"
head -c {HALF} /dev/zero > "$OPSBOT_DOWNLOAD_DIR/dump.bin"
sleep 0.6
head -c {HALF} /dev/zero >> "$OPSBOT_DOWNLOAD_DIR/dump.bin"
echo "progress {2 * HALF} {2 * HALF}"
"""
ZEROS = hashlib.sha256(bytes(2 * HALF)).hexdigest()


def test_a_file_read_as_it_grows_has_the_checksum_of_the_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    digests = Digests()
    written = b""
    for part in (b"a" * 10, os.urandom(5 * 1024 * 1024), b"", b"end"):
        with path.open("ab") as f:
            f.write(part)
        written += part
        assert digests.advance(path) == len(written)
    assert digests.of(path) == hashlib.sha256(written).hexdigest()


def test_a_file_written_again_from_its_start_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "f"
    digests = Digests()
    path.write_bytes(b"first attempt, cut")
    digests.advance(path)
    path.write_bytes(b"second")  # truncated and written anew
    assert digests.of(path) == hashlib.sha256(b"second").hexdigest()


def test_a_file_put_in_the_place_of_one_being_read_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "f"
    digests = Digests()
    path.write_bytes(b"the first file")
    digests.advance(path)
    path.unlink()
    path.write_bytes(b"another file of the same name, longer than the first")
    assert digests.of(path) == hashlib.sha256(path.read_bytes()).hexdigest()


class Looked(Digests):
    """Says how much of each file had been read when the end asked for its checksum."""

    def __init__(self) -> None:
        super().__init__()
        self.read_before_the_end: dict[str, int] = {}

    def of(self, path: Path) -> str:
        self.read_before_the_end[path.name] = self.read(path)
        return super().of(path)


async def checked_download(tmp_path: Path, reported: str) -> tuple[DownloadRun, bool, Looked]:
    hooks = tmp_path / "hooks.d"
    hooks.mkdir()
    (hooks / "halves").write_text(PROGRAM)
    (hooks / "halves").chmod(0o755)
    job = DownloadRun(downloads_at(tmp_path), "r1", ALICE, ROOM)
    looked = job.digests = Looked()
    env = job.begin()
    cancel = asyncio.Event()
    guard = asyncio.ensure_future(job.guard(cancel, every=0.05))
    result = await run(
        hooks,
        Launch("halves", [reported], env, 30, 4096, job.budget),
        on_output=job.feed,
        cancel=cancel,
    )
    guard.cancel()
    delivered = job.deliver(result.status == "ok", {}, 10**9, "$ev", result.error)
    return job, delivered.ok, looked


async def test_a_checksum_reported_first_is_checked_while_the_file_arrives(
    tmp_path: Path,
) -> None:
    _, ok, looked = await checked_download(tmp_path, ZEROS)
    assert ok
    assert looked.read_before_the_end["dump.bin"] >= HALF  # the end read only the rest


async def test_a_file_checked_while_it_arrives_still_fails_a_wrong_checksum(
    tmp_path: Path,
) -> None:
    job, ok, _ = await checked_download(tmp_path, "0" * 64)
    assert not ok
    assert job.downloads.store.files("r1") == []  # removed, never delivered
