"""An upgrade as an operator meets it: a repo and a state dir made by release 0.1.0 (its wheel,
built from the `v0.1.0` tag, in a venv of its own), then this code run on them in place."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import cli
from bot.config import HostPaths
from bot.engine.types import Invocation
from bot.service.assemble import open_engine
from tests.helpers.bot import ALICE
from tests.helpers.git import git
from tests.helpers.paths import CHECKOUT

TAG = "v0.1.0"
RELEASE = "a2a9adcfc7c4ecf47bf440617fff9f53bb6f645f"  # the commit v0.1.0 names


@dataclass(frozen=True)
class OldRelease:
    bin: Path
    source: Path  # the tag's files: its wheel lacks state_repo_template/ (a bug of 0.1.0)

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        # Without PYTHONPATH: the old `bot` package, not this checkout's.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.bin.parent,
            check=False,
            timeout=120,
        )

    def opsbot(self, *args: str, stdin: str = "") -> str:
        result = self.run(str(self.bin / "opsbot"), *args, stdin=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


def step(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=False, timeout=600)


def release_0_1_0(top: Path) -> str:
    """The `v0.1.0` tag where the checkout has it; a clone of main has no tags, so else the
    commit the tag named."""
    git = ["git", "-C", str(CHECKOUT)]
    tagged = step([*git, "rev-parse", "--verify", f"{TAG}^{{commit}}"], top)
    if not tagged.returncode:
        return tagged.stdout.strip()
    if step([*git, "cat-file", "-e", f"{RELEASE}^{{commit}}"], top).returncode:
        pytest.skip(f"this clone's history does not reach 0.1.0 ({RELEASE[:7]}): a shallow clone?")
    return RELEASE


@pytest.fixture(scope="module")
def old_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldRelease]:
    top = tmp_path_factory.mktemp("release-0.1.0")
    release = release_0_1_0(top)
    source = top / "source"
    source.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(CHECKOUT), "archive", release], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    venv = top / "venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    for what, args in [
        ("make a venv", [sys.executable, "-m", "venv", str(venv)]),
        ("build its wheel", [*pip, "wheel", "--no-deps", "-w", str(top / "wheels"), str(source)]),
    ]:
        result = step(args, top)
        if result.returncode:
            pytest.skip(f"cannot {what} for {TAG} here (offline?): {result.stderr[-300:]}")
    wheel = next((top / "wheels").glob("*.whl"))
    result = step([*pip, "install", str(wheel)], top)
    if result.returncode:
        pytest.skip(f"cannot install {TAG}'s dependencies here (offline?): {result.stderr[-300:]}")
    yield OldRelease(venv / "bin", source)


def invocations(repo: Path) -> dict[str, str]:
    """invocation id -> commit, as 0.1.0 wrote them in its trailers."""
    out = git(repo, "log", "--all", "--format=%H %(trailers:key=Opsbot-Invocation,valueonly)")
    return {m[2]: m[1] for m in re.finditer(r"^(\w+) (\S+)$", out, re.M)}


# Run by 0.1.0's Python, so in 0.1.0's module layout.
PROPOSALS_NEED_ONE_APPROVAL = """
from datetime import UTC, datetime
from bot.assemble import open_engine
from bot.config import HostPaths
from bot.state.message import Message
from bot.state.repo import Identity
engine = open_engine(HostPaths.beside("state"))
repo = engine.repo
text = repo.snapshot().text("environments/prod.toml").replace("approvals = 0", "approvals = 1")
with repo.locked():
    repo.commit({"environments/prod.toml": text.encode()}, Message("prod needs an approval"),
                Identity("Alice", "@alice:example.org"), datetime.now(UTC), parent=repo.head())
"""

OLD_COMMANDS = """\
!deploy web 1.4.2 to staging --reason "new login page"
!deploy web 1.4.2 to prod --reason "it works in staging"
!freeze dev for 2h --reason "demo day"
!incident open sev2 Database is down
!incident note INC-1 failing over to the replica
"""


def test_a_repo_and_state_dir_of_0_1_0_keep_working_after_the_upgrade(
    old_release: OldRelease, capsys: pytest.CaptureFixture[str]
) -> None:
    top = old_release.bin.parent
    paths = HostPaths.beside(top / "state")
    template = old_release.source / "state_repo_template"
    old_release.opsbot("init", "state", "--admin", ALICE, "--template", str(template))
    result = old_release.run(str(old_release.bin / "python"), "-c", PROPOSALS_NEED_ONE_APPROVAL)
    assert result.returncode == 0, result.stderr
    said = old_release.opsbot("shell", "--repo", "state", "--as", ALICE, stdin=OLD_COMMANDS)
    assert "proposal 1" in said and "INC-1" in said, said
    key, signers = paths.signing_key.read_bytes(), paths.allowed_signers.read_bytes()
    done_before = invocations(paths.repo)
    assert len(done_before) == 5
    history_before = git(paths.repo, "rev-list", "main").split()

    assert cli.main(["migrate", "--repo", str(paths.repo)]) == 0
    out = capsys.readouterr().out
    assert "state repo: layout 1 -> 2" in out
    assert "5 earlier commands remembered" in out
    assert "proposals/1" in out and "propose them again" in out

    # Same keys; history kept, one signed commit on top; Git and opsbot both agree.
    assert (paths.signing_key.read_bytes(), paths.allowed_signers.read_bytes()) == (key, signers)
    assert git(paths.repo, "rev-list", "main").split()[1:] == history_before
    git(paths.repo, "fsck", "--strict")
    git(paths.repo, "verify-commit", "main")
    assert cli.main(["verify", "--repo", str(paths.repo)]) == 0
    capsys.readouterr()

    # A console command from before the upgrade, delivered again: done already, nothing run.
    engine = open_engine(paths)
    head = git(paths.repo, "rev-parse", "main").strip()
    for invocation, commit in done_before.items():
        again = Invocation(
            sender=ALICE,
            text=_command_of(paths.repo, commit),
            event_id=invocation,
            received_at=datetime.now(UTC),
        )
        reply = engine.run(again)
        assert reply is not None and reply.ok and reply.commit == commit, reply
    assert git(paths.repo, "rev-parse", "main").strip() == head

    # And the upgraded bot goes on: new commands, the old incident's timeline, a signed head.
    after = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", "--repo", str(paths.repo), "--as", ALICE],
        input="!deploy web 1.4.3 to staging\n!incident note INC-1 replica is serving\n!status\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=CHECKOUT,
    )
    assert after.returncode == 0, after.stdout + after.stderr
    assert "web 1.4.3" in after.stdout
    assert "replica is serving" in git(
        paths.repo, "log", "-p", "-3", "main", "--", "incidents/INC-1"
    )
    git(paths.repo, "verify-commit", "main")
    assert cli.main(["migrate", "--repo", str(paths.repo)]) == 0
    assert capsys.readouterr().out.startswith("up to date\ncurrent: state repo layout 2")


def _command_of(repo: Path, commit: str) -> str:
    return git(
        repo, "log", "-1", "--format=%(trailers:key=Opsbot-Command,valueonly)", commit
    ).strip()
