"""Crash safety and concurrency of the state repo, with real processes and the real `git` CLI.

Writers are separate Python processes (tests/helpers/deploy_loop.py) running `!deploy` through
the real engine; they are killed with SIGKILL or run side by side, and the repo is then checked
with `git fsck --full` and `git log`, never with opsbot's own code.
"""

import itertools
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import HostPaths
from bot.engine.types import Reply
from bot.service.assemble import init_repo, open_engine, open_repo
from bot.transport import console
from tests.helpers.paths import CHECKOUT

ALICE = "@alice:example.org"
WRITER = "tests.helpers.deploy_loop"
SHA = re.compile(r"^[0-9a-f]{40}$")
KILLS = 50
# What the index files under an app or an environment (bot/state/index.py, _subject).
WEB_PATHS = ("deployments/*/web.toml", "apps/web.toml")
DEV_PATHS = ("deployments/dev", "environments/dev.toml", "freezes/dev.toml")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=[ALICE]).close()
    return paths.repo


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent), "LC_ALL": "C"}
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def assert_sound(repo: Path) -> None:
    """`git fsck --full` is clean and main names a commit."""
    fsck = git(repo, "fsck", "--full", check=False)
    output = (fsck.stdout + fsck.stderr).lower()
    assert fsck.returncode == 0, f"git fsck exited {fsck.returncode}:\n{output}"
    for word in ("error", "missing", "broken"):
        assert word not in output, f"git fsck reports {word!r}:\n{output}"
    git(repo, "rev-parse", "--verify", "refs/heads/main^{commit}")


def assert_in_force(repo: Path) -> None:
    """What the killed writer put on main is in force: the record of the tip it remembers,
    written before the ref moved and after, tells a kill on either side apart."""
    state = open_repo(HostPaths.beside(repo))
    try:
        trust = state.trust()
        assert trust.clean and trust.commit == state.head(), trust
    finally:
        state.close()


def main_log(repo: Path, *paths: str) -> list[str]:
    args = ["log", "--format=%H", "main"]
    if paths:
        args += ["--", *paths]
    return git(repo, *args).stdout.split()


def ask(repo: Path, text: str) -> Reply:
    """One command through a freshly opened engine, as a restarted bot would answer it."""
    engine = open_engine(HostPaths.beside(repo))
    try:
        reply = engine.run(console.invocation(ALICE, text))
    finally:
        engine.repo.close()
        engine.index.close()
    assert reply is not None and reply.ok, reply
    return reply


def start_writer(
    repo: Path, app: str, first: int, count: int | None = None
) -> subprocess.Popen[str]:
    """A writer process that has printed "ready"; it starts deploying once its stdin ends
    (at once for an endless writer, which is only ever killed)."""
    args = [sys.executable, "-m", WRITER, str(repo), app, str(first)]
    if count is not None:
        args.append(str(count))
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if count is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=CHECKOUT,
    )
    assert proc.stdout is not None
    first_line = proc.stdout.readline()
    if first_line != "ready\n":
        with proc:
            proc.kill()
            rest = proc.stdout.read()
        pytest.fail(f"writer did not start:\n{first_line}{rest}")
    return proc


def reported(output: str, repo: Path, writer: str) -> list[str]:
    """The commit shas a writer printed; fails on any refused or failed deploy.

    Only whole lines count: the last one may have been cut off by the kill.
    """
    lines = output.split("\n")[:-1]
    if any(line.startswith("FAIL") for line in lines):
        locks = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.lock"))
        pytest.fail(f"{writer}: a deploy failed; lock files in the repo: {locks}\n{output}")
    return [line for line in lines if SHA.match(line)]


def finish(writer: subprocess.Popen[str], repo: Path, name: str, timeout: float = 60) -> list[str]:
    """Lets a counted writer go (ends its stdin); the shas it reported once it has exited by
    itself."""
    assert writer.stdin is not None and writer.stdout is not None
    with writer:
        writer.stdin.close()
        try:
            writer.wait(timeout)
        except subprocess.TimeoutExpired:
            writer.kill()
            pytest.fail(f"{name}: still running after {timeout} s:\n{writer.stdout.read()}")
        output = writer.stdout.read()
    shas = reported(output, repo, name)
    assert writer.returncode == 0, f"{name}:\n{output}"
    return shas


def test_killing_a_writer_at_random_moments_never_corrupts_the_repo(repo: Path) -> None:
    rng = random.Random(20261126)
    everything: list[str] = []
    recoveries = 0
    for kill in range(KILLS):
        with start_writer(repo, "web", first=kill * 1000) as writer:
            assert writer.stdout is not None
            time.sleep(rng.uniform(0.005, 0.080))
            writer.send_signal(signal.SIGKILL)
            output = writer.stdout.read()
        assert writer.returncode == -signal.SIGKILL, f"writer ended by itself:\n{output}"

        shas = reported(output, repo, f"writer {kill}")
        assert_sound(repo)
        assert_in_force(repo)
        for sha in shas:
            ancestor = git(repo, "merge-base", "--is-ancestor", sha, "main", check=False)
            assert ancestor.returncode == 0, f"kill {kill}: reported commit {sha} is not on main"
        everything += shas

        if (repo / "refs" / "heads" / "main.lock").exists():
            # Killed while moving main: Git's lock file on the ref is left behind. The next
            # writer must get past it; one that is itself killed within 80 ms may not have time
            # to, so let one run to the end.
            recoveries += 1
            writer = start_writer(repo, "web", first=kill * 1000 + 500, count=1)
            shas = finish(writer, repo, f"writer after kill {kill}, which left main.lock")
            assert len(shas) == 1
            everything += shas

    # A deploy takes ~15 ms (more on a loaded machine), so most kills land inside the first few
    # deploys; make sure some did finish, or the checks above prove nothing.
    assert len(everything) - recoveries >= 5, f"only {len(everything)} commits in {KILLS} runs"

    # After all that, a writer left alone still commits.
    everything += finish(start_writer(repo, "web", first=KILLS * 1000, count=2), repo, "last")
    assert_sound(repo)
    log = main_log(repo)
    assert len(log) == len(set(log)), "main's history lists a commit twice"
    assert set(everything) <= set(log)
    assert log[0] == everything[-1]

    reply = ask(repo, "!history web -n 200")
    listed = [line.split()[0] for line in reply.text.splitlines()]
    assert everything[-1][:7] in listed
    web_log = main_log(repo, *WEB_PATHS)[:200]
    assert listed == [sha[:7] for sha in web_log], "the index disagrees with git log"


def test_two_processes_committing_at_once_both_land(repo: Path) -> None:
    n = 20
    names = ("web", "api")
    writers = [start_writer(repo, app, first=0, count=n) for app in names]
    for writer in writers:  # both are ready: let them go together
        assert writer.stdin is not None
        writer.stdin.close()
    web, api = (finish(writer, repo, app) for writer, app in zip(writers, names, strict=True))
    assert len(web) == len(api) == n
    assert_sound(repo)
    log = main_log(repo)
    assert len(log) == len(set(log)) == 2 * n + 1  # the init commit, then every deploy
    assert set(web) | set(api) == set(log[:-1])
    # Each writer's own commits are in the order it made them.
    assert [sha for sha in reversed(log) if sha in set(web)] == web
    assert [sha for sha in reversed(log) if sha in set(api)] == api
    # And they did run at the same time: their commits interleave.
    apps = ["web" if sha in set(web) else "api" for sha in reversed(log[:-1])]
    switches = sum(a != b for a, b in itertools.pairwise(apps))
    assert switches > 1, f"the writers ran one after the other: {apps}"

    reply = ask(repo, "!history dev -n 200")
    listed = [line.split()[0] for line in reply.text.splitlines()]
    assert listed == [sha[:7] for sha in main_log(repo, *DEV_PATHS)]
