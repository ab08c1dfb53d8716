"""The systemd unit as systemd itself reads it, and `opsbot install-service` that installs it."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.host import load_config
from bot.cli.service import hidden_from_the_service
from bot.service import beside
from tests.helpers.paths import CHECKOUT

SYSTEMD = CHECKOUT / "systemd"
UNIT = SYSTEMD / "opsbot.service"
EXAMPLE = SYSTEMD / "opsbot.toml.example"
CREDENTIALS = "/run/credentials/opsbot.service/"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def opsbot_executable() -> Path:
    """The opsbot this test suite runs: the script beside its Python, as pip installed it."""
    beside = Path(sys.executable).parent / "opsbot"
    found = beside if beside.is_file() else shutil.which("opsbot")
    assert found, "the opsbot package is not installed with its script"
    return Path(found)


def directives(unit: Path) -> dict[str, list[str]]:
    """Every `Key=value` of the unit's [Service] section, repeated keys in order."""
    found: dict[str, list[str]] = {}
    section = None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def seconds(value: str) -> float:
    units = {"s": 1, "min": 60}
    match = re.fullmatch(r"(\d+)(s|min)", value)
    assert match, f"{value!r} is not a duration this test reads"
    return int(match.group(1)) * units[match.group(2)]


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, check=False, timeout=60
    )


def runnable_copy(unit: Path, directory: Path) -> Path:
    """The unit with ExecStart= naming an opsbot that exists here (verify checks it does)."""
    copy = directory / "opsbot.service"
    text = unit.read_text().replace(
        "ExecStart=/usr/local/bin/opsbot ", f"ExecStart={opsbot_executable()} "
    )
    copy.write_text(text)
    return copy


def install_service(prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(opsbot_executable()), "install-service", "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def syscalls(group: str) -> set[str]:
    """The system calls in a systemd syscall group, groups inside it expanded."""
    result = analyze("syscall-filter", group)
    assert result.returncode == 0, result.stderr
    found: set[str] = set()
    for line in result.stdout.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        found |= syscalls(name) if name.startswith("@") else {name}
    return found


# the unit


@needs_systemd_analyze
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = analyze("verify", str(runnable_copy(UNIT, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    complaints = [line for line in result.stderr.splitlines() if "opsbot.service" in line]
    assert complaints == []


@needs_systemd_analyze
def test_the_unit_is_rated_at_exposure_2_or_below() -> None:
    result = analyze("security", "--offline=true", str(UNIT))
    match = re.search(r"Overall exposure level for opsbot\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def test_the_unit_tells_systemd_when_the_bot_is_ready_and_alive() -> None:
    unit = directives(UNIT)
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]  # a hook cannot speak for the bot
    assert seconds(unit["WatchdogSec"][0]) > 0


def test_systemd_waits_longer_for_a_stop_than_the_bot_takes_to_drain() -> None:
    timeout = seconds(directives(UNIT)["TimeoutStopSec"][0])
    assert timeout >= beside.DRAIN_SECONDS + 10  # then the transcript commit and the exit


def test_a_bad_config_is_not_restarted_forever() -> None:
    unit = directives(UNIT)
    assert unit["Restart"] == ["on-failure"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # what `opsbot run` exits with on one


def test_the_sandbox_leaves_the_sockets_the_bot_needs() -> None:
    families = set(directives(UNIT)["RestrictAddressFamilies"][0].split())
    # Matrix and webhooks over IP; sd_notify over AF_UNIX.
    assert families == {"AF_INET", "AF_INET6", "AF_UNIX"}


@needs_systemd_analyze
def test_the_system_call_filter_allows_what_the_bot_and_its_hooks_do() -> None:
    allowed: set[str] = set()
    for value in directives(UNIT)["SystemCallFilter"]:
        if value.startswith("~"):
            allowed -= set().union(*(syscalls(group) for group in value[1:].split()))
        else:
            allowed |= set().union(*(syscalls(group) for group in value.split()))
    needed = {
        "execve",
        "clone",
        "clone3",
        "vfork",
        "wait4",
        "setsid",
        "kill",  # hooks
        "flock",
        "fsync",
        "syncfs",
        "renameat2",
        "getrandom",  # commits
        "socket",
        "connect",
        "sendto",
        "bind",
        "listen",
        "accept4",
        "epoll_wait",  # network
    }
    assert needed - allowed == set()


def test_every_secret_of_the_example_config_is_a_credential_the_unit_loads() -> None:
    loaded = {value.split(":")[0] for value in directives(UNIT)["LoadCredential"]}
    secrets = re.findall(r'^\w+_file = "([^"]+)"', EXAMPLE.read_text(), re.MULTILINE)
    assert secrets, "the example config names no secret file"
    for path in secrets:
        assert path.startswith(CREDENTIALS), path
        assert path.removeprefix(CREDENTIALS) in loaded, path


def test_the_example_config_is_a_valid_host_config() -> None:
    config = load_config(EXAMPLE)
    assert config.matrix is not None
    assert config.paths.state_dir == Path("/var/lib/opsbot")  # the unit's StateDirectory=
    assert config.reconcile.hooks_dir == Path("/etc/opsbot/hooks.d")


# install-service


def test_install_service_writes_a_unit_that_starts_this_opsbot(tmp_path: Path) -> None:
    result = install_service(tmp_path)
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "etc/systemd/system/opsbot.service"
    start = directives(unit)["ExecStart"]
    assert start == [f"{opsbot_executable()} run --config %E/opsbot/opsbot.toml"]
    assert unit.read_text().replace(start[0], "") == UNIT.read_text().replace(
        "/usr/local/bin/opsbot run --config %E/opsbot/opsbot.toml", ""
    )


@needs_systemd_analyze
def test_the_installed_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    install_service(tmp_path)
    result = analyze("verify", str(tmp_path / "etc/systemd/system/opsbot.service"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_service_puts_the_example_config_where_the_unit_reads_it(tmp_path: Path) -> None:
    install_service(tmp_path)
    config = tmp_path / "etc/opsbot/opsbot.toml"
    assert config.read_text() == EXAMPLE.read_text()
    assert config.stat().st_mode & 0o777 == 0o644  # the service's own user must read it
    assert (tmp_path / "etc/opsbot/hooks.d").is_dir()
    assert (tmp_path / "etc/opsbot/credentials").stat().st_mode & 0o777 == 0o700


def test_install_service_keeps_a_config_that_is_already_there(tmp_path: Path) -> None:
    config = tmp_path / "etc/opsbot/opsbot.toml"
    config.parent.mkdir(parents=True)
    config.write_text("# ours\n")
    result = install_service(tmp_path)
    assert result.returncode == 0, result.stderr
    assert config.read_text() == "# ours\n"
    assert f"kept {config}" in result.stdout


def test_install_service_says_what_to_do_next(tmp_path: Path) -> None:
    steps = install_service(tmp_path).stdout
    assert "/etc/opsbot/credentials/password" in steps  # what LoadCredential= reads
    assert "systemd-creds encrypt" in steps
    assert "opsbot init /var/lib/opsbot/state.git" in steps
    assert "systemctl daemon-reload" in steps
    assert "systemctl enable --now opsbot.service" in steps


def test_install_service_warns_about_an_opsbot_the_sandbox_would_hide() -> None:
    assert hidden_from_the_service(Path("/home/ops/.venv/bin/opsbot"))  # ProtectHome=yes
    assert hidden_from_the_service(Path("/tmp/venv/bin/opsbot"))  # PrivateTmp=yes
    assert not hidden_from_the_service(Path("/opt/opsbot/bin/opsbot"))
    assert not hidden_from_the_service(Path("/usr/local/bin/opsbot"))


def test_install_service_installs_the_example_runbooks_programs_and_keeps_changed_ones(
    tmp_path: Path,
) -> None:
    hooks = tmp_path / "etc/opsbot/hooks.d"
    hooks.mkdir(parents=True)
    (hooks / "http-check").write_text("#!/bin/sh\necho mine\n")
    result = install_service(tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in hooks.iterdir()) == [
        "fetch-files",
        "http-check",
        "sql-query",
        "tunnel-forward",
    ]
    assert (hooks / "http-check").read_text() == "#!/bin/sh\necho mine\n"
    assert f"kept {hooks / 'http-check'} (changed here)" in result.stdout
    assert (hooks / "sql-query").stat().st_mode & 0o777 == 0o755


def test_install_service_again_brings_the_programs_it_wrote_up_to_this_release(
    tmp_path: Path,
) -> None:
    """As after an upgrade: a program as an earlier release shipped it is replaced by this
    release's; one the operator changed since is theirs, and kept."""
    assert install_service(tmp_path).returncode == 0
    hooks = tmp_path / "etc/opsbot/hooks.d"
    record = tmp_path / "etc/opsbot/shipped-hooks.json"
    older = b"#!/bin/sh\necho an older release\n"
    (hooks / "sql-query").write_bytes(older)
    written = json.loads(record.read_text())
    written["sql-query"] = hashlib.sha256(older).hexdigest()
    record.write_text(json.dumps(written))
    (hooks / "http-check").write_text("#!/bin/sh\necho mine\n")

    result = install_service(tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"updated {hooks / 'sql-query'}" in result.stdout
    assert (hooks / "sql-query").read_bytes() != older
    assert f"kept {hooks / 'http-check'} (changed here)" in result.stdout
    assert (hooks / "http-check").read_text() == "#!/bin/sh\necho mine\n"
