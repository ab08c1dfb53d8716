"""Running a runbook's program for real: real scripts in a temporary hooks directory."""

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from bot.features.runbooks.redact import Redactor
from bot.features.runbooks.runner import Launch, run


def hook(hooks: Path, name: str, body: str) -> None:
    path = hooks / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def alive(pid: int) -> bool:
    """Running, not gone nor a zombie waiting for a parent that was killed with it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    path = tmp_path / "hooks.d"
    path.mkdir()
    return path


def launch(
    program: str, *args: str, timeout: float = 10, keep: int = 1 << 20, **env: str
) -> Launch:
    return Launch(program, list(args), env, timeout, keep)


async def test_argv_reaches_the_program_as_words_never_through_a_shell(
    hooks: Path, tmp_path: Path
) -> None:
    hook(hooks, "echo-args", 'for a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    canary = tmp_path / "canary"
    result = await run(
        hooks, launch("echo-args", f"; touch {canary}", f"$(touch {canary})", "a\nb")
    )
    assert result.status == "ok"
    assert result.output.decode() == f"[; touch {canary}]\n[$(touch {canary})]\n[a\nb]\n"
    assert not canary.exists()


async def test_only_the_declared_environment_reaches_the_program(hooks: Path) -> None:
    hook(hooks, "env", "env | sort\n")
    os.environ["OPSBOT_LEAK_CHECK"] = "leaked"
    try:
        result = await run(hooks, launch("env", DB="orders"))
    finally:
        del os.environ["OPSBOT_LEAK_CHECK"]
    assert b"DB=orders" in result.output
    assert b"leaked" not in result.output


@pytest.mark.parametrize("name", ["../sh", "/bin/sh", "sub/x"])
async def test_a_program_outside_the_hooks_directory_is_refused(hooks: Path, name: str) -> None:
    result = await run(hooks, launch(name))
    assert result.status == "refused"
    assert "outside the hooks directory" in (result.error or "")


async def test_a_symlink_out_of_the_hooks_directory_is_refused(hooks: Path) -> None:
    (hooks / "shell").symlink_to("/bin/sh")
    result = await run(hooks, launch("shell", "-c", "echo hi"))
    assert result.status == "refused"
    assert result.error == "program 'shell': outside the hooks directory"


async def test_a_missing_program_is_refused(hooks: Path) -> None:
    result = await run(hooks, launch("nothing-here"))
    assert (result.status, result.error) == ("refused", "program 'nothing-here': missing")


async def test_a_hang_is_killed_with_its_whole_group_at_the_timeout(
    hooks: Path, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    hook(hooks, "hang", f"sleep 300 & echo $! > {pids}; sleep 300\n")
    started = time.monotonic()
    result = await run(hooks, launch("hang", timeout=0.5))
    assert result.status == "timed out"
    assert result.error == "timed out after 0.5s"
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.1)
    assert not alive(int(pids.read_text()))


async def test_a_cancel_stops_the_run(hooks: Path) -> None:
    hook(hooks, "hang", "echo started; sleep 300\n")
    cancel = asyncio.Event()
    running = asyncio.ensure_future(run(hooks, launch("hang"), cancel=cancel))
    await asyncio.sleep(0.3)
    cancel.set()
    result = await asyncio.wait_for(running, 5)
    assert (result.status, result.output) == ("cancelled", b"started\n")


async def test_a_non_zero_exit_is_a_failure_with_its_output(hooks: Path) -> None:
    hook(hooks, "fail", "echo boom >&2; exit 3\n")
    result = await run(hooks, launch("fail"))
    assert (result.status, result.exit_code, result.error) == ("failed", 3, "exited with 3")
    assert result.output == b"boom\n"


async def test_megabytes_of_output_are_counted_and_hashed_in_full_and_kept_to_the_limit(
    hooks: Path,
) -> None:
    hook(hooks, "flood", "head -c 8000000 /dev/zero | tr '\\0' 'x'\n")
    result = await run(hooks, launch("flood", keep=100_000))
    assert result.size == 8_000_000
    assert result.sha256 == hashlib.sha256(b"x" * 8_000_000).hexdigest()
    assert result.cut
    assert len(result.output) < 200_000
    assert b"bytes not kept" in result.output


async def test_binary_and_non_utf8_output_is_shown_as_text(hooks: Path) -> None:
    hook(hooks, "binary", "printf 'caf\\351 \\000\\001\\033[31m ok\\n'\n")
    result = await run(hooks, launch("binary"))
    assert Redactor([], []).text(result.output) == "caf\ufffd [31m ok\n"


def test_a_secret_and_the_declared_patterns_are_redacted() -> None:
    redact = Redactor([r"password=\S+"], ["s3cr3t-token"])
    text = redact.text(b"token s3cr3t-token used; password=hunter2 ok")
    assert text == "token [redacted] used; [redacted] ok"


@pytest.mark.parametrize("prefix", [b"", b"k", b"ke", b"key=", b"Authorization: Basic "])
def test_a_secret_printed_base64_encoded_is_redacted_at_any_alignment(prefix: bytes) -> None:
    secret = "s3cr3t-token/with+symbols"
    redact = Redactor([], [secret])
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        printed = encode(prefix + secret.encode() + b" and more after it").decode()
        shown = redact(f"got {printed} back")
        assert "[redacted]" in shown
        # What is left of the encoding, read at any alignment, does not give the secret back.
        for piece in re.split(r"\s|\[redacted\]", shown):
            assert secret[2:-2] not in _decoded(piece)
    assert redact(base64.b64encode(secret.encode()).decode()) == "[redacted]"


def test_a_secret_printed_url_encoded_is_redacted() -> None:
    secret = "p@ss word/with&more"
    redact = Redactor([], [secret])
    for printed in (
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret, safe="").lower(),
    ):
        assert redact(f"GET /login?password={printed}&next=/") == (
            "GET /login?password=[redacted]&next=/"
        )


def _decoded(piece: str) -> str:
    """`piece` as base64 (either alphabet) from each of its first four characters."""
    read = []
    for skip in range(4):
        chars = piece[skip:]
        chars = chars[: len(chars) - len(chars) % 4]
        for altchars in (None, b"-_"):
            with contextlib.suppress(ValueError):
                read.append(base64.b64decode(chars, altchars).decode(errors="replace"))
    return " ".join(read)


async def test_a_secret_cut_in_two_where_a_long_output_was_cut_is_redacted_on_both_sides(
    hooks: Path,
) -> None:
    secret = "s3cr3t-token-0123456789"
    # Of 1024 bytes kept at the head and the 64 KiB tail, one secret straddles the end of the
    # head, another the start of the tail.
    fill = "head -c {} /dev/zero | tr '\\0' {}"
    script = f"printf '%1014s' ''; printf '{secret}'; {fill.format(100000, 'x')}; "
    hook(hooks, "straddle", script + f"printf '{secret}'; {fill.format(65518, 'y')}\n")
    result = await run(hooks, launch("straddle", keep=1024))
    assert result.cut
    shown = Redactor([], [secret]).text(result.output)
    head, _, tail = shown.partition("\n[… ")
    assert head == " " * 1014 + "[redacted]"
    assert tail.split("\n", 1)[1] == "[redacted]" + "y" * 65518


def test_a_window_that_lost_its_start_does_not_show_the_end_of_a_secret() -> None:
    redact = Redactor([], ["s3cr3t-token-0123456789"])
    assert redact.text(b"23456789 and on", cut_before=True) == "[redacted] and on"
    assert redact.text(b"23456789 and on") == "23456789 and on"
