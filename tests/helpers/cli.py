"""The `opsbot` command line in its own process, as a person runs it."""

import os
import subprocess
import sys
from pathlib import Path


def opsbot(
    *args: str, stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )
