"""The allowed-signers files verify a commit exactly when `git verify-commit` does.

git itself is the oracle: each case writes an allowed-signers file, builds commits signed by
different keys at different committer times, and asks both `git verify-commit` (which runs
ssh-keygen) and `AllowedSigners.verifies`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dulwich.objects import Commit, Tree
from dulwich.repo import Repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.state.allowed_signers import AllowedSigners
from bot.state.signing import SigningKey, sign_commit

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="git needs ssh-keygen")

BOT, TEAM, STRANGER = (SigningKey.generate() for _ in range(3))
KEYS = {"bot": BOT, "team": TEAM, "stranger": STRANGER}
JAN_1_2024 = 1_704_067_200  # 2024-01-01 00:00:00 UTC
DAY = 86_400
# Committer times around the dates the files below name.
TIMES = (
    JAN_1_2024 - DAY,
    JAN_1_2024 - 1,
    JAN_1_2024,
    JAN_1_2024 + 1,
    JAN_1_2024 + DAY + 12 * 3600,
    JAN_1_2024 + 200 * DAY,
)


class Oracle:
    """A bare repo of signed commits, and `git verify-commit` against a given file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo_path = root / "state.git"
        self.repo = Repo.init_bare(str(self.repo_path), mkdir=True)
        self.repo.object_store.add_object(Tree())
        self.allowed = root / "allowed_signers"
        self.commits: dict[tuple[str, int], Commit] = {}

    def commit(self, signer: str, when: int) -> Commit:
        found = self.commits.get((signer, when))
        if found is None:
            found = Commit()
            found.tree = Tree().id
            found.author = found.committer = b"Someone <someone@example.org>"
            found.author_time = found.commit_time = when
            found.author_timezone = found.commit_timezone = 0
            found.message = f"{signer} at {when}\n".encode()
            sign_commit(found, KEYS[signer])
            self.repo.object_store.add_object(found)
            self.commits[(signer, when)] = found
        return found

    def git_verifies(self, commit: Commit) -> bool:
        done = subprocess.run(
            [
                *("git", "-C", str(self.repo_path), "-c", "gpg.format=ssh"),
                *("-c", f"gpg.ssh.allowedSignersFile={self.allowed}"),
                *("verify-commit", commit.id.decode()),
            ],
            capture_output=True,
            env={
                **os.environ,
                "GIT_CONFIG_NOSYSTEM": "1",
                "HOME": str(self.root),
                "LC_ALL": "C",
            },
        )
        return done.returncode == 0

    def disagreements(self, text: str, times: tuple[int, ...] = TIMES) -> list[str]:
        """Every (signer, committer time) on which opsbot and git disagree, for this file."""
        self.allowed.write_text(text)
        signers = AllowedSigners.read(self.allowed)
        found = []
        for signer in KEYS:
            for when in times:
                commit = self.commit(signer, when)
                ours, git = signers.verifies(commit), self.git_verifies(commit)
                if ours != git:
                    found.append(f"{signer} at {when}: opsbot {ours}, git {git}")
        return found


@pytest.fixture
def oracle(tmp_path: Path) -> Iterator[Oracle]:
    oracle = Oracle(tmp_path)
    yield oracle
    oracle.repo.close()


@contextmanager
def local_time(zone: str) -> Iterator[None]:
    """git and ssh-keygen read local time: the test sets it, for them and for opsbot."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture
def utc() -> Iterator[None]:
    with local_time("UTC"):
        yield


def _key(name: str) -> str:
    return KEYS[name].public_line()


B, T = _key("bot"), _key("team")

# Files whose every line git and opsbot must read alike.
FILES = [
    f"bot {B}\nteam {T}\n",
    f'bot namespaces="git" {B}\n',
    f'bot namespaces="file" {B}\n',
    f'bot namespaces="file,git" {B}\n',
    f'bot namespaces="file,g*" {B}\n',
    f'bot namespaces="" {B}\n',
    f'bot namespaces="file" {B}\nother {B}\n',
    f'bot namespaces="file" {B}\nbot {B}\n',
    f'bot valid-before="20240101" {B}\n',
    f'bot valid-before="20240101000000Z" {B}\n',
    f'bot valid-after="20240101" {B}\n',
    f'bot valid-after="20240101000001Z" {B}\n',
    f'bot valid-after="202401020000",valid-before="20240201UTC" {B}\n',
    f'bot valid-before="20240101" {B}\nbot valid-after="20240101" {B}\n',
    f'bot VALID-BEFORE="20240101" {B}\n',
    f'bot valid-before="2024013" {B}\n',
    f'bot valid-before="20240230" {B}\n',
    f'bot valid-before="20240101",valid-after="20240102" {B}\n',
    f'bot valid-before="20240101",valid-before="20240102" {B}\n',
    f"bot frobnicate {B}\nbot {B}\n",
    f"bot {B}\nbot frobnicate {B}\n",
    f"team frobnicate {T}\nbot {B}\n",
    f'bot namespaces="git",valid-after="20231231" {B}  a comment\n',
    f'bot namespaces="git", {B}\n',
    f'bot ,namespaces="git" {B}\n',
    f'bot namespaces="g\\"it" {B}\n',
    f'bot namespaces="git {B}\n',
    f'"bot smith" namespaces="git" {B}\n',
    f"bot,team {B}\n",
    f"bot,,team {B}\n",
    f"*@example.org {B}\n",
    f"!bot,* {B}\n",
    f'bot,team namespaces="file" {B}\nteam {B}\n',
    f'bot namespaces="file" {B}\nb* {B}\n',
    f"bot cert-authority {B}\n",
    f"bot cert-authority {B}\nbot {T}\n",
    f'bot CERT-AUTHORITY,namespaces="git" {B}\n',
    f"# a comment\n\n   \nbot {B}\n",
    f"bot\nbot {B}\n",
    f"bot {B}\nbot",
    f"bot ssh-ed25519 AAAA\nbot {B}\n",
    f"bot {B}\nbot ssh-ed25519 AAAA\n",
    f"{B}\n",
    f"bot\t{B}\r\n",
    "",
]


def _shown(text: str) -> str:
    """A file as a test's id: the keys, made anew each run, by name."""
    return text.replace(B, "<bot key>").replace(T, "<team key>")


@pytest.mark.parametrize("text", FILES, ids=_shown)
def test_opsbot_verifies_a_commit_exactly_when_git_verify_commit_does(
    oracle: Oracle, utc: None, text: str
) -> None:
    assert oracle.disagreements(text) == []


def test_a_retired_key_does_not_put_commits_after_its_valid_before_in_force(
    oracle: Oracle, utc: None
) -> None:
    oracle.allowed.write_text(f'bot valid-before="20240101000000Z" {B}\n')
    before, after = oracle.commit("bot", JAN_1_2024 - 1), oracle.commit("bot", JAN_1_2024 + 1)
    signers = AllowedSigners.read(oracle.allowed)
    assert (signers.verifies(before), signers.verifies(after)) == (True, False)
    assert (oracle.git_verifies(before), oracle.git_verifies(after)) == (True, False)


def test_a_key_for_other_namespaces_verifies_no_commit(oracle: Oracle, utc: None) -> None:
    oracle.allowed.write_text(f'bot namespaces="file" {B}\n')
    commit = oracle.commit("bot", JAN_1_2024)
    assert not AllowedSigners.read(oracle.allowed).verifies(commit)
    assert not oracle.git_verifies(commit)


def test_a_cert_authority_line_is_no_plain_key_and_says_why(oracle: Oracle, utc: None) -> None:
    oracle.allowed.write_text(f"ci@example.org cert-authority {B}\n")
    signers = AllowedSigners.read(oracle.allowed)
    assert not signers.verifies(oracle.commit("bot", JAN_1_2024))
    assert not oracle.git_verifies(oracle.commit("bot", JAN_1_2024))
    assert B.encode() not in {b"ssh-ed25519 " + key for key in signers.keys}
    assert len(signers.problems) == 1
    assert "cert-authority is not supported" in signers.problems[0]


def test_the_committer_time_is_read_as_local_time_as_git_writes_it(oracle: Oracle) -> None:
    """In summer, git's local-time verify-time is read back by ssh-keygen as standard time."""
    with local_time("Europe/Berlin"):
        july = 1_719_792_000  # 2024-07-01 00:00:00 UTC
        times = tuple(july + delta for delta in (-7200, -3601, -3600, -3599, -1, 0, 1))
        assert oracle.disagreements(f'bot valid-before="20240701010000" {B}\n', times) == []
        assert oracle.disagreements(f'bot valid-after="20240701" {B}\n', times) == []


_PRINCIPALS = st.sampled_from(["bot", "team", "bot,team", "*", "b*", "!team,*", '"a b"'])
_DATES = st.sampled_from(["20231231", "20240101", "202401010000", "20240101000001Z", "20240102"])
_OPTION = st.one_of(
    st.sampled_from(['namespaces="git"', 'namespaces="file"', 'namespaces="file,git"']),
    _DATES.map(lambda d: f'valid-after="{d}"'),
    _DATES.map(lambda d: f'valid-before="{d}"'),
    st.just("cert-authority"),
)
_LINE = st.tuples(
    _PRINCIPALS, st.lists(_OPTION, max_size=2), st.sampled_from(["bot", "team", "stranger"])
).map(lambda t: f"{t[0]} {','.join(t[1])} {_key(t[2])}".replace("  ", " "))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(_LINE, min_size=1, max_size=4))
def test_opsbot_and_git_agree_on_files_of_any_options(
    oracle: Oracle, utc: None, lines: list[str]
) -> None:
    assert oracle.disagreements("\n".join(lines) + "\n", TIMES[1:4]) == []
