"""How fast the state repo writes and answers, against the `git` CLI on the same machine.

    python bench/store.py [--commits 200] [--history-commits 10000] [--runs 5] [--profile]

(a) One transaction: a one-file change committed by StateRepo (signed, objects durable, ref
    moved with a compare-and-swap), as the engine does it, against `git add` + `git commit` of
    the same change in a non-bare clone. Goal: the transaction at least 3x the CLI's rate.
(b) `!history web -n 20` through the real Engine on a repo of --history-commits commits, against
    `git log -n 20 -- 'deployments/*/web.toml'` on the same bare repo. Goal: no slower than git.

Everything lives in a temporary directory, removed at the end (--keep keeps it).
"""

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dulwich

from bot.config import HostPaths
from bot.service.assemble import init_repo, open_engine
from bot.state.message import Message
from bot.state.repo import Identity, StateRepo
from bot.transport import console

ALICE = "@alice:example.org"
AUTHOR = Identity("alice", ALICE)
ENVS = ("dev", "staging", "prod")
TX_GOAL = 3.0  # transaction rate / CLI rate
HISTORY_GOAL = 1.0  # git log time / !history time


def git_env(home: Path) -> dict[str, str]:
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home), "LC_ALL": "C"}


def deployment(app: str, env: str, version: str) -> bytes:
    return f'app = "{app}"\nenv = "{env}"\nversion = "{version}"\nby = "{ALICE}"\n'.encode()


def message(app: str, env: str, version: str) -> Message:
    """A message shaped like the engine's, trailers included (the index parses them)."""
    return Message(
        summary=f"deploy: {app} {version} to {env}",
        body=("Requested by alice in the console.",),
        trailers=(
            ("Opsbot-Command", f"!deploy {app} {version} to {env}"),
            ("Opsbot-Invocation", f"bench:{app}:{env}:{version}"),
        ),
    )


def transact(repo: StateRepo, app: str, env: str, version: str) -> str:
    """One change the way the engine makes it: under the lock, on top of the HEAD just read."""
    with repo.locked():
        return repo.commit(
            {f"deployments/{env}/{app}.toml": deployment(app, env, version)},
            message(app, env, version),
            AUTHOR,
            datetime.now(UTC),
            parent=repo.head(),
        )


def new_repo(where: Path) -> tuple[HostPaths, StateRepo]:
    paths = HostPaths.beside(where)
    return paths, init_repo(paths, admins=[ALICE])  # real key, so the commits are really signed


# (a) commits per second


def transaction_rate(root: Path, commits: int, run: int) -> float:
    _, repo = new_repo(root / f"tx-{run}")
    try:
        start = time.perf_counter()
        for i in range(commits):
            transact(repo, "web", "dev", f"1.0.{i}")
        return commits / (time.perf_counter() - start)
    finally:
        repo.close()


def cli_rate(root: Path, commits: int, run: int) -> float:
    work = root / f"cli-{run}"
    env = git_env(root)
    me = ["-c", "user.name=alice", "-c", f"user.email={ALICE}", "-c", "commit.gpgsign=false"]

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(work), *me, *args], env=env, check=True)

    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], env=env, check=True)
    target = work / "deployments" / "dev" / "web.toml"
    target.parent.mkdir(parents=True)
    target.write_bytes(deployment("web", "dev", "0"))
    git("add", "-A")
    git("commit", "-q", "-m", "init")
    start = time.perf_counter()
    for i in range(commits):
        target.write_bytes(deployment("web", "dev", f"1.0.{i}"))
        git("add", "deployments/dev/web.toml")
        git("commit", "-q", "-m", message("web", "dev", f"1.0.{i}").render())
    return commits / (time.perf_counter() - start)


def profile_transaction(root: Path, commits: int, top: int = 25) -> None:
    _, repo = new_repo(root / "tx-profile")
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(commits):
        transact(repo, "web", "dev", f"1.0.{i}")
    profiler.disable()
    repo.close()
    print(f"\ncProfile of {commits} transactions (top {top} by own time):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# (b) history


def build_history(root: Path, commits: int) -> tuple[HostPaths, float]:
    """A repo of `commits` deploys, alternating web and api, across the environments.

    Built with StateRepo directly (signed and durable, as in (a)): this is set-up, not measured.
    """
    paths, repo = new_repo(root / "history")
    start = time.perf_counter()
    for i in range(commits - 1):  # the init commit is the first
        app = ("web", "api")[i % 2]
        transact(repo, app, ENVS[(i // 2) % len(ENVS)], f"2.{i // 1000}.{i % 1000}")
    elapsed = time.perf_counter() - start
    repo.close()
    return paths, elapsed


def history_times(paths: HostPaths, runs: int) -> tuple[float, list[float]]:
    """(first answer, which builds the index; steady-state answer times)."""
    engine = open_engine(paths)

    def ask() -> float:
        start = time.perf_counter()
        reply = engine.run(console.invocation(ALICE, "!history web -n 20"))
        elapsed = time.perf_counter() - start
        assert reply is not None and reply.ok and len(reply.text.splitlines()) == 20, reply
        return elapsed

    try:
        first = ask()
        return first, [ask() for _ in range(runs)]
    finally:
        engine.repo.close()
        engine.index.close()


def git_log_times(paths: HostPaths, runs: int) -> list[float]:
    env = git_env(paths.repo.parent)
    cmd = ["git", "-C", str(paths.repo), "log", "-n", "20", "--", "deployments/*/web.toml"]

    def once() -> float:
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True).stdout
        elapsed = time.perf_counter() - start
        assert out.count(b"\ncommit ") == 19, "git log did not list 20 commits"
        return elapsed

    once()  # warm the page cache, as the engine's first answer warms its index
    return [once() for _ in range(runs)]


# report


def facts(root: Path) -> list[str]:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    fs = filesystem_of(root)
    return [
        f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {git}  "
        f"dulwich: {'.'.join(map(str, dulwich.__version__))}",
        f"platform: {platform.platform()}  tempdir: {root} ({fs})",
    ]


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding `path`, from /proc/mounts (Linux), or '?'."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    holding = [(mount, kind) for mount, kind in mounts if path.is_relative_to(mount)]
    return max(holding, key=lambda m: len(m[0]))[1] if holding else "?"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--commits", type=int, default=200, help="commits per run in (a)")
    parser.add_argument("--history-commits", type=int, default=10_000, help="repo size in (b)")
    parser.add_argument("--runs", type=int, default=5, help="runs of (a); (b) asks 10x this often")
    parser.add_argument("--profile", action="store_true", help="cProfile the transaction too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--dir", type=Path, help="where to make the temporary directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="opsbot-bench-", dir=args.dir))
    try:
        for line in facts(root):
            print(line)
        print()

        # (a): alternate the two so that drift in the machine affects both alike
        tx_rates: list[float] = []
        cli_rates: list[float] = []
        for run in range(args.runs):
            # Each starts with nothing dirty in the page cache: git leaves its writes unflushed,
            # and the next fsync would otherwise pay for them.
            os.sync()
            tx_rates.append(transaction_rate(root, args.commits, run))
            os.sync()
            cli_rates.append(cli_rate(root, args.commits, run))
        tx, cli = statistics.median(tx_rates), statistics.median(cli_rates)
        tx_ratio = tx / cli

        # (b)
        size = args.history_commits
        paths, build = build_history(root, size)
        index_build, answers = history_times(paths, 10 * args.runs)
        logs = git_log_times(paths, 4 * args.runs)
        history, git_log = statistics.median(answers), statistics.median(logs)
        history_ratio = git_log / history

        rows = [
            ("(a) StateRepo transaction", f"{tx:8.1f} commits/s", f"{1000 / tx:7.2f} ms/commit"),
            ("    git add + git commit", f"{cli:8.1f} commits/s", f"{1000 / cli:7.2f} ms/commit"),
            ("(b) !history web -n 20", f"{history * 1000:8.2f} ms", f"median of {len(answers)}"),
            ("    git log -n 20 -- web", f"{git_log * 1000:8.2f} ms", f"median of {len(logs)}"),
            ("    index build (first ask)", f"{index_build:8.2f} s", f"{size} commits"),
            ("    (repo build, set-up)", f"{build:8.2f} s", ""),
        ]
        print(f"{'measure':<30}{'median':>20}  {'':<20}")
        for name, value, note in rows:
            print(f"{name:<30}{value:>20}  {note}")
        print()
        tx_ok, history_ok = tx_ratio >= TX_GOAL, history_ratio >= HISTORY_GOAL
        print(
            f"(a) transaction / CLI  = {tx_ratio:5.2f}x   goal >= {TX_GOAL:.0f}x   {verdict(tx_ok)}"
            f"   (median of {args.runs} runs of {args.commits} commits each)"
        )
        print(
            f"(b) git log / !history = {history_ratio:5.2f}x   goal >= {HISTORY_GOAL:.0f}x"
            f"   {verdict(history_ok)}"
        )
        print()
        print(
            "Note: the CLI baseline neither signs its commits nor fsyncs its objects (git's\n"
            "default core.fsync flushes packs only: no loose object, ref or index is fsynced);\n"
            "each opsbot transaction signs its commit (Ed25519, SSH format) and makes its objects\n"
            "durable before the ref moves and the ref's rename after (an fsync of each file\n"
            "and directory it wrote). (b)'s git time includes starting the git process."
        )
        if args.profile:
            profile_transaction(root, args.commits)
    finally:
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
