"""Start-up at scale: how soon the bot answers on a state repo of --commits commits.

    python bench/startup.py [--commits 100000] [--repo DIR] [--runs 3] [--quick]

The repo is built as bench/metrics.py builds it (deploys, incidents, the reconciler's notes),
with the tip in force recorded as the bot records it. Measured, each --runs times, through the
service's own assembly (`open_engine(..., index_in_background=True)`, what `opsbot run` does
after it connects):

- (a) warm: from the start of the assembly to the answer of `!history` (which reads the index);
- (b) cold, the index file removed (what `opsbot restore --no-index` leaves): from the start to
  the answer of `!help` (which does not read it), and to the moment the index is whole and
  `!history` answers. Goals: (b) first answer at once, the index whole in <= 30 s.

--quick: 300 commits, one run (the test that keeps this benchmark working).
"""

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dulwich.repo import Repo

from bench.metrics import ALICE, build, reuse
from bot.config import HostPaths
from bot.service.assemble import open_engine
from bot.state.in_force import InForceRecord, Remembered
from bot.state.repo import MAIN
from bot.transport import console

GOAL = 30.0  # seconds: a cold index of 100,000 commits


def in_force(paths: HostPaths) -> None:
    """The tip of main in force, as the bot would have recorded it writing that history."""
    git = Repo(str(paths.repo))
    head = git.refs[MAIN].decode()
    git.close()
    InForceRecord(paths.in_force).write(Remembered(head), durable=False)


def answered(engine: object, text: str) -> bool:
    reply = engine.run(console.invocation(ALICE, text))  # type: ignore[attr-defined]
    return reply is not None and reply.ok


def warm(paths: HostPaths) -> float:
    began = time.perf_counter()
    engine = open_engine(paths, index_in_background=True)
    assert answered(engine, "!history")
    elapsed = time.perf_counter() - began
    engine.index.close()
    engine.repo.close()
    return elapsed


def cold(paths: HostPaths) -> tuple[float, float]:
    """(first answer of a command not reading the index, the index whole)."""
    for name in (paths.index.name, paths.index.name + "-wal", paths.index.name + "-shm"):
        (paths.index.parent / name).unlink(missing_ok=True)
    began = time.perf_counter()
    engine = open_engine(paths, index_in_background=True)
    assert answered(engine, "!help")
    first = time.perf_counter() - began
    building = engine.index.building
    if building is not None:
        while not building.done:
            assert not answered(engine, "!history")  # "indexing, N%"
            building.wait(0.5)
        assert building.failed is None
    assert answered(engine, "!history")
    whole = time.perf_counter() - began
    engine.index.close()
    engine.repo.close()
    return first, whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repo", type=Path, help="build the repo here once, reuse it after")
    parser.add_argument("--quick", action="store_true", help="300 commits, one run")
    args = parser.parse_args()
    if args.quick:
        args.commits, args.days, args.runs = 300, 10, 1
    root = args.repo or Path(tempfile.mkdtemp(prefix="opsbot-bench-startup-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        paths = reuse(root, args.commits, args.days) if args.repo else None
        if paths is None:
            began = time.perf_counter()
            paths, main_commits, _ = build(root, args.commits, args.days)
            print(f"built {main_commits} commits in {time.perf_counter() - began:.1f} s")
            (root / "built").write_text(f"{args.commits} {args.days}\n")
        in_force(paths)
        print(f"cpus: {os.cpu_count()}  python: {platform.python_version()}  load: {load()}")
        colds = [cold(paths) for _ in range(args.runs)]
        warms = [warm(paths) for _ in range(args.runs)]
        firsts, wholes = [c[0] for c in colds], [c[1] for c in colds]
        print(f"(a) warm index, start to !history answered:  {runs(warms)}")
        print(f"(b) cold index, start to !help answered:     {runs(firsts)}")
        print(f"(b) cold index, start to the index whole:    {runs(wholes)}")
        if args.commits >= 100_000:
            met = statistics.median(wholes) <= GOAL
            print(f"goal: the index whole in <= {GOAL:.0f} s: {'met' if met else 'NOT met'}")
        print(f"load after: {load()}")
    finally:
        if args.repo:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def runs(values: list[float]) -> str:
    listed = ", ".join(f"{v:.2f}" for v in values)
    return f"median {statistics.median(values):6.2f} s   runs: {listed}"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
