"""A booted Debian with systemd as PID 1, for the tests that run opsbot as the service it is.

The root file system is made by `mmdebstrap` from Debian's packages, once per package list, and
booted by `systemd-nspawn --boot`. A host without systemd has no cgroup for nspawn to put the
container in, so each container gets one of its own, made here under both the v1 `name=systemd`
hierarchy and the unified one. The container shares the host's network (the homeserver on the
host's 127.0.0.1 is its 127.0.0.1 too) and is driven with `nsenter` into its PID 1, since
`machinectl` would need machined on the host.
"""

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

SUITE = "bookworm"
PACKAGES = (
    *("systemd", "systemd-sysv", "dbus", "libnss-systemd"),
    *("python3", "python3-venv", "git", "openssh-client"),
)
"""A minimal Debian with systemd, and what the README's Install asks of the host."""
CGROUPS = Path("/sys/fs/cgroup")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class CannotBoot(Exception):
    """This machine cannot boot a container: the reason, for the skip."""


def cannot_boot() -> str | None:
    """Why this machine cannot boot a container, or None when it can."""
    if os.geteuid() != 0:
        return "booting a container needs root"
    for program in ("mmdebstrap", "systemd-nspawn", "nsenter"):
        if shutil.which(program) is None:
            return f"{program} is not installed (scripts/test-systemd installs it as root)"
    if not os.access(CGROUPS, os.W_OK) and not any(
        os.access(CGROUPS / h, os.W_OK) for h in ("unified", "systemd")
    ):
        return "the cgroup file system is read-only here"
    return None


def hierarchies() -> list[Path]:
    """Where a cgroup of the container's own is made: the v1 `name=systemd` hierarchy and the
    unified one beside it (a host with both), or the unified one alone, at the top."""
    if (CGROUPS / "cgroup.controllers").exists():
        return [CGROUPS]
    return [CGROUPS / h for h in ("systemd", "unified") if (CGROUPS / h).is_dir()]


def rootfs(cache: Path) -> Path:
    """The root file system's tarball, made once per suite and package list."""
    key = hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    tarball = cache / f"debian-{SUITE}-{key}.tar"
    if tarball.exists():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial.tar")
    command = [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(partial),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CannotBoot(f"mmdebstrap failed:\n{done.stderr[-2000:]}")
    partial.rename(tarball)
    return tarball


class Container:
    """One booted container: its files are under `root` on the host."""

    def __init__(self, workdir: Path, tarball: Path, name: str) -> None:
        self.name = f"{name}-{secrets.token_hex(3)}"
        self.root = workdir / self.name
        self.root.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(self.root), "-xf", str(tarball)], check=True)
        self.console = workdir / f"{self.name}.console"
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.cgroups = [top / f"opsbot-test-{self.name}" for top in hierarchies()]

    def path(self, inside: str) -> Path:
        """Where a path of the container is on the host."""
        return self.root / inside.lstrip("/")

    def boot(self, binds: Sequence[tuple[Path, str]] = (), timeout: float = 60) -> None:
        for cgroup in self.cgroups:
            cgroup.mkdir(exist_ok=True)

        def into_own_cgroup() -> None:
            for cgroup in self.cgroups:
                if cgroup.exists():
                    (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        command = ["systemd-nspawn", "--quiet", "-D", str(self.root), "--boot"]
        command += ["--register=no", "--keep-unit", f"--machine={self.name}"]
        command += [f"--bind-ro={host}:{inside}" for host, inside in binds]
        with self.console.open("wb") as console:
            self.nspawn = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                preexec_fn=into_own_cgroup,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.nspawn.poll() is not None:
                raise CannotBoot(f"systemd-nspawn exited:\n{self.console.read_text()[-2000:]}")
            if self._init_pid() is not None:
                state = self.run(["systemctl", "is-system-running", "--wait"], check=False)
                if state.stdout.strip() in ("running", "degraded"):
                    return
            if time.monotonic() > deadline:
                raise CannotBoot(f"the container did not boot:\n{self.console.read_text()[-2000:]}")
            time.sleep(0.2)

    def _init_pid(self) -> int | None:
        """The container's PID 1, as the host numbers it: nspawn's child."""
        assert self.nspawn is not None
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        with contextlib.suppress(OSError):
            pids = children.read_text().split()
            if pids:
                return int(pids[0])
        return None

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Runs `argv` as root inside the container, in a clean environment, as a root shell
        there would."""
        pid = self._init_pid()
        assert pid is not None, "the container is not running"
        env = ["env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "HOME=/root", "TERM=dumb"]
        data = input.decode() if isinstance(input, bytes) else input
        done = subprocess.run(
            ["nsenter", "-t", str(pid), "-a", *env, *argv],
            input=data if data is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode} in {self.name}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def signal(self, pid: int, name: str) -> None:
        """`kill -NAME pid` inside the container (`kill` is the shell's: minbase has no procps)."""
        self.run(["sh", "-c", f"kill -{name} {pid}"])

    def unit(self, name: str, *properties: str) -> dict[str, str]:
        """`systemctl show` of a unit: the properties asked for."""
        out = self.run(["systemctl", "show", name, "-p", ",".join(properties)]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def stop(self) -> None:
        if self.nspawn is None:
            return
        if self.nspawn.poll() is None and self._init_pid() is not None:
            self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=30)
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.nspawn.pid, signal.SIGKILL)
                self.nspawn.wait(timeout=30)
        for cgroup in self.cgroups:
            with contextlib.suppress(OSError):
                _remove_cgroup(cgroup)
        shutil.rmtree(self.root, ignore_errors=True)


def _remove_cgroup(cgroup: Path) -> None:
    """Removes a cgroup and the ones systemd made inside it, deepest first."""
    for inner in sorted(cgroup.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if inner.is_dir():
            with contextlib.suppress(OSError):
                inner.rmdir()
    cgroup.rmdir()
