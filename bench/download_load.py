"""Commands typed while a large download runs through the bot, against the same commands on a
quiet host, in the same run.

    PYTHONPATH=$PWD python bench/download_load.py [--size-mib 1024] [--rate-mib-s 119]
                                                  [--after 35] [--runs 3]
                                                  [--no-write-behind] [--download-dir DIR]

A download through the bot is written into the run's directory by a program of its own (curl,
say), into a new file, at the speed of the network: here a writer process writes --size-mib MiB
in 1 MiB pieces at --rate-mib-s (119 MiB/s is a 1 Gbit/s link; 0: as fast as the page cache
takes it), without waiting for the disk. Beside it the bot's write-behind follows the run's
directory as a download run's guard does (bot/features/downloads/writeback.py);
--no-write-behind leaves the writing back to the kernel, which sends the download to the disk
in one go once it is 30 s old. Meanwhile `!deploy` commands go through the real engine (parse,
authorize, commit with its objects and the ref's move durable, the outbox's row, the answer
owed), one every --pause seconds as people type them, from the download's start until --after
seconds past its end (past the kernel's 30 s, so its late writing back is inside too). A
command's time runs from the moment it is typed, not from when the bot gets to it: a stall
counts for every command typed during it. The quiet leg types the same commands, with no
download, for as long. Goal: p99 with the download within 1.5x of the quiet p99.

Each run measures the quiet leg, then the loaded one (the page cache written back in between,
`sync`), on a fresh state directory each. Reported: p50, p90, p99 and max of each leg, every
run, and the load average as it started: the machine's other work shows in it.

`--download-dir DIR` writes the download there instead: `[downloads] dir` on a filesystem of
its own, where the operator has one (a tmpfs such as /dev/shm stands in for one here).
--quick: a 16 MiB download, a few commands, one run (what the test suite runs).
"""

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bot.config import HostPaths
from bot.engine.dispatch import Engine
from bot.features.downloads.run import WRITEBACK_SECONDS
from bot.features.downloads.writeback import WriteBehind
from bot.service.assemble import init_repo, open_engine
from bot.transport import console

ALICE = "@alice:example.org"
GOAL = 1.5  # loaded p99 / quiet p99

WRITER = """
import os, sys, time
path, size, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
piece = os.urandom(1 << 20)
print("ready", flush=True)
began = time.monotonic()
with open(path, "wb") as f:
    for n in range(1, size + 1):
        f.write(piece)
        f.flush()
        if rate and (ahead := n / rate - (time.monotonic() - began)) > 0:
            time.sleep(ahead)
"""


def engine_in(root: Path) -> Engine:
    paths = HostPaths.beside(root / "state")
    init_repo(paths, admins=[ALICE]).close()
    return open_engine(paths)


class Typists:
    """People typing `!deploy` one every `pause` seconds, whether or not the bot has answered
    the last one: each command's time runs from the moment it was typed, so a stall of the bot
    counts for every command typed during it, not only for the one it held up."""

    def __init__(self, engine: Engine, pause: float, leg: str) -> None:
        self.engine, self.pause, self.leg = engine, pause, leg
        self.times: list[float] = []
        self._typed_at: float | None = None  # the last command's moment

    def next(self) -> None:
        """Waits until the next command is typed, and runs it."""
        now = time.perf_counter()
        self._typed_at = now if self._typed_at is None else self._typed_at + self.pause
        if (wait := self._typed_at - time.perf_counter()) > 0:
            time.sleep(wait)
        invocation = dataclasses.replace(
            console.invocation(
                ALICE, f"!deploy web 1.{len(self.times)}.0 to dev --reason {self.leg}"
            ),
            answer=True,  # answered as over Matrix: its answer owed in the outbox
            transport="matrix",
            room_id="!ops:example.org",
        )
        reply = self.engine.run(invocation)
        self.times.append(time.perf_counter() - self._typed_at)
        assert reply is not None and reply.ok, reply


def warm_up(engine: Engine) -> None:
    typists = Typists(engine, 0, "warm-up")
    for _ in range(5):
        typists.next()
    engine.run(console.invocation(ALICE, "!deploy web 0.0.0 to dev --reason warm-up"))


def follow(directory: Path, stop: threading.Event) -> None:
    """The bot's write-behind over a download run's directory, as its guard runs it."""
    behind = WriteBehind()
    try:
        while not stop.is_set():
            paths = [p for p in directory.iterdir() if p.is_file()]
            if not behind.sweep(paths):
                stop.wait(WRITEBACK_SECONDS)
    finally:
        behind.close()


def quiet_leg(root: Path, args: argparse.Namespace) -> list[float]:
    engine = engine_in(root)
    try:
        warm_up(engine)
        typists = Typists(engine, args.pause, "quiet")
        # As long as the loaded leg types: a rare slow moment of the host's (a checkpoint,
        # the disk) must be as likely to fall in either.
        until = (
            time.monotonic()
            + args.after
            + (args.size_mib / args.rate_mib_s if args.rate_mib_s else 0)
        )
        while time.monotonic() < until:
            typists.next()
        return typists.times
    finally:
        close(engine)


def loaded_leg(root: Path, args: argparse.Namespace) -> list[float]:
    """Commands from the download's start until --after seconds past its end."""
    engine = engine_in(root)
    run_dir = (args.download_dir or root / "state" / "downloads") / f"run-{os.getpid()}"
    run_dir.mkdir(parents=True)
    stop = threading.Event()
    behind = threading.Thread(target=follow, args=(run_dir, stop), daemon=True)
    writer = None
    try:
        warm_up(engine)
        if not args.no_write_behind:
            behind.start()
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(run_dir / "artifact.bin"),
                str(args.size_mib),
                str(args.rate_mib_s),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        typists = Typists(engine, args.pause, "loaded")
        ended = None
        while ended is None or time.monotonic() - ended < args.after:
            typists.next()
            if ended is None and writer.poll() is not None:
                ended = time.monotonic()
        return typists.times
    finally:
        stop.set()
        if writer is not None:
            writer.kill()
            writer.wait()
        if behind.is_alive():
            behind.join()
        shutil.rmtree(run_dir)
        close(engine)


def close(engine: Engine) -> None:
    engine.repo.close()
    engine.index.close()
    engine.ledger.close()


def figures(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"p50": statistics.median(ms), "p90": cuts[89], "p99": cuts[98], "max": ms[-1]}


def line(name: str, f: dict[str, float]) -> str:
    return f"  {name:<9} " + "  ".join(f"{k} {v:7.2f} ms" for k, v in f.items())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="the download's size")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between commands")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to make the temporary directory")
    parser.add_argument("--download-dir", type=Path, help="where the download goes instead")
    parser.add_argument("--rate-mib-s", type=float, default=119.0, help="the network's speed")
    parser.add_argument("--after", type=float, default=35.0, help="seconds past its end")
    parser.add_argument("--no-write-behind", action="store_true", help="the kernel's way")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.after, args.runs = 16, 0.2, 1

    print(f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {platform.platform()}")
    how = "the kernel writing back" if args.no_write_behind else "the bot's write-behind"
    rate = f"{args.rate_mib_s:g} MiB/s" if args.rate_mib_s else "as fast as it goes"
    print(
        f"!deploy one every {args.pause} s, quiet and with a {args.size_mib} MiB download at "
        f"{rate} ({how}), until {args.after:g} s past its end"
    )
    ratios = []
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-", dir=args.dir) as tmp:
        for run in range(args.runs):
            load = os.getloadavg()[0]
            subprocess.run(["sync"], check=False)
            quiet_times = quiet_leg(Path(tmp) / f"quiet-{run}", args)
            subprocess.run(["sync"], check=False)
            loaded_times = loaded_leg(Path(tmp) / f"loaded-{run}", args)
            quiet, loaded = figures(quiet_times), figures(loaded_times)
            subprocess.run(["sync"], check=False)
            ratios.append(loaded["p99"] / quiet["p99"])
            print(f"run {run + 1} (load average {load:.2f} as it started):")
            print(line("quiet", quiet) + f"  ({len(quiet_times)} commands)")
            print(line("download", loaded) + f"  ({len(loaded_times)} commands)")
            print(f"  p99 download / quiet = {ratios[-1]:.2f}x")
    median = statistics.median(ratios)
    verdict = "PASS" if median <= GOAL else "FAIL"
    ratio = f"p99 download / quiet, median of {args.runs} = {median:.2f}x"
    print(f"\n{ratio}   goal <= {GOAL}x   {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
