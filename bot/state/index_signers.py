"""Who signed each commit of a long read of main, checked in a process of its own.

The audit report's table keeps the key each commit is signed with, checked once as the index
syncs. An Ed25519 check costs about 110 us here: 11 s of a cold index of 100,000 commits, in
the thread that also parses every commit and record. Threads do not help (the parsing holds
the interpreter; checking beside it was slower still); a second process does, on the second
core. The commits go to it as git gave them, as soon as they are read, and it answers in the
same order, oldest first. The index never waits for it: when the commit it writes has no
answer yet, it checks the newest commits not yet checked itself, one at a time, until the
answer comes; where the two meet, the process is stopped. So neither side idles, however the
machine's cores are shared. What the process answers is what `signer_of` answers in-process:
it runs it.

The process is a plain `python -m` of this module speaking over pipes, not `multiprocessing`,
whose way of starting one (every platform's but fork, unsafe in a threaded program) imports
the program's main module again. Starting it costs a few tenths of a second, hidden behind
git's reading: only a read of `APART_FROM` commits or more checks them apart. Where it cannot
be started or dies, the rest are checked in-process.
"""

import contextlib
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from dulwich.objects import Commit, ShaFile

import bot
from bot.state.signing import signer_of

APART_FROM = 5000  # commits
FLUSH = 200  # answers written at once: the first come soon, and the pipe is not written per key

_LENGTH = struct.Struct(">I")


def _commit(raw: bytes) -> Commit:
    commit = ShaFile.from_raw_string(Commit.type_num, raw)
    assert isinstance(commit, Commit)
    return commit


def serve(src: BinaryIO, out: BinaryIO) -> None:
    """The process's side: for each commit read from `src` (its length, then its bytes), the
    key that signed it (its length, then the key; an empty key: none that verifies)."""
    answers: list[bytes] = []
    while header := src.read(_LENGTH.size):
        raw = src.read(_LENGTH.unpack(header)[0])
        key = signer_of(_commit(raw)) or b""
        answers.append(_LENGTH.pack(len(key)) + key)
        if len(answers) >= FLUSH:
            out.write(b"".join(answers))
            out.flush()
            answers = []
    out.write(b"".join(answers))
    out.flush()


class Signers:
    """The signers of commits handed over as raw objects, checked in another process."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._feeder: threading.Thread | None = None
        self._raws: list[bytes] = []
        self._found: list[bytes | None] = []  # the process's answers, oldest commit first
        self._pending = bytearray()  # the start of its next answer
        self._top = 0  # the index checked the commits from this one on itself
        self._mine: dict[int, bytes | None] = {}

    def start(self) -> None:
        """Starts the process ahead of `check`, so that its start-up overlaps git's reading."""
        # The directory `bot` is imported from, for a checkout run without installing it.
        root = str(Path(bot.__file__).resolve().parent.parent)
        paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        try:
            self._proc = subprocess.Popen(
                # -P: nothing imported from the working directory
                [sys.executable, "-P", "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError:
            self._proc = None

    def check(self, raws: list[bytes]) -> None:
        """Hands `raws` (commit objects, as git stores them) over, to be asked for by `of`."""
        self._raws = raws
        self._top = len(raws)
        if self._proc is None:
            return
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        os.set_blocking(stdout.fileno(), False)  # its answers are taken as they come

        def feed() -> None:
            # BrokenPipeError: it died, or was stopped (`close`) before it had them all.
            with contextlib.suppress(BrokenPipeError):
                try:
                    for raw in raws:
                        stdin.write(_LENGTH.pack(len(raw)) + raw)
                finally:
                    stdin.close()

        self._feeder = threading.Thread(target=feed, name="opsbot-signers", daemon=True)
        self._feeder.start()

    def of(self, n: int) -> bytes | None:
        """The signer of the `n`th commit handed over, as `signer_of` says. Rather than wait
        for the process, the index checks the last commits itself, newest first, until the
        process has answered for the `n`th; where they meet, the process is stopped."""
        while n < self._top and n >= len(self._found):
            if self._proc is None:  # none to wait for
                return signer_of(_commit(self._raws[n]))
            if not self._receive():
                self._top -= 1
                self._mine[self._top] = signer_of(_commit(self._raws[self._top]))
            if len(self._found) >= self._top:
                self.close()  # every commit has its answer
        return self._found[n] if n < len(self._found) else self._mine[n]

    def _receive(self) -> bool:
        """Whether the process had answers ready (read them); stops it if it died."""
        assert self._proc is not None and self._proc.stdout is not None
        try:
            data = os.read(self._proc.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return False
        if not data:
            self.close()  # what it did not answer is checked here
            return False
        self._pending += data
        while len(self._pending) >= _LENGTH.size:
            size = _LENGTH.unpack_from(self._pending)[0]
            if len(self._pending) < _LENGTH.size + size:
                break
            key = bytes(self._pending[_LENGTH.size : _LENGTH.size + size])
            del self._pending[: _LENGTH.size + size]
            self._found.append(key or None)
        return True

    def close(self) -> None:
        """Stops the process: the sync is over, or failed."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()  # nothing to wait for: whatever was asked has been answered
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if self._feeder is not None:
            self._feeder.join()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
