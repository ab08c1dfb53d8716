"""Write-behind: what a download program wrote goes to the disk as it arrives, in whole chunks,
so the page cache never holds more than a chunk of it dirty. Observed through the kernel's own
count of a file's dirty pages."""

import os
from pathlib import Path

from bot.features.downloads.writeback import WriteBehind
from tests.helpers.page_cache import dirty_bytes

MIB = 1024 * 1024


def write(path: Path, mib: int, mode: str = "ab") -> None:
    with path.open(mode) as f:
        f.write(os.urandom(mib * MIB))


def test_whole_chunks_of_a_growing_file_are_written_back(tmp_path: Path) -> None:
    growing = tmp_path / "artifact.bin"
    write(growing, 12)
    assert dirty_bytes(growing) >= 8 * MIB
    behind = WriteBehind(chunk=4 * MIB)
    assert behind.advance(growing) == 12 * MIB
    assert dirty_bytes(growing) == 0


def test_the_last_partial_chunk_is_left_while_the_file_may_still_grow(tmp_path: Path) -> None:
    growing = tmp_path / "artifact.bin"
    write(growing, 5)
    behind = WriteBehind(chunk=4 * MIB)
    assert behind.advance(growing) == 4 * MIB
    write(growing, 3)
    assert behind.advance(growing) == 8 * MIB
    assert dirty_bytes(growing) == 0


def test_a_file_put_in_the_place_of_another_is_written_back_from_its_start(
    tmp_path: Path,
) -> None:
    growing = tmp_path / "artifact.bin"
    write(growing, 8)
    behind = WriteBehind(chunk=4 * MIB)
    assert behind.advance(growing) == 8 * MIB
    replacement = tmp_path / "replacement.bin"
    write(replacement, 4)
    replacement.replace(growing)
    assert behind.advance(growing) == 4 * MIB
    assert dirty_bytes(growing) == 0


def test_a_sweep_says_whether_a_file_was_a_chunk_behind(tmp_path: Path) -> None:
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    write(first, 4)
    write(second, 1)
    behind = WriteBehind(chunk=4 * MIB)
    assert behind.sweep([first, second]) is True
    assert behind.sweep([first, second]) is False


def test_a_file_removed_before_its_sweep_is_passed_over(tmp_path: Path) -> None:
    kept, removed = tmp_path / "kept.bin", tmp_path / "removed.bin"
    write(kept, 4)
    behind = WriteBehind(chunk=4 * MIB)
    assert behind.sweep([removed, kept]) is True
    assert dirty_bytes(kept) == 0


def test_after_close_nothing_is_held_open_or_written_back(tmp_path: Path) -> None:
    growing = tmp_path / "artifact.bin"
    write(growing, 4)
    behind = WriteBehind(chunk=4 * MIB)
    behind.advance(growing)
    behind.close()
    write(growing, 4)
    assert behind.advance(growing) == 0
    assert dirty_bytes(growing) >= 4 * MIB
