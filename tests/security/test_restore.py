"""`opsbot restore` of an altered backup: every path the backup names is checked, and the whole
backup refused before anything is written, when one would lead outside the state directory."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from bot import cli
from bot.config import HostPaths
from tests.helpers.bot import Bot


def backup(bot: Bot, to: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert cli.main(["backup", "--repo", str(bot.repo), "--to", str(to)]) == 0
    capsys.readouterr()
    return to


def clone(bot: Bot, repo: Path, state_dir: Path | None = None) -> HostPaths:
    repo.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(bot.repo), str(repo)], check=True)
    return HostPaths.beside(repo, state_dir)


def restore(paths: HostPaths, source: Path, *extra: str) -> int:
    return cli.main(
        [
            "restore",
            "--repo",
            str(paths.repo),
            "--state-dir",
            str(paths.state_dir),
            "--from",
            str(source),
            *extra,
        ]
    )


def add_entry(source: Path, name: str, data: bytes, stored_at: Path | None = None) -> None:
    """What someone holding the backup can do: add a file and its line to the manifest."""
    stored = stored_at or source / name
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(data)
    manifest = source / "manifest.json"
    content = json.loads(manifest.read_text())
    content["files"].append(
        {
            "path": name,
            "to": "state",
            "size": len(data),
            "mode": 0o600,
            "sqlite": False,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    )
    manifest.write_text(json.dumps(content))


def written(paths: HostPaths) -> list[str]:
    if not paths.state_dir.exists():
        return []
    return sorted(
        str(p.relative_to(paths.state_dir))
        for p in paths.state_dir.rglob("*")
        if p.is_file() and not p.is_relative_to(paths.repo)
    )


def test_a_manifest_path_with_a_double_slash_writes_nothing_outside_the_state_dir(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = backup(bot, tmp_path / "backup", capsys)
    victim = tmp_path / "home/.ssh/authorized_keys"
    # "state/" then an absolute path: "state//tmp/.../authorized_keys", read from the backup's
    # state/tmp/..., was written to /tmp/.../authorized_keys.
    name = f"state/{victim}"
    stored_at = source / "state" / str(victim).lstrip("/")
    add_entry(source, name, b"ssh-ed25519 AAAA mallory\n", stored_at=stored_at)
    b = clone(bot, tmp_path / "b/state")
    assert restore(b, source) == 2
    err = capsys.readouterr().err
    assert "which restore refuses" in err and "nothing was restored" in err
    assert not victim.exists()
    assert written(b) == []


def test_a_symlink_in_the_backup_is_not_followed_to_a_file_outside_it(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = backup(bot, tmp_path / "backup", capsys)
    secret = tmp_path / "elsewhere/secret"
    secret.parent.mkdir()
    secret.write_bytes(b"a file the restoring user may read\n")
    add_entry(source, "state/notes", secret.read_bytes())
    (source / "state/notes").unlink()
    (source / "state/notes").symlink_to(secret)
    b = clone(bot, tmp_path / "b/state")
    assert restore(b, source) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert written(b) == []


def test_a_symlinked_directory_in_the_state_dir_is_not_written_through(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = backup(bot, tmp_path / "backup", capsys)
    add_entry(source, "state/store/cron", b"* * * * * mallory\n")
    b = clone(bot, tmp_path / "b/state")
    outside = tmp_path / "etc"
    outside.mkdir()
    b.state_dir.mkdir()
    (b.state_dir / "store").symlink_to(outside)
    assert restore(b, source, "--force") == 2
    assert "is in the way: not a directory" in capsys.readouterr().err
    assert list(outside.iterdir()) == []
    assert not b.signing_key.exists()


def test_a_backup_cannot_write_into_a_state_repo_inside_the_state_dir(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = backup(bot, tmp_path / "backup", capsys)
    add_entry(source, "state/state.git/hooks/post-update", b"#!/bin/sh\ntouch /tmp/owned\n")
    b = clone(bot, tmp_path / "b/var/state.git", state_dir=tmp_path / "b/var")
    assert restore(b, source) == 2
    assert "inside the state repo" in capsys.readouterr().err
    assert not (b.repo / "hooks/post-update").exists()
    assert written(b) == []


def test_a_manifest_entry_that_is_not_a_file_is_refused_with_a_message(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = backup(bot, tmp_path / "backup", capsys)
    manifest = source / "manifest.json"
    content = json.loads(manifest.read_text())
    content["files"].append({**content["files"][0], "path": ["state", "x"]})
    manifest.write_text(json.dumps(content))
    b = clone(bot, tmp_path / "b/state")
    assert restore(b, source) == 2
    assert "has an entry that is not a file's" in capsys.readouterr().err
    assert written(b) == []


def test_a_fifo_named_by_the_backup_is_refused_without_waiting_on_it(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = backup(bot, tmp_path / "backup", capsys)
    add_entry(source, "state/pipe", b"")
    (source / "state/pipe").unlink()
    os.mkfifo(source / "state/pipe")
    b = clone(bot, tmp_path / "b/state")
    assert restore(b, source) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert written(b) == []
