"""Running one host hook: the boundary between what the repo says and what the host executes.

The repo only *names* a hook. The host decides which hooks exist: executables directly in a
directory that only root can write. So a name is refused unless it resolves, symlinks followed,
to a file inside that directory, and the hook runs with an argv list (never a shell), no stdin, a
clean environment and its own process group, which is killed whole when it overruns.

A hook never makes the caller raise: whatever goes wrong comes back as a failed `HookResult` whose
`error` says why in a few words, because the reconciler records it and moves on to other apps.
"""

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from bot.core.logs import fact
from bot.core.processes import kill_group, signal_name
from bot.state.outcome import HookResult

log = logging.getLogger("opsbot.reconcile")

BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
ENV_PREFIX = "OPSBOT_"
DRAIN = 0.2
"""Seconds to keep reading output after the hook exits. A child it left behind (a daemon it
started) may hold the pipe open forever; its output is not the hook's, so we stop listening."""


def hook_args(*positional: str) -> list[str]:
    """A hook's argv after its name: `--`, then the positional arguments.

    Names and versions are validated when read from the repo (none starts with `-`); the `--`
    is the second wall, so that a hook's option parser (getopt, argparse) never reads one as an
    option, whatever reaches it.
    """
    return ["--", *positional]


def resolve_hook(hooks_dir: Path, name: str) -> tuple[Path | None, str | None]:
    """The file to execute for hook `name`, or None and the reason it is refused."""
    if not name or "/" in name or ".." in name or "\0" in name:
        return None, "outside the hooks directory"
    try:
        root = hooks_dir.resolve(strict=True)
        path = (root / name).resolve(strict=False)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None, "missing"
    if path.parent != root:  # directly in it: a link into a subfolder is refused too
        return None, "outside the hooks directory"
    if not path.exists():
        return None, "missing"
    if not path.is_file():
        return None, "not a file"
    if not os.access(path, os.X_OK):
        return None, "not executable"
    return path, None


async def run_hook(
    hooks_dir: Path,
    name: str,
    args: list[str],
    *,
    timeout: float,
    tail_bytes: int = 4096,
    env: Mapping[str, str] | None = None,
) -> HookResult:
    """Runs hook `name` from `hooks_dir` with `args`; `env` adds OPSBOT_* variables only.

    Cancelling the call kills the hook's process group, so no hook outlives the one who asked.
    """
    started = time.monotonic()

    ended: float | None = None

    def failed(error: str, exit_code: int | None = None, output: str = "") -> HookResult:
        duration = (ended or time.monotonic()) - started
        return HookResult(name, False, exit_code, duration, output, error)

    path, refusal = resolve_hook(hooks_dir, name)
    if path is None:
        assert refusal is not None
        fact(log, "hook refused", logging.WARNING, hook=name, reason=refusal)
        return failed(refusal)

    extra = {k: v for k, v in (env or {}).items() if k.startswith(ENV_PREFIX)}
    tail = _Tail(tail_bytes)
    read_fd, write_fd = os.pipe()
    try:
        # The resolved path, not the name: what we checked is what runs.
        proc = await asyncio.create_subprocess_exec(
            str(path),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            env={**BASE_ENV, **extra},
            cwd="/",
            start_new_session=True,
        )
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in an argument
        os.close(read_fd)
        return failed(f"could not start: {getattr(e, 'strerror', None) or e}")
    finally:
        # Only the hook holds the write end now, so end of file means it (and its group) let go.
        os.close(write_fd)

    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    timed_out = False
    try:
        transport, _ = await loop.connect_read_pipe(lambda: tail, os.fdopen(read_fd, "rb", 0))
        try:
            async with asyncio.timeout(timeout):
                exit_code = await proc.wait()
        except TimeoutError:
            timed_out = True
            kill_group(proc.pid)
            exit_code = await proc.wait()
        ended = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN):
                await tail.closed
    except BaseException:
        if proc.returncode is None:  # once it has exited, what it left running is not ours
            kill_group(proc.pid)
            # Reaped here, not left to the garbage collector; after SIGKILL this is immediate.
            await asyncio.shield(proc.wait())
        raise
    finally:
        if transport is not None:
            transport.close()

    output = tail.text()
    if timed_out:
        return failed(f"timed out after {timeout:g}s", None, output)
    if exit_code < 0:
        return failed(f"killed by {signal_name(-exit_code)}", exit_code, output)
    if exit_code != 0:
        return failed(f"exited with {exit_code}", exit_code, output)
    return HookResult(name, True, 0, ended - started, output, None)


class _Tail(asyncio.Protocol):
    """Keeps the last `limit` bytes of a pipe; a hook printing gigabytes costs `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.cut = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > self.limit:
            del self.buffer[: len(self.buffer) - self.limit]
            self.cut = True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def text(self) -> str:
        data = bytes(self.buffer)
        if self.cut:
            # The cut may fall inside a UTF-8 character: drop its orphaned continuation bytes.
            data = data.lstrip(bytes(range(0x80, 0xC0)))
        return data.decode("utf-8", errors="replace")
