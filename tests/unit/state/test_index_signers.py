"""Signatures checked in another process (a cold index's) name the same signer, commit for
commit, as `signer_of` in-process: valid ones their key, the rest none; and where that process
cannot run, the index checks them itself, to the same answers."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.objects import Commit

import bot
from bot.state.index_signers import Signers
from bot.state.signing import SigningKey, sign_commit, signer_of


def _commit(n: int, key: SigningKey | None) -> Commit:
    commit = Commit()
    commit.tree = b"4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    commit.author = commit.committer = b"Alice <@alice:example.org>"
    commit.author_time = commit.commit_time = 1_700_000_000 + n
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = f"change {n}\n".encode()
    if key is not None:
        sign_commit(commit, key)
    return commit


def _history(commits: int = 30) -> tuple[list[bytes], list[bytes | None]]:
    """Raw commits signed by one key or another, unsigned, or tampered with after signing; and
    who signed each."""
    one, other = SigningKey.generate(), SigningKey.generate()
    raws, signers = [], []
    for n in range(commits):
        key = [one, other, None][n % 3]
        commit = _commit(n, key)
        if n % 7 == 6 and key is not None:
            commit.message = b"changed after signing\n"  # the signature no longer verifies
        raws.append(commit.as_raw_string())
        signers.append(signer_of(commit))
    assert {s for s in signers if s is not None} != set() and None in signers
    return raws, signers


def _answers(out: bytes) -> list[bytes | None]:
    found: list[bytes | None] = []
    while out:
        size = int.from_bytes(out[:4], "big")
        found.append(out[4 : 4 + size] or None)
        out = out[4 + size :]
    return found


def test_the_process_names_each_commits_signer_as_signer_of_does() -> None:
    raws, expected = _history()
    asked = b"".join(len(raw).to_bytes(4, "big") + raw for raw in raws)
    root = Path(bot.__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-P", "-m", "bot.state.index_signers"],
        input=asked,
        capture_output=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(root)),
    )
    assert _answers(done.stdout) == expected


@contextlib.contextmanager
def checking(raws: list[bytes]) -> Iterator[Signers]:
    """`raws` handed over to a started process, stopped at the end."""
    signers = Signers()
    signers.start()
    try:
        signers.check(raws)
        yield signers
    finally:
        signers.close()


def test_each_commit_gets_the_signer_signer_of_names() -> None:
    # Long enough that the index checks the last commits while the process checks the first.
    raws, expected = _history(3000)
    with checking(raws) as signers:
        assert [signers.of(n) for n in range(len(raws))] == expected


def test_a_commit_asked_for_again_or_out_of_order_gets_the_same_answer() -> None:
    raws, expected = _history(300)
    with checking(raws) as signers:
        assert signers.of(200) == expected[200]
        assert signers.of(3) == expected[3]
        assert signers.of(299) == expected[299]
        assert signers.of(200) == expected[200]


@pytest.mark.parametrize("python", ["/nonexistent/python3", "/bin/false"])
def test_where_the_process_cannot_run_the_signers_are_checked_in_process(
    python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws, expected = _history()
    monkeypatch.setattr(sys, "executable", python)  # never starts; exits at once
    with checking(raws) as signers:
        assert [signers.of(n) for n in range(len(raws))] == expected


def test_closed_before_every_answer_is_read_it_stops_the_process() -> None:
    raws, _ = _history()
    signers = Signers()
    signers.start()
    signers.check(raws * 100)
    process = signers._proc
    signers.close()
    assert process is not None and process.poll() is not None
