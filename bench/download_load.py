"""Commands typed while a large download is written into the bot's state directory, against the
same commands on a quiet host, in the same run.

    PYTHONPATH=$PWD python bench/download_load.py [--size-mib 1024] [--commands 300]
                                                  [--pause 0.02] [--runs 3]

A download through the bot is written into its state directory (the run's directory beside the
repo), at the speed of the network, by a process of its own, without waiting for the disk.
Here a writer process does exactly that to the same filesystem: a file of --size-mib MiB written
in 1 MiB pieces, again and again while the commands run. Meanwhile `!deploy` commands go through
the real engine (parse, authorize, commit with its objects durable and the ref's move durable,
the outbox's row, the answer owed), one every --pause seconds as people type them. The quiet
leg runs the same commands without the writer. Goal: p99 with the download within 1.5x of the
quiet p99.

Each run measures the quiet leg, then the loaded one (the page cache written back in between,
`sync`), on a fresh state directory each. Reported: p50, p90, p99 and max of each leg, every
run, and the load average as it started: the machine's other work shows in it.

`--download-dir DIR` writes the download there instead: `[downloads] dir` on a filesystem of
its own, where the operator has one (a tmpfs such as /dev/shm stands in for one here).
"""

import argparse
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.config import HostPaths
from bot.engine.dispatch import Engine
from bot.service.assemble import init_repo, open_engine
from bot.transport import console

ALICE = "@alice:example.org"
GOAL = 1.5  # loaded p99 / quiet p99

WRITER = """
import os, sys, time
path, size = sys.argv[1], int(sys.argv[2])
piece = os.urandom(1 << 20)
print("ready", flush=True)
while True:
    with open(path, "wb") as f:
        for _ in range(size):
            f.write(piece)
"""


def engine_in(root: Path) -> Engine:
    paths = HostPaths.beside(root / "state")
    init_repo(paths, admins=[ALICE]).close()
    return open_engine(paths)


def command_times(engine: Engine, count: int, pause: float, leg: str) -> list[float]:
    """Seconds each `!deploy` took, answered as over Matrix (its answer owed in the outbox)."""
    times = []
    for i in range(count):
        invocation = dataclasses.replace(
            console.invocation(ALICE, f"!deploy web 1.{i}.0 to dev --reason {leg}"),
            answer=True,
            transport="matrix",
            room_id="!ops:example.org",
        )
        start = time.perf_counter()
        reply = engine.run(invocation)
        times.append(time.perf_counter() - start)
        assert reply is not None and reply.ok, reply
        time.sleep(pause)
    return times


def leg(root: Path, args: argparse.Namespace, loaded: bool) -> list[float]:
    engine = engine_in(root)
    writer = None
    try:
        command_times(engine, 5, 0, "warm-up")
        if loaded:
            where = args.download_dir or root / "state" / "downloads"
            target = where / f"artifact-{os.getpid()}.bin"
            target.parent.mkdir(parents=True, exist_ok=True)
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(target), str(args.size_mib)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
            time.sleep(args.lead)  # the download under way: dirty pages pile up
        return command_times(engine, args.commands, args.pause, "loaded" if loaded else "quiet")
    finally:
        if writer is not None:
            writer.kill()
            writer.wait()
            target.unlink(missing_ok=True)
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
    parser.add_argument("--commands", type=int, default=300, help="commands per leg")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between commands")
    parser.add_argument("--lead", type=float, default=1.0, help="seconds of download first")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to make the temporary directory")
    parser.add_argument("--download-dir", type=Path, help="where the download goes instead")
    args = parser.parse_args()

    print(f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {platform.platform()}")
    print(
        f"{args.commands} !deploy per leg, one every {args.pause} s; download {args.size_mib} MiB"
    )
    ratios = []
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-", dir=args.dir) as tmp:
        for run in range(args.runs):
            load = os.getloadavg()[0]
            subprocess.run(["sync"], check=False)
            quiet = figures(leg(Path(tmp) / f"quiet-{run}", args, loaded=False))
            subprocess.run(["sync"], check=False)
            loaded = figures(leg(Path(tmp) / f"loaded-{run}", args, loaded=True))
            subprocess.run(["sync"], check=False)
            ratios.append(loaded["p99"] / quiet["p99"])
            print(f"run {run + 1} (load average {load:.2f} as it started):")
            print(line("quiet", quiet))
            print(line("download", loaded))
            print(f"  p99 download / quiet = {ratios[-1]:.2f}x")
    median = statistics.median(ratios)
    verdict = "PASS" if median <= GOAL else "FAIL"
    ratio = f"p99 download / quiet, median of {args.runs} = {median:.2f}x"
    print(f"\n{ratio}   goal <= {GOAL}x   {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
