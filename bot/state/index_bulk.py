"""Reading a long stretch of main at once, for a cold index (bot/state/index.py).

Read through dulwich one commit at a time, a history of 100,000 commits took two minutes to
index: every commit, tree and record was looked up, inflated and parsed in Python. `git` itself
is on the host, and does that work in C: one `git log` lists main's first parents with the files
each changed (the tree diffs), and one `git cat-file --batch` hands over the commits and the
records the index reads, in a stream. What comes out is what the commit-by-commit sync reads
(`Step`s, oldest first), so both write the same rows.

Where git is missing or refuses the repo, `steps` returns None and the index reads it with
dulwich as before: slower, never different.
"""

import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.objects import Commit, parse_time_entry

from bot.state import index_signers
from bot.state.index_signers import Signers

_NULL = b"0" * 40


@dataclass
class Change:
    """One file a commit changed: its path, and its blob before (None: added) and after (None:
    removed)."""

    path: str
    old: bytes | None
    new: bytes | None


@dataclass
class Step:
    """One commit of main, as the index reads it."""

    sha: str
    parents: list[bytes]
    author: bytes  # "Name <id>"
    author_time: int
    message: bytes
    changes: list[Change] = field(default_factory=list)
    raw: bytes = b""  # the commit object as git gave it (a bulk read)
    signed: Commit | None = None  # the commit object as dulwich read it
    signer: Callable[[], bytes | None] | None = None  # its signer, checked apart (a long read)
    commit_time: int = 0


@dataclass
class Bulk:
    """main's first parents from the oldest not indexed, and the blobs asked for, by id."""

    steps: list[Step]
    blobs: dict[bytes, bytes]


def steps(
    repo: Path,
    head: str,
    stop: str | None,
    wanted: Callable[[list[Step]], Iterable[bytes]],
    signers: Signers | None = None,
) -> Bulk | None:
    """The commits from `head` back along first parents (excluding `stop` and what it reaches),
    oldest first, with the blobs `wanted` names among their changes; given `signers`, a long
    read (`index_signers.APART_FROM`) has them check who signed each commit in another process.
    None where git cannot read the repo."""
    git = shutil.which("git")
    if git is None:
        return None
    base = [git, "-c", f"safe.directory={repo}", f"--git-dir={repo}"]
    log = [
        *base,
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--root",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        "--no-show-signature",
        "--format=%H",
        head,
        *([f"^{stop}"] if stop else []),
    ]
    try:
        listed = subprocess.run(log, capture_output=True, env=_env(), check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    chain = _parse_log(listed)
    chain.reverse()
    apart = signers if signers is not None and len(chain) >= index_signers.APART_FROM else None
    if apart is not None:
        apart.start()
    # The commits first, then the blobs: the signers are checked while git reads the blobs.
    ids = [step.sha.encode() for step in chain]
    commits = _cat(base, ids)
    if commits is None or any(sha not in commits for sha in ids):
        return None
    raws = [commits[sha] for sha in ids]
    if apart is not None:
        apart.check(raws)
    for n, (step, raw) in enumerate(zip(chain, raws, strict=True)):
        _read_commit(step, raw)
        if apart is not None:
            step.signer = functools.partial(apart.of, n)
    blobs = list(dict.fromkeys(wanted(chain)))
    found = _cat(base, blobs) if blobs else {}
    return None if found is None else Bulk(chain, found)


def _env() -> dict[str, str]:
    """No user or system configuration: a `log.showSignature` or a pager set for people must
    not change what the index reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    return env


def _parse_log(out: bytes) -> list[Step]:
    """`git log --raw -z --format=%H`: a commit id, then `:modes old new status` and a path for
    each file it changed."""
    chain: list[Step] = []
    tokens = out.split(b"\0")
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip(b"\n")
        i += 1
        if not token:
            continue
        if token.startswith(b":"):
            _, _, old, new, _status = token.split(b" ")
            path = tokens[i].decode("utf-8", "surrogateescape")
            i += 1
            chain[-1].changes.append(
                Change(path, None if old == _NULL else old, None if new == _NULL else new)
            )
        else:
            chain.append(Step(token.decode(), [], b"", 0, b""))
    return chain


def _cat(base: list[str], ids: list[bytes]) -> dict[bytes, bytes] | None:
    """The objects named `ids`, read by one `git cat-file --batch` (fed from a thread, so that
    neither side waits for the other's pipe)."""
    try:
        proc = subprocess.Popen(
            [*base, "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )
    except OSError:
        return None
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:
        try:
            stdin.write(b"".join(sha + b"\n" for sha in ids))
        except BrokenPipeError:
            pass
        finally:
            stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    found: dict[bytes, bytes] = {}
    out = proc.stdout
    try:
        for header in iter(out.readline, b""):
            parts = header.split()
            if len(parts) != 3:  # "<id> missing"
                continue
            size = int(parts[2])
            found[parts[0]] = out.read(size)
            out.read(1)  # the newline after each object
    finally:
        out.close()
        feeder.join()
        proc.wait()
    return found if proc.returncode == 0 else None


def _read_commit(step: Step, raw: bytes) -> None:
    """A commit's parents, author, times and message, read as dulwich reads them: a header per
    line (continuation lines begin with a space), the parents directly after the tree, the
    first author and committer, the message after the first empty line."""
    step.raw = raw
    headers, _, message = raw.partition(b"\n\n")
    step.message = message
    in_parents, author, committer = False, False, False
    for line in headers.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"parent" and in_parents:
            step.parents.append(value)
            continue
        in_parents = key == b"tree"
        if key == b"author" and not author:
            author = True
            step.author, when, _zone = parse_time_entry(value)
            step.author_time = int(when) if when is not None else 0
        elif key == b"committer" and not committer:
            committer = True
            _who, when, _zone = parse_time_entry(value)
            step.commit_time = int(when) if when is not None else 0


def iter_tree(repo: Path, tree: str) -> Iterator[tuple[str, bytes]] | None:
    """Every blob under `tree` (path, id), in Git's order; None where git cannot read it."""
    git = shutil.which("git")
    if git is None:
        return None
    cmd = [git, "-c", f"safe.directory={repo}", f"--git-dir={repo}", "ls-tree", "-r", "-z", tree]
    try:
        out = subprocess.run(cmd, capture_output=True, env=_env(), check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return _ls(out)


def _ls(out: bytes) -> Iterator[tuple[str, bytes]]:
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        _mode, kind, sha = meta.split(b" ")
        if kind == b"blob":
            yield path.decode("utf-8", "surrogateescape"), sha


def cat(repo: Path, ids: list[bytes]) -> dict[bytes, bytes] | None:
    git = shutil.which("git")
    if git is None:
        return None
    return _cat([git, "-c", f"safe.directory={repo}", f"--git-dir={repo}"], ids)
