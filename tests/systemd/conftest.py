"""The systemd tier: opsbot installed from its wheel in a booted Debian, run by a real systemd as
PID 1, talking to a real Synapse on the host's loopback. Run by `scripts/test-systemd` (which
`.ci/run` runs after the suite), each test marked `systemd`; left out of `scripts/test`."""

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devserver import Homeserver
from tests.helpers.container import CannotBoot, cannot_boot, rootfs
from tests.helpers.paths import CHECKOUT

HERE = Path(__file__).parent
CACHE = CHECKOUT / ".cache" / "systemd"
PREVIOUS_RELEASE = "7e30aac5ff6ac852505616f500722e9df59998ba"
"""The commit of release 0.3.0, which the upgrade test installs first."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.systemd)


@pytest.fixture(scope="session")
def tarball() -> Path:
    """Debian's root file system with systemd, made once per package list."""
    reason = cannot_boot()
    if reason is not None:
        pytest.skip(f"this machine cannot boot a container: {reason}")
    try:
        return rootfs(CACHE)
    except CannotBoot as e:
        pytest.skip(f"this machine cannot boot a container: {e}")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel and the wheels of what it needs, for `pip install --no-index` in a
    container."""
    return wheels_of(CHECKOUT, tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def release_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same for the previous release, built from its commit (a clone of main has no tags)."""
    top = tmp_path_factory.mktemp("release")
    archive = subprocess.run(
        ["git", "-C", str(CHECKOUT), "archive", PREVIOUS_RELEASE], capture_output=True, check=False
    )
    if archive.returncode:
        pytest.skip(f"this clone's history does not reach {PREVIOUS_RELEASE[:7]}: shallow?")
    (top / "source").mkdir()
    subprocess.run(["tar", "-x", "-C", str(top / "source")], input=archive.stdout, check=True)
    return wheels_of(top / "source", top / "wheels")


def wheels_of(source: Path, house: Path) -> Path:
    """`source`'s wheel and its dependencies' in `house`; the dependencies are fetched once per
    change of its pyproject.toml."""
    key = hashlib.sha256((source / "pyproject.toml").read_bytes()).hexdigest()[:12]
    deps = CACHE / f"wheels-{key}"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    if not deps.exists():
        partial = deps.with_name(deps.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        build([*pip, "wheel", "-w", str(partial), str(source)])
        for built in partial.glob("opsbot_matrix-*.whl"):
            built.unlink()
        partial.rename(deps)
    house.mkdir(parents=True, exist_ok=True)
    for wheel in deps.iterdir():
        shutil.copy(wheel, house)
    build([*pip, "wheel", "--no-deps", "-w", str(house), str(source)])
    return house


def build(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """A real Synapse on the host's 127.0.0.1, which the containers share."""
    with Homeserver(tmp_path_factory.mktemp("homeserver")) as server:
        yield server
