"""Running a runbook's program on the host: the boundary between what the repo declares and
what the host executes.

The program is a name resolved inside the hooks directory (`resolve_hook`: no `/`, no `..`, a
symlink must land directly in it), started with an argv list (never a shell), no stdin, only
the environment the runbook declares under the host's own (environ.py: nothing that steers how
programs load gets through, whoever asked), `/` as its directory and its own process group,
which is killed whole on a timeout or a cancel. Its output (stdout and stderr, interleaved) is
counted and hashed in full, kept up to a limit (the head, then the tail), and handed as it comes
to whoever streams it. A declared tunnel is started first, waited for, and killed after.

Nothing here raises for what the program does: every outcome is a `RunResult`.
"""

import asyncio
import contextlib
import hashlib
import os
import resource
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.processes import kill_group, signal_name
from bot.features.runbooks.environ import for_program
from bot.features.runbooks.redact import cut_marker
from bot.reconcile.hooks import resolve_hook

TAIL_BYTES = 64 * 1024  # of a cut output, the end is kept too: where the error usually is
DRAIN = 0.2  # seconds to read on after the exit (a daemon it left may hold the pipe forever)


@dataclass(frozen=True)
class Launch:
    program: str
    args: Sequence[str]
    env: Mapping[str, str]
    timeout: float
    keep: int  # bytes of output kept (the full output is still counted and hashed)
    max_file_bytes: int | None = None  # a download's quota left: no file it writes grows past


@dataclass(frozen=True)
class TunnelLaunch:
    program: str
    args: Sequence[str]
    port: int
    wait: float


@dataclass(frozen=True)
class RunResult:
    status: str  # ok, failed, timed out, cancelled, refused
    exit_code: int | None
    duration: float
    output: bytes  # what was kept: all of it, or its head and its tail
    size: int  # bytes written in all
    sha256: str  # of all of it
    error: str | None  # why it failed, in a few words

    @property
    def cut(self) -> bool:
        return self.size > len(self.output)


class _Output(asyncio.Protocol):
    """Counts, hashes and keeps the head and tail of a pipe; tells `on_data` as it comes."""

    def __init__(self, keep: int, on_data: Callable[[bytes], None]) -> None:
        self.keep = keep
        self.on_data = on_data
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0
        self.hash = hashlib.sha256()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.size += len(data)
        self.hash.update(data)
        self.on_data(data)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > TAIL_BYTES:
                del self.tail[: len(self.tail) - TAIL_BYTES]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def kept(self) -> bytes:
        if not self.tail:
            return bytes(self.head)
        skipped = self.size - len(self.head) - len(self.tail)
        marker = cut_marker(skipped) if skipped > 0 else b""
        return bytes(self.head) + marker + bytes(self.tail)


async def run(
    hooks_dir: Path,
    launch: Launch,
    *,
    tunnel: TunnelLaunch | None = None,
    on_output: Callable[[bytes], None] = lambda _data: None,
    cancel: asyncio.Event | None = None,
) -> RunResult:
    """Runs `launch` from `hooks_dir` (behind `tunnel` if given) until it exits, times out or
    `cancel` is set. Cancelling the call kills the process group too."""
    started = time.monotonic()
    cancel = cancel or asyncio.Event()

    def refused(error: str) -> RunResult:
        empty = hashlib.sha256().hexdigest()
        return RunResult("refused", None, time.monotonic() - started, b"", 0, empty, error)

    path, why = resolve_hook(hooks_dir, launch.program)
    if path is None:
        return refused(f"program {launch.program!r}: {why}")
    tunnel_proc: asyncio.subprocess.Process | None = None
    if tunnel is not None:
        tunnel_path, why = resolve_hook(hooks_dir, tunnel.program)
        if tunnel_path is None:
            return refused(f"tunnel {tunnel.program!r}: {why}")
        try:
            tunnel_proc = await _start(tunnel_path, tunnel.args, launch.env, None)
        except (OSError, ValueError) as e:
            return refused(f"tunnel could not start: {getattr(e, 'strerror', None) or e}")
    try:
        opened = tunnel is None or tunnel_proc is None
        if not opened and tunnel is not None and tunnel_proc is not None:
            opened = await _port_open(tunnel.port, tunnel.wait, tunnel_proc, cancel)
        if not opened and tunnel is not None:
            return refused(
                f"tunnel {tunnel.program!r}: 127.0.0.1:{tunnel.port} "
                f"did not open within {tunnel.wait:g}s"
            )
        return await _run(path, launch, on_output, cancel, started)
    finally:
        if tunnel_proc is not None:
            await _stop(tunnel_proc)


async def _run(
    path: Path,
    launch: Launch,
    on_output: Callable[[bytes], None],
    cancel: asyncio.Event,
    started: float,
) -> RunResult:
    output = _Output(launch.keep, on_output)
    read_fd, write_fd = os.pipe()
    try:
        proc = await _start(path, launch.args, launch.env, write_fd, launch.max_file_bytes)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in an argument
        os.close(read_fd)
        os.close(write_fd)
        empty = hashlib.sha256().hexdigest()
        why = f"could not start: {getattr(e, 'strerror', None) or e}"
        return RunResult("refused", None, time.monotonic() - started, b"", 0, empty, why)
    os.close(write_fd)  # only the program holds it now: end of file means it let go
    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    status, error = "ok", None
    try:
        transport, _ = await loop.connect_read_pipe(lambda: output, os.fdopen(read_fd, "rb", 0))
        waiting = asyncio.ensure_future(proc.wait())
        cancelled = asyncio.ensure_future(cancel.wait())
        done, _ = await asyncio.wait(
            {waiting, cancelled}, timeout=launch.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        cancelled.cancel()
        if waiting not in done:
            kill_group(proc.pid)
            status = "cancelled" if cancel.is_set() else "timed out"
            error = "cancelled" if cancel.is_set() else f"timed out after {launch.timeout:g}s"
        exit_code = await waiting
        ended = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN):
                await output.closed
    except BaseException:
        if proc.returncode is None:
            kill_group(proc.pid)
            await asyncio.shield(proc.wait())
        raise
    finally:
        if transport is not None:
            transport.close()
    if status == "ok" and exit_code != 0:
        status = "failed"
        error = (
            f"killed by {signal_name(-exit_code)}" if exit_code < 0 else f"exited with {exit_code}"
        )
    return RunResult(
        status,
        exit_code if status in ("ok", "failed") else None,
        ended - started,
        output.kept(),
        output.size,
        output.hash.hexdigest(),
        error,
    )


async def _start(
    path: Path,
    args: Sequence[str],
    env: Mapping[str, str],
    out: int | None,
    max_file_bytes: int | None = None,
) -> asyncio.subprocess.Process:
    # The resolved path, not the name: what was checked is what runs.
    return await asyncio.create_subprocess_exec(
        str(path),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=out if out is not None else asyncio.subprocess.DEVNULL,
        stderr=out if out is not None else asyncio.subprocess.DEVNULL,
        env=for_program(env),
        cwd="/",
        start_new_session=True,
        preexec_fn=_file_limit(max_file_bytes) if max_file_bytes is not None else None,
    )


def _file_limit(limit: int) -> Callable[[], None]:
    """RLIMIT_FSIZE in the child: the kernel refuses a write past `limit` bytes (EFBIG; the
    signal it would send is ignored, so the program sees an error it can report)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


async def _port_open(
    port: int, wait: float, proc: asyncio.subprocess.Process, cancel: asyncio.Event
) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and proc.returncode is None and not cancel.is_set():
        try:
            await asyncio.to_thread(_connect, port)
            return True
        except OSError:
            await asyncio.sleep(0.1)
    return False


def _connect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(2):
                await proc.wait()
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()
