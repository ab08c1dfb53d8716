"""The engine's own time per deploy: a `!deploy` through `Engine.handle`, as the Matrix
transport hands it over (its answer owed in the outbox), from the parsed invocation to the
reply, with everything the reply waits for: the record written, the commit signed, its objects
and the ref's move durable, the outbox's row and the handled invocation committed.

    python bench/engine.py [--deploys 200] [--pause 0.3] [--warm-up 20] [--runs 3]
                           [--profile] [--quick]

A deploy is typed every --pause seconds: by default long enough for the index to catch up with
the last commit after its answer, as it does between commands people type (0: each as soon as
the last is answered, a burst, where each command also brings the index up to date first).
Each run is a fresh state directory; the figures are p50, p90 and p99 of each run. Goal:
p50 <= 3 ms.
--profile prints where the time of one run goes (cProfile, by own time). --quick: a few
deploys, one run (what the test suite runs).
"""

import argparse
import asyncio
import cProfile
import dataclasses
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.config import HostPaths
from bot.engine.dispatch import CATCH_UP_AFTER, Engine
from bot.service.assemble import init_repo, open_engine
from bot.transport import console

ALICE = "@alice:example.org"
GOAL_MS = 3.0


async def deploy(engine: Engine, n: int) -> float:
    """Seconds one `!deploy` took, answered as over Matrix."""
    invocation = dataclasses.replace(
        console.invocation(ALICE, f"!deploy web 1.{n}.0 to dev --reason bench"),
        answer=True,
        transport="matrix",
        room_id="!ops:example.org",
    )
    start = time.perf_counter()
    reply = await engine.handle(invocation)
    elapsed = time.perf_counter() - start
    assert reply is not None and reply.ok, reply
    return elapsed


async def one_run(
    root: Path, deploys: int, warm_up: int, pause: float, profile: bool
) -> list[float]:
    paths = HostPaths.beside(root / "state")
    init_repo(paths, admins=[ALICE]).close()
    engine = open_engine(paths)
    try:
        for n in range(warm_up):
            await deploy(engine, n)
            await asyncio.sleep(pause)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        times = []
        for n in range(deploys):
            times.append(await deploy(engine, warm_up + n))
            await asyncio.sleep(pause)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime")).print_stats(
                int(os.environ.get("TOP", "30"))
            )
        return times
    finally:
        await engine.caught_up()
        engine.repo.close()
        engine.index.close()
        engine.ledger.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deploys", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument(
        "--pause", type=float, default=CATCH_UP_AFTER + 0.05, help="seconds between deploys"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dir", type=Path, help="where to make the temporary directory")
    parser.add_argument("--quick", action="store_true", help="5 deploys, one run")
    args = parser.parse_args()
    if args.quick:
        args.deploys, args.warm_up, args.runs = 5, 1, 1

    print(f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {platform.platform()}")
    medians = []
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-", dir=args.dir) as tmp:
        for run in range(args.runs):
            load = os.getloadavg()[0]
            times = asyncio.run(
                one_run(Path(tmp) / str(run), args.deploys, args.warm_up, args.pause, args.profile)
            )
            ms = sorted(t * 1000 for t in times)
            cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
            medians.append(statistics.median(ms))
            print(
                f"run {run + 1} (load average {load:.2f}): p50 {medians[-1]:.2f} ms  "
                f"p90 {cuts[89]:.2f} ms  p99 {cuts[98]:.2f} ms"
            )
    median = statistics.median(medians)
    verdict = "PASS" if median <= GOAL_MS else "FAIL"
    print(
        f"\nengine per deploy, median of {args.runs} runs' p50 = {median:.2f} ms   "
        f"goal <= {GOAL_MS} ms   {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
