"""opsbot as an operator installs it: a wheel built from this checkout, installed (not editable)
into a fresh virtualenv, run from a directory that is not the checkout. It must carry what the
checkout has beside the code (the state repo template, the systemd unit and example config) and
leave out what only development needs (devtools/)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.git import git
from tests.helpers.paths import CHECKOUT

ALICE = "@alice:example.org"
# What a wheel is built from; bot/_data/ holds links to the two top-level directories.
SOURCES = ["pyproject.toml", "README.md", "bot", "state_repo_template", "systemd"]


@dataclass(frozen=True)
class Installed:
    venv: Path
    work: Path  # a directory away from the checkout, where the installed opsbot is run

    @property
    def opsbot(self) -> Path:
        return self.venv / "bin" / "opsbot"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed command, with nothing of the checkout on its path."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run(
            [str(self.opsbot), *args],
            capture_output=True,
            text=True,
            cwd=self.work,
            env={**env, "GIT_CONFIG_NOSYSTEM": "1"},
            timeout=120,
            check=False,
        )


def pip(python: Path | str, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    top = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so that the build leaves nothing behind in the checkout.
    source = top / "source"
    source.mkdir()
    for name in SOURCES:
        if (CHECKOUT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(CHECKOUT / name, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(CHECKOUT / name, source / name)
    pip(
        sys.executable,
        "wheel",
        "--no-deps",
        "--quiet",
        "--wheel-dir",
        str(top / "dist"),
        str(source),
    )
    [wheel] = (top / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(top / "venv")], check=True, timeout=300)
    pip(top / "venv" / "bin" / "python", "install", "--quiet", str(wheel))
    (top / "work").mkdir()
    yield Installed(top / "venv", top / "work")


def tree(repo: Path) -> list[str]:
    """Every file of main, with its blob id: equal lists mean equal files."""
    return git(repo, "ls-tree", "-r", "main").splitlines()


def test_the_wheel_is_named_so_as_not_to_clash_on_the_package_index(installed: Installed) -> None:
    [dist_info] = (installed.venv / "lib").glob("python3*/site-packages/opsbot_matrix-*.dist-info")
    assert (dist_info / "entry_points.txt").read_text().count("opsbot = bot.cli:main") == 1


def test_init_from_the_wheel_makes_the_same_repo_as_from_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    result = installed.run("init", str(tmp_path / "from-wheel"), "--admin", ALICE)
    assert result.returncode == 0, result.stderr
    checkout = subprocess.run(
        [sys.executable, "-m", "bot.cli", "init", str(tmp_path / "checkout"), "--admin", ALICE],
        capture_output=True,
        text=True,
        cwd=CHECKOUT,
        check=False,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )
    assert checkout.returncode == 0, checkout.stderr
    assert tree(tmp_path / "from-wheel") == tree(tmp_path / "checkout")
    assert any(line.endswith("\tenvironments/prod.toml") for line in tree(tmp_path / "from-wheel"))


def test_install_service_from_the_wheel_writes_the_unit_and_the_config(
    installed: Installed, tmp_path: Path
) -> None:
    result = installed.run("install-service", "--prefix", str(tmp_path))
    assert result.returncode == 0, result.stderr
    unit = (tmp_path / "etc/systemd/system/opsbot.service").read_text()
    assert f"ExecStart={installed.opsbot} run --config " in unit
    shipped = (CHECKOUT / "systemd/opsbot.service").read_text()
    assert unit == shipped.replace(
        "ExecStart=/usr/local/bin/opsbot ", f"ExecStart={installed.opsbot} "
    )
    config = tmp_path / "etc/opsbot/opsbot.toml"
    assert config.read_text() == (CHECKOUT / "systemd/opsbot.toml.example").read_text()


def test_the_wheel_leaves_the_development_tools_out(installed: Installed) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [
            str(installed.venv / "bin/python"),
            "-c",
            "import importlib.util as u, bot; "
            "print(bot.__file__); print(u.find_spec('devtools'), u.find_spec('bot.devserver'))",
        ],
        capture_output=True,
        text=True,
        cwd=installed.work,
        env=env,
        check=True,
    )
    where, missing = probe.stdout.splitlines()
    assert Path(where).is_relative_to(installed.venv)  # the installed copy, not the checkout
    assert missing == "None None"
