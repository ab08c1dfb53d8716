"""`opsbot check --config FILE --live`: is this host ready to serve, and if not, what to fix.

One line per check, `ok|warn|fail <check>: <what> [- what to fix]`. A `fail` is what stops the
bot or exposes it (no login, a repo it cannot read, data of a newer release, a secret others can
read, a port someone else holds); a `warn` is what it runs with but someone should look at (a
mirror away, unsigned commits waiting, a hooks directory others may write to).
"""

import asyncio
import errno
import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.config.host import Config
from bot.core import ports
from bot.core.errors import OpsbotError
from bot.core.text import escaped
from bot.features.catalog import FEATURES, checks, journals, kept_refs, policy_sections
from bot.service import upgrade
from bot.state.view import StateView

TIMEOUT = 10.0  # seconds for each thing reached over the network


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warn | fail
    check: str
    what: str
    fix: str | None = None

    def line(self) -> str:
        """One line, escaped: a homeserver's answer, a file name, another process's command line
        or a remote's error is in `what`, and none may draw a line of its own."""
        fix = f" - {self.fix}" if self.fix else ""
        return escaped(f"{self.level} {self.check}: {self.what}{fix}")


def ok(check: str, what: str) -> Finding:
    return Finding("ok", check, what)


def warn(check: str, what: str, fix: str | None = None) -> Finding:
    return Finding("warn", check, what, fix)


def fail(check: str, what: str, fix: str | None = None) -> Finding:
    return Finding("fail", check, what, fix)


def live(config: Config) -> list[Finding]:
    return [
        asyncio.run(login(config)),
        *repo(config),
        *hooks_dir(config.reconcile.hooks_dir),
        *secrets(config),
        listener(config),
        *mirrors(config.mirrors),
    ]


# the homeserver


async def login(config: Config) -> Finding:
    matrix = config.matrix
    if matrix is None:
        return warn("login", "no [matrix] section: opsbot run would not start", "add one")
    saved = _saved_session(config.paths.state_dir)
    token = saved.get("access_token") if saved else None
    if token is None and matrix.access_token_file is not None:
        try:
            token = matrix.access_token_file.read_text().strip()
        except OSError as e:
            return fail("login", f"cannot read {matrix.access_token_file}: {e.strerror}")
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    base = matrix.homeserver.rstrip("/")
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            if token is None:
                async with http.get(f"{base}/_matrix/client/versions") as response:
                    if response.status != 200:
                        return fail(
                            "login",
                            f"{base} answers {response.status} to /versions",
                            "check [matrix] homeserver",
                        )
                return ok("login", f"{base} answers; opsbot run logs in with password_file once")
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{base}/_matrix/client/v3/account/whoami"
            async with http.get(url, headers=headers) as response:
                body = await response.json(content_type=None)
                status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        return fail(
            "login",
            f"cannot reach {base}: {type(e).__name__} {e}".strip(),
            "check [matrix] homeserver and the network",
        )
    if status == 401:
        return fail(
            "login",
            f"{base} does not accept the bot's access token (revoked?)",
            f"give a new token, or remove {config.paths.state_dir}/matrix/credentials.json "
            "so that opsbot run logs in again with password_file",
        )
    if status != 200 or not isinstance(body, dict):
        return fail("login", f"whoami answered {status}", "check [matrix] homeserver")
    user, device = body.get("user_id"), body.get("device_id")
    if user != matrix.user_id:
        return fail(
            "login",
            f"the token is {user}'s, not {matrix.user_id}'s",
            "check [matrix] user_id and the state directory",
        )
    if saved and device and saved.get("device_id") != device:
        return warn(
            "login",
            f"logged in as {user}, but as device {device}, not the saved {saved.get('device_id')}",
        )
    return ok("login", f"logged in as {user}, device {device}")


def _saved_session(state_dir: Path) -> dict[str, str] | None:
    try:
        data = json.loads((state_dir / upgrade.CREDENTIALS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# the repo and the state directory


def repo(config: Config) -> list[Finding]:
    host = upgrade.Host(
        config.paths,
        config.bot_id,
        config.signing_key,
        config.extra_signers,
        refs=kept_refs(),
        journals=journals(),
    )
    try:
        upgrade.check_versions(host)
        state = host.reader()
    except OpsbotError as e:
        return [fail("repo", e.message)]
    except Exception as e:  # a repo that cannot even be opened
        return [fail("repo", f"cannot open {config.paths.repo}: {e}", "opsbot init, or restore")]
    try:
        head = state.head()
        if head is None:
            return [fail("repo", f"{config.paths.repo} has no main branch")]
        found = []
        trust = state.trust()
        if trust.clean and trust.commit is not None:
            found.append(ok("repo", f"main at {head[:7]}, as opsbot wrote it"))
        elif trust.commit is None and not trust.outside:
            found.append(
                warn(
                    "repo",
                    "opsbot has no record of the tip of main it wrote: nothing is in force",
                    f"opsbot migrate --config {config.source}",
                )
            )
        elif trust.diverged:
            found.append(
                warn(
                    "repo",
                    f"main was moved outside opsbot (now {head[:7]}): not in force, and "
                    "nothing is written",
                    f"an admin reviews it and types !adopt {head[:7]} or !discard",
                )
            )
        else:
            found.append(
                warn(
                    "repo",
                    f"{trust.count} commit(s) on main opsbot did not write: not in force, "
                    "and nothing is written on top",
                    f"an admin reviews them and types !adopt {head[:7]} or !discard",
                )
            )
        problems = StateView(state.trusted_snapshot(), checks(), policy_sections()).problems()
        if problems:
            found.append(
                warn(
                    "records",
                    f"{len(problems)} file(s) do not validate",
                    f"opsbot check --config {config.source} lists them",
                )
            )
        from bot.state import layout

        if layout.version_of(state.snapshot()) < layout.CURRENT:
            found.append(
                warn(
                    "layout",
                    "the repo has an earlier release's layout",
                    f"opsbot migrate --config {config.source}",
                )
            )
        return found
    finally:
        state.close()


def hooks_dir(path: Path) -> list[Finding]:
    """The hooks run as the bot: whoever may write them may run code as the bot."""
    if not path.is_dir():
        return [warn("hooks", f"{path} does not exist: no deploy or health hook will run")]
    loose = [p for p in [path, *sorted(path.iterdir())] if _mode(p) & 0o022]
    if loose:
        names = ", ".join(str(p) for p in loose[:3]) + (" ..." if len(loose) > 3 else "")
        return [warn("hooks", f"writable by group or others: {names}", f"chmod go-w {names}")]
    return [ok("hooks", f"{path} is writable by its owner alone")]


def secrets(config: Config) -> list[Finding]:
    """The signing key and every secret file: readable by their owner alone (0600 or 0400)."""
    found = []
    for label, path, needed in _secret_files(config):
        if not path.exists():
            if needed:
                found.append(fail("keys", f"{label} {path} is missing"))
            continue
        if _mode(path) & 0o077:
            found.append(
                fail(
                    "keys",
                    f"{label} {path} is mode {_mode(path):04o}, readable by others",
                    f"chmod 600 {path}",
                )
            )
    return found or [
        ok("keys", "the signing key and secret files are readable by their owner alone")
    ]


def _secret_files(config: Config) -> Iterator[tuple[str, Path, bool]]:
    yield "signing key", config.signing_key, True
    matrix = config.matrix
    if matrix is not None:
        for label, file in (
            ("password_file", matrix.password_file),
            ("access_token_file", matrix.access_token_file),
        ):
            if file is not None:
                yield label, file, False  # used once, and may be gone after the first login
    state = config.paths.state_dir / "matrix"
    yield "device credentials", state / "credentials.json", False
    yield "crypto store key", state / "pickle_key", False
    yield "cross-signing keys", state / "cross_signing.json", False
    if config.http is not None and config.http.token_file is not None:
        yield "[http] token_file", config.http.token_file, True
    for hook in config.webhooks:
        yield f"[webhooks.{hook.source}] secret_file", hook.secret_file, True
    for route in (route for feature in FEATURES for route in feature.routes):
        guard = config.section(route.section)  # the section that guards it: [alerts]
        if guard is not None and guard.token_file is not None:
            yield f"[{route.section.name}] token_file", guard.token_file, True


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# the network


def listener(config: Config) -> Finding:
    http = config.http
    if http is None:
        return ok("listener", "no [http] section: nothing to listen on")
    where = f"{http.host}:{http.port}"
    family = socket.AF_INET6 if ":" in http.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((http.host, http.port))
            return ok("listener", f"{where} is free")
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                return fail(
                    "listener", f"cannot listen on {where}: {e.strerror}", "check [http] listen"
                )
    holder = ports.listening_on(http.port)
    if holder is None:
        return fail(
            "listener",
            f"{where} is in use by a process this user cannot see",
            "stop it, or change [http] listen",
        )
    who = f"pid {holder.pid}: {holder.command_line()}"
    # The bot is the process with its state directory's files open, whatever it is called.
    if holder.holds_open_under(config.paths.state_dir):
        return ok("listener", f"{where} is held by opsbot itself ({who})")
    return fail(
        "listener",
        f"{where} is in use by another program ({who})",
        "stop it, or change [http] listen",
    )


def mirrors(remotes: tuple[str, ...]) -> list[Finding]:
    found = []
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=10",
    }
    for remote in remotes:
        try:
            result = subprocess.run(
                ["git", "ls-remote", "--heads", remote, "main"],
                capture_output=True,
                text=True,
                env=env,
                timeout=TIMEOUT * 2,
                check=False,
            )
        except subprocess.TimeoutExpired:
            found.append(
                warn(
                    "mirror",
                    f"{remote} did not answer in {TIMEOUT * 2:g}s",
                    "check the network and the URL",
                )
            )
            continue
        if result.returncode == 0:
            found.append(ok("mirror", f"{remote} is reachable"))
        else:
            why = (result.stderr.strip().splitlines() or ["git ls-remote failed"])[-1]
            fix = "check the URL, and the credentials of the user the bot runs as"
            found.append(warn("mirror", f"{remote} is not reachable: {why}", fix))
    return found
