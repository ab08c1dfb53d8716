"""The README's first command: the demo works from nothing but this repository."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.matrix

ROOT = Path(__file__).resolve().parent.parent


def demo_env() -> dict[str, str]:
    """The environment `scripts/demo` gives the demo: the checkout on the path, for devtools/."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "PYTHONPATH": path}


def test_the_demo_answers_commands_over_e2ee_and_cleans_up() -> None:
    script = (
        '!deploy web 1.4.2 to staging --reason "new login page"\n'
        "!freeze prod for 2h\n"
        "!deploy web 1.4.2 to prod\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devtools.demo"],
        input=script,
        capture_output=True,
        text=True,
        timeout=180,
        env=demo_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("opsbot: ")]
    assert any(r.startswith("opsbot: deploy: web 1.4.2 to staging · commit ") for r in replies)
    assert any(r.startswith("opsbot: freeze: prod until ") for r in replies)
    assert any(r.startswith("opsbot: refused: prod is frozen until ") for r in replies)
    assert "homeserver http://127.0.0.1:" in result.stdout
    assert "Traceback" not in result.stderr
