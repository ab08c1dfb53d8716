"""The order in which a commit reaches the disk, watched at the system calls: every object the
commit wrote, and the directory entry naming it, is durable before the ref moves; the ref's
rename is durable before the command is answered; and nothing but what the transaction wrote
is waited for (no `syncfs`, which waited for every other writer on the filesystem)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state import durable
from tests.helpers.bot import Bot
from tests.helpers.git import git

Event = tuple[str, str]  # (what happened, to which path)


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Event]]:
    """What the state layer makes durable and renames, in order, by path."""
    events: list[Event] = []

    def path_of(fd: int) -> str:
        return os.readlink(f"/proc/self/fd/{fd}")

    real_fsync, realdatasync, real_replace = os.fsync, durable.datasync, os.replace

    def fsync(fd: int) -> None:
        events.append(("sync", path_of(fd)))
        real_fsync(fd)

    def datasync(fd: int) -> None:
        events.append(("sync", path_of(fd)))
        realdatasync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        events.append(("rename", os.path.realpath(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(durable, "datasync", datasync)
    monkeypatch.setattr(os, "replace", replace)
    yield events


def loose_objects(repo: Path) -> set[str]:
    return {str(p.resolve()) for p in (repo / "objects").glob("[0-9a-f][0-9a-f]/*")}


def synced_before(events: list[Event], path: str, moment: int) -> bool:
    return ("sync", path) in events[:moment]


def deploy(bot: Bot, syscalls: list[Event]) -> tuple[set[str], int, str]:
    """One `!deploy`: the object files it wrote, the index of main's rename among the events,
    and main's path."""
    bot.say("!deploy web 1.0.0 to dev")  # the environment's folder exists from here on
    git(bot.repo, "pack-refs", "--all")  # main is a loose ref again only by the next move
    before = loose_objects(bot.repo)
    syscalls.clear()
    assert bot.say("!deploy web 1.0.1 to dev").ok
    main = str((bot.repo / "refs" / "heads" / "main").resolve())
    return loose_objects(bot.repo) - before, syscalls.index(("rename", main)), main


def test_each_object_a_commit_wrote_is_durable_before_main_moves(
    bot: Bot, syscalls: list[Event]
) -> None:
    written, moved, _ = deploy(bot, syscalls)
    assert len(written) == 5  # the blob, three trees, the commit
    for path in written:
        assert synced_before(syscalls, path, moved), path
        assert synced_before(syscalls, os.path.dirname(path), moved), os.path.dirname(path)


def test_main_s_rename_is_durable_before_the_answer(bot: Bot, syscalls: list[Event]) -> None:
    _, moved, main = deploy(bot, syscalls)
    assert ("sync", os.path.dirname(main)) in syscalls[moved:]
    assert git(bot.repo, "rev-parse", "main").strip() == bot.head()


def test_the_ref_file_s_content_is_durable_before_its_rename(
    bot: Bot, syscalls: list[Event]
) -> None:
    _, moved, main = deploy(bot, syscalls)
    assert synced_before(syscalls, main + ".lock", moved)


def test_a_commit_waits_only_for_what_it_wrote(bot: Bot, syscalls: list[Event]) -> None:
    state_dir = str(bot.repo.parent.resolve())
    deploy(bot, syscalls)
    synced = {path for what, path in syscalls if what == "sync"}
    assert synced and all(path.startswith(state_dir) for path in synced), synced
    assert not hasattr(durable, "flush")


def test_a_new_fan_out_folder_is_durable_in_objects_before_main_moves(
    bot: Bot, syscalls: list[Event]
) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    git(bot.repo, "gc", "--quiet", "--prune=now")  # every object packed, no fan-out folder left
    assert not loose_objects(bot.repo)
    syscalls.clear()
    assert bot.say("!deploy web 1.0.1 to dev").ok
    moved = syscalls.index(("rename", str((bot.repo / "refs/heads/main").resolve())))
    assert synced_before(syscalls, str((bot.repo / "objects").resolve()), moved)
