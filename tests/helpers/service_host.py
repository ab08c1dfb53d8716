"""A host running opsbot as the README says: installed from its wheel into /opt/opsbot, then the
README's numbered service steps followed as they are written there, in a booted container."""

import re
import secrets
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.devserver import Homeserver
from tests.helpers.container import Container
from tests.helpers.matrix import unique
from tests.helpers.readme import readme_steps

CONFIG = "/etc/opsbot/opsbot.toml"
STATE = "/var/lib/private/opsbot"
"""Where systemd keeps a DynamicUser= service's StateDirectory (/var/lib/opsbot links to it)."""

# A deploy hook that reports what the sandbox let it write: it runs as a child of the bot,
# under every line of the unit, as any hook would.
PROBE = """#!/bin/sh
[ "$1" = -- ] && shift
out=/var/lib/opsbot/sandbox-probe
: > "$out.tmp"
for target in /usr/probe /usr/local/probe /etc/probe /etc/opsbot/hooks.d/probe /opt/probe \
    /var/probe /var/lib/probe /root/probe /home/probe /tmp/probe /var/tmp/probe \
    /var/lib/opsbot/probe; do
    if touch "$target" 2>/dev/null; then echo "written $target"; else echo "refused $target"; fi
done >> "$out.tmp"
echo "uid $(id -u)" >> "$out.tmp"
mv "$out.tmp" "$out"
"""


@dataclass
class Seen:
    """The unit's states seen while `systemctl enable --now` ran, in order."""

    states: list[tuple[str, str]] = field(default_factory=list)


class ServiceHost:
    def __init__(
        self, container: Container, *, homeserver: str, bot: str, admin: str, password: str
    ) -> None:
        self.container = container
        self.homeserver = homeserver
        self.bot = bot
        self.admin = admin
        self.password = password
        self.seen = Seen()
        self.results: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    @classmethod
    def with_new_accounts(cls, container: Container, homeserver: Homeserver) -> "ServiceHost":
        """A host for a bot account and its first admin, both new on `homeserver`."""
        password = secrets.token_urlsafe(12)
        return cls(
            container,
            homeserver=homeserver.base_url,
            bot=homeserver.register(unique("opsbot"), password),
            admin=homeserver.register(unique("alice"), "alice-" + password),
            password=password,
        )

    @property
    def admin_password(self) -> str:
        return "alice-" + self.password

    def install(self, wheelhouse: str = "/wheelhouse", requirement: str = "opsbot-matrix") -> None:
        """The README's "For a service": a virtualenv in /opt/opsbot, `opsbot` linked onto the
        PATH. The wheels come from a directory, as on a host without the package index."""
        run = self.container.run
        run(["python3", "-m", "venv", "/opt/opsbot"])
        pip = ["/opt/opsbot/bin/pip", "install", "-q", "--disable-pip-version-check"]
        run([*pip, "--no-index", "--find-links", wheelhouse, requirement], timeout=600)
        run(["ln", "-sf", "/opt/opsbot/bin/opsbot", "/usr/local/bin/opsbot"])

    def follow_readme(self, text: str | None = None) -> None:
        """Every command of the README's service steps, with the ids in place of the examples;
        `editor` is this test's edit, the password is typed on standard input."""
        for step in readme_steps(text):
            command = step.replace("@opsbot:example.org", self.bot)
            command = command.replace("@you:example.org", self.admin)
            argv = shlex.split(command)
            if argv[0] == "editor":
                self.edit_config(argv[1])
                continue
            stdin = ""
            if argv[0] == "install" and "/dev/stdin" in argv:
                stdin = self.password + "\n"
            elif "shell" in argv:
                stdin = "!status\n"
            if argv[:2] == ["systemctl", "enable"]:
                result = self.watching_the_start(argv)
            else:
                result = self.container.run(argv, input=stdin, check=False)
            self.results.append((command, result))
            assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
            if argv[:2] == ["opsbot", "install-service"]:
                self.hook("deploy-web", PROBE)

    def edit_config(self, inside: str) -> None:
        """The operator's edit: the homeserver and the bot's account. The test's people are nio
        clients without cross-signing, so the bot shares room keys with every device."""
        path = self.container.path(inside)
        text = path.read_text()
        text = re.sub(r'(?m)^homeserver = ".*"$', f'homeserver = "{self.homeserver}"', text)
        text = re.sub(
            r'(?m)^user_id = ".*"$', f'user_id = "{self.bot}"\nshare_keys_with = "all"', text
        )
        path.write_text(text)

    def hook(self, name: str, script: str) -> None:
        self.container.run(
            ["install", "-m", "0755", "/dev/stdin", f"/etc/opsbot/hooks.d/{name}"], input=script
        )

    def watching_the_start(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Runs the start step while another thread records what `systemctl show` says."""
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                unit = self.unit("ActiveState", "StatusText")
                state = (unit.get("ActiveState", ""), unit.get("StatusText", ""))
                if not self.seen.states or self.seen.states[-1] != state:
                    self.seen.states.append(state)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            return self.container.run(argv, check=False, timeout=180)
        finally:
            done.set()
            watcher.join()
            unit = self.unit("ActiveState", "StatusText")
            self.seen.states.append((unit["ActiveState"], unit["StatusText"]))

    def unit(self, *properties: str) -> dict[str, str]:
        return self.container.unit("opsbot.service", *properties)

    def main_pid(self) -> int:
        return int(self.unit("MainPID")["MainPID"])

    def until_serving(self, after_pid: int = 0, timeout: float = 120) -> int:
        """Waits until the unit is active with a bot other than `after_pid`; its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            unit = self.unit("ActiveState", "MainPID", "StatusText")
            pid = int(unit["MainPID"])
            serving = unit["StatusText"].startswith("serving")
            if unit["ActiveState"] == "active" and pid not in (0, after_pid) and serving:
                return pid
            time.sleep(0.2)
        raise TimeoutError(f"opsbot.service did not come back: {self.unit('ActiveState')}")

    def state(self, relative: str = "") -> Path:
        """A path of the service's state directory, on the host."""
        return self.container.path(STATE) / relative

    def git(self, *args: str) -> str:
        """The real git CLI on the service's repo, from the host (owned by the dynamic user)."""
        repo = self.state("state.git")
        argv = ["git", "-c", f"safe.directory={repo}", "-C", str(repo), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout
