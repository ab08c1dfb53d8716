"""The real `git` CLI, to read back what opsbot wrote."""

import os
import subprocess
from pathlib import Path


def git(repo: Path, *args: str, check: bool = True) -> str:
    """The real git CLI on the repo, isolated from the machine's and the user's config."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent)}
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def bare(path: Path) -> Path:
    """A new, empty bare repo at `path`, with `main` as its branch."""
    git(path.parent, "init", "--bare", "-q", "--initial-branch=main", str(path))
    return path


def tip(repo: Path, ref: str = "main") -> str | None:
    found = git(repo, "rev-parse", "--verify", "-q", ref, check=False).strip()
    return found or None
