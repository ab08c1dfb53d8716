"""The README's "Run it as a service", followed literally in a fresh directory standing in for
the host's root: every step short of systemd itself. The steps are written once (cli.py), copied
into the README by `python -m bot.cli.docs`, and printed by `opsbot install-service`."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from bot.cli.docs import README, with_service_steps
from bot.cli.service import next_steps
from tests.helpers.git import git
from tests.helpers.readme import readme_steps

PASSWORD = "correct horse battery staple\n"


def on_host(root: Path, argument: str) -> str:
    """A path of the host, moved under `root`; any other argument as it is."""
    for top in ("/etc/", "/var/lib/"):
        if argument.startswith(top):
            return str(root) + argument
    return argument


def edit_config(config: Path, root: Path) -> None:
    """What this stand-in root needs of the operator's edit (the example's homeserver and user id
    are as good as any here): its paths, and the credentials where systemd would hand them to
    the service (LoadCredential= copies /etc/opsbot/credentials/ID to /run)."""
    text = config.read_text()
    text = text.replace('"/run/credentials/opsbot.service/', f'"{root}/etc/opsbot/credentials/')
    text = text.replace('"/var/lib/', f'"{root}/var/lib/').replace('"/etc/', f'"{root}/etc/')
    config.write_text(text)


def follow(command: str, root: Path) -> subprocess.CompletedProcess[str] | None:
    """Runs one step as the README says, with the host's paths under `root`; None for the steps
    that need systemd itself."""
    argv = [on_host(root, a) for a in shlex.split(command)]
    stdin = ""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    if argv[0] == "systemctl":
        return None
    if argv[0] == "editor":
        edit_config(Path(argv[1]), root)
        return None
    if argv[0] == "install" and "/dev/stdin" in argv:
        stdin = PASSWORD
    elif argv[0] == "opsbot":
        argv = [sys.executable, "-m", "bot.cli", *argv[1:]]
        if "install-service" in argv:
            argv += ["--prefix", str(root)]
        if "shell" in argv:
            stdin = "!status\n"
    else:
        raise AssertionError(f"the README has a step this test does not know: {command}")
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, cwd=root, env=env, timeout=120
    )


def test_the_readme_has_the_steps_install_service_prints() -> None:
    text = README.read_text()
    assert with_service_steps(text) == text, "run: python -m bot.cli.docs"
    after_install_service = next_steps().split("next, as root:\n", 1)[1]
    assert after_install_service in text


def test_the_readme_service_steps_work_in_a_fresh_directory(tmp_path: Path) -> None:
    root = tmp_path / "host"
    root.mkdir()
    steps = readme_steps()
    assert steps[0] == "opsbot install-service"
    for command in steps:
        result = follow(command, root)
        if result is not None:
            assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
            assert "Traceback" not in result.stderr, command

    credentials = root / "etc/opsbot/credentials"
    assert (credentials / "password").read_text() == PASSWORD
    assert (credentials / "password").stat().st_mode & 0o777 == 0o600
    assert (root / "etc/systemd/system/opsbot.service").is_file()
    state = root / "var/lib/opsbot"
    assert not (state / "signing_key").exists()  # the credential signs; no second key was made
    repo = state / "state.git"
    for commit in git(repo, "rev-list", "main").split():
        git(repo, "verify-commit", commit)  # raises if one does not verify
    check = follow("opsbot check --config /etc/opsbot/opsbot.toml", root)
    assert check is not None and check.stdout == "ok\n"
