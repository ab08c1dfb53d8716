"""Running a host hook: real scripts in a temporary hooks directory, run for real."""

import asyncio
import os
import time
from pathlib import Path

import pytest

from bot.reconcile.hooks import run_hook
from tests.helpers.hooks import alive, gone, write_hook


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    directory = tmp_path / "hooks"
    directory.mkdir()
    return directory


async def test_a_hook_gets_its_arguments_as_argv_not_through_a_shell(
    hooks: Path, tmp_path: Path
) -> None:
    write_hook(hooks, "show", 'for a in "$@"; do echo "[$a]"; done\n')
    pwned = tmp_path / "pwned"
    result = await run_hook(hooks, "show", [f"$(touch {pwned})", "a b", "; id"], timeout=5)
    assert result.ok and result.exit_code == 0 and result.error is None
    assert result.output_tail == f"[$(touch {pwned})]\n[a b]\n[; id]\n"
    assert not pwned.exists()


async def test_a_hook_sees_a_clean_environment_with_only_opsbot_variables(
    hooks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOT_TOKEN_FILE", "/run/secret")  # the bot's own environment
    monkeypatch.setenv("SECRET", "hunter2")
    write_hook(hooks, "env", "/usr/bin/env\n")
    extra = {"OPSBOT_APP": "web", "PATH": "/tmp/evil", "LD_PRELOAD": "/tmp/evil.so"}
    result = await run_hook(hooks, "env", [], timeout=5, env=extra)
    seen = dict(line.split("=", 1) for line in result.output_tail.splitlines())
    seen.pop("PWD", None)  # the shell sets it itself
    assert seen == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPSBOT_APP": "web"}


async def test_a_hook_reading_stdin_reads_nothing(hooks: Path) -> None:
    write_hook(hooks, "reader", "cat\necho done\n")
    result = await run_hook(hooks, "reader", [], timeout=2)
    assert result.ok and result.output_tail == "done\n"


async def test_a_hook_runs_in_the_root_directory(hooks: Path) -> None:
    write_hook(hooks, "where", "pwd\n")
    assert (await run_hook(hooks, "where", [], timeout=5)).output_tail == "/\n"


async def test_a_failing_hook_reports_its_exit_code_and_output(hooks: Path) -> None:
    write_hook(hooks, "fail", "echo to stdout\necho to stderr >&2\nexit 3\n")
    result = await run_hook(hooks, "fail", [], timeout=5)
    assert not result.ok
    assert result.exit_code == 3
    assert result.error == "exited with 3"
    assert result.output_tail == "to stdout\nto stderr\n"


async def test_a_hook_killed_by_a_signal_says_which(hooks: Path) -> None:
    write_hook(hooks, "suicide", "kill -TERM $$\n")
    result = await run_hook(hooks, "suicide", [], timeout=5)
    assert (result.ok, result.exit_code, result.error) == (False, -15, "killed by SIGTERM")


async def test_a_hook_that_hangs_is_killed_at_the_timeout_with_its_children(
    hooks: Path, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    write_hook(hooks, "hang", f"sleep 60 &\necho $! > {pids}\necho waiting\nsleep 60\n")
    started = time.monotonic()
    result = await run_hook(hooks, "hang", [], timeout=0.5)
    assert time.monotonic() - started < 2
    assert (result.ok, result.exit_code, result.error) == (False, None, "timed out after 0.5s")
    assert result.output_tail == "waiting\n"
    assert await gone(int(pids.read_text()))


async def test_cancelling_a_run_kills_the_hook(hooks: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    write_hook(hooks, "hang", f"echo $$ > {pids}\nsleep 60\n")
    task = asyncio.create_task(run_hook(hooks, "hang", [], timeout=60))
    while not pids.exists() or not pids.read_text().strip():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(int(pids.read_text()))


async def test_a_hook_printing_ten_megabytes_keeps_only_the_tail(hooks: Path) -> None:
    write_hook(hooks, "chatty", "head -c 10000000 /dev/zero | tr '\\0' x\necho\necho THE END\n")
    result = await run_hook(hooks, "chatty", [], timeout=10)
    assert result.ok
    assert len(result.output_tail) == 4096
    assert result.output_tail.endswith("x\nTHE END\n")
    small = await run_hook(hooks, "chatty", [], timeout=10, tail_bytes=100)
    assert small.output_tail == "x" * 91 + "\nTHE END\n"  # 100 bytes


async def test_a_cut_through_a_utf8_character_does_not_garble_the_tail(hooks: Path) -> None:
    write_hook(hooks, "accents", "printf 'ééééé'\n")  # two bytes each
    result = await run_hook(hooks, "accents", [], timeout=5, tail_bytes=5)
    assert result.output_tail == "éé"


async def test_a_child_left_running_does_not_hold_the_hook_open(
    hooks: Path, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    # A daemon started by a deploy hook keeps the output pipe open after the hook exits.
    write_hook(hooks, "daemon", f"sleep 60 &\necho $! > {pids}\necho started\n")
    started = time.monotonic()
    result = await run_hook(hooks, "daemon", [], timeout=30)
    try:
        assert time.monotonic() - started < 2
        assert result.ok and result.output_tail == "started\n"
        assert alive(int(pids.read_text()))  # a successful hook's children are left alone
    finally:
        os.kill(int(pids.read_text()), 9)


async def test_a_missing_hook_is_refused(hooks: Path) -> None:
    result = await run_hook(hooks, "nope", [], timeout=5)
    assert (result.ok, result.exit_code, result.error) == (False, None, "missing")


async def test_a_hooks_directory_that_does_not_exist_means_every_hook_is_missing(
    tmp_path: Path,
) -> None:
    result = await run_hook(tmp_path / "absent", "deploy", [], timeout=5)
    assert result.error == "missing"


async def test_a_hook_that_is_not_executable_is_refused(hooks: Path) -> None:
    write_hook(hooks, "plain", "echo ran\n", mode=0o644)
    result = await run_hook(hooks, "plain", [], timeout=5)
    assert (result.ok, result.error, result.output_tail) == (False, "not executable", "")


async def test_a_directory_is_not_a_hook(hooks: Path) -> None:
    (hooks / "sub").mkdir()
    assert (await run_hook(hooks, "sub", [], timeout=5)).error == "not a file"


@pytest.mark.parametrize("name", ["../escape", "..", ".", "", "sub/escape", "/bin/true", "a..b"])
async def test_a_name_that_leaves_the_hooks_directory_is_refused(
    hooks: Path, tmp_path: Path, name: str
) -> None:
    marker = tmp_path / "ran"
    write_hook(tmp_path, "escape", f"touch {marker}\n")
    write_hook(hooks / "sub", "escape", f"touch {marker}\n")
    result = await run_hook(hooks, name, [], timeout=5)
    assert (result.ok, result.error) == (False, "outside the hooks directory")
    assert not marker.exists()


async def test_a_symlink_pointing_outside_the_hooks_directory_is_refused(
    hooks: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    outside = write_hook(tmp_path, "outside", f"touch {marker}\n")
    (hooks / "deploy").symlink_to(outside)
    result = await run_hook(hooks, "deploy", [], timeout=5)
    assert (result.ok, result.error) == (False, "outside the hooks directory")
    assert not marker.exists()


async def test_a_symlink_to_another_hook_in_the_directory_runs_it(hooks: Path) -> None:
    write_hook(hooks, "deploy-generic", 'echo "generic $1"\n')
    (hooks / "deploy-web").symlink_to("deploy-generic")
    result = await run_hook(hooks, "deploy-web", ["web"], timeout=5)
    assert result.ok and result.output_tail == "generic web\n"


async def test_a_script_the_kernel_cannot_execute_is_a_failure_not_an_exception(
    hooks: Path,
) -> None:
    (hooks / "garbage").write_bytes(b"\x7fELF nonsense")
    (hooks / "garbage").chmod(0o755)
    result = await run_hook(hooks, "garbage", [], timeout=5)
    assert not result.ok and result.error is not None
    assert result.error.startswith("could not start")
