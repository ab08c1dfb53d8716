"""A throwaway Synapse homeserver on 127.0.0.1, for the integration tests and the demo.

Synapse is a pip dependency and runs as `python -m synapse.app.homeserver` from the same
interpreter, so nothing is downloaded: everything it needs (config, signing key, SQLite database,
media store, logs) lives under one root directory that the caller owns and may delete.

Users are created through Synapse's shared-secret admin API rather than open registration, so
the server never accepts sign-ups from anyone who does not hold the secret in its config.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self


class HomeserverError(RuntimeError):
    """The homeserver did not start, or refused an admin request."""


class UserExists(HomeserverError):
    """The localpart is already registered; the demo can treat this as "reuse the account"."""


# High enough that no test or demo ever sees a 429 by accident, low enough to stay a float.
_UNLIMITED = {"per_second": 10_000, "burst_count": 100_000}

# Every rate limiter Synapse 1.163 reads from its config (synapse/config/ratelimiting.py); the
# defaults for logins, invites and room creation are low enough that a test suite which logs in
# a few dozen devices trips them within seconds.
_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
}

_LOG_TAIL_LINES = 40


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Another process could take it before Synapse binds it; on a test machine that race is rare
    enough, and `start` then fails with Synapse's own "address in use" in the message.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Homeserver:
    """A Synapse on 127.0.0.1 with a throwaway config, for tests and the demo."""

    def __init__(
        self, root: Path, *, port: int | None = None, server_name: str = "localhost"
    ) -> None:
        self.root = root.resolve()
        # Fixed for the object's lifetime so that `restart` comes back where clients expect it.
        self.port = port if port is not None else free_port()
        self.server_name = server_name
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.root / "homeserver.yaml"
        self.log_path = self.root / "homeserver.log"
        self.output_path = self.root / "homeserver.out"
        self._shared_secret = secrets.token_hex(32)
        self._config_written = False
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        """Start Synapse and return once its client API answers.

        The first start of this object writes the config; Synapse itself generates the signing
        key on that start (it creates missing key files whenever it loads a config), so there is
        no separate `--generate-keys` run costing another interpreter start-up.
        """
        if self._process is not None:
            raise HomeserverError(f"the homeserver at {self.base_url} is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._config_written:
            self._write_config()
            self._config_written = True
        with self.output_path.open("ab") as output:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own group: a Ctrl-C meant for the demo or pytest does not reach Synapse
                # half-way through a test, and `stop` can signal Synapse and anything it forks.
                process_group=0,
            )
        # Covers an interpreter that exits without reaching `stop` (an uncaught error in the
        # demo, a failing fixture): an orphaned Synapse would keep the port and a CPU busy.
        atexit.register(self.stop)
        self._wait_until_ready(timeout)

    def stop(self) -> None:
        """SIGTERM and wait; safe to call when the server is not running."""
        self._signal_and_wait(signal.SIGTERM, grace=30)

    def kill(self) -> None:
        """SIGKILL: the homeserver goes away without any chance to say goodbye."""
        self._signal_and_wait(signal.SIGKILL, grace=10)

    def restart(self) -> None:
        """Stop and start on the same port and data, so clients resume with their tokens."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- users -------------------------------------------------------------------------------

    def register(
        self,
        localpart: str,
        password: str,
        *,
        admin: bool = False,
        displayname: str | None = None,
    ) -> str:
        """Create a user through the shared-secret admin API; returns its full user id."""
        endpoint = "/_synapse/admin/v1/register"
        nonce = self._request("GET", endpoint)["nonce"]
        # The MAC Synapse documents for this API: NUL-separated fields, HMAC-SHA1, hex.
        fields = (nonce, localpart, password, "admin" if admin else "notadmin")
        message = b"\x00".join(field.encode() for field in fields)
        mac = hmac.new(self._shared_secret.encode(), message, hashlib.sha1)
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        user_id = f"@{localpart}:{self.server_name}"
        try:
            self._request("POST", endpoint, body)
        except HomeserverError as error:
            if "M_USER_IN_USE" in str(error):
                raise UserExists(f"{user_id} is already registered on {self.base_url}") from error
            raise
        return user_id

    # -- internals ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        config: dict[str, Any] = {
            "server_name": self.server_name,
            # Synapse only writes this file when it daemonizes; it is set so that a config
            # copied out of here for debugging does not need editing first.
            "pid_file": str(self.root / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # Client API only: with no federation listener the server cannot be
                    # reached by, or reach out to, anything but the local clients.
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.root / "homeserver.db")},
            },
            "media_store_path": str(self.root / "media_store"),
            "signing_key_path": str(self.root / "signing.key"),
            "log_config": str(self._write_log_config()),
            "report_stats": False,
            "enable_registration": False,
            "registration_shared_secret": self._shared_secret,
            # There is no internet here, and with no federation no remote keys are needed.
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "enable_metrics": False,
            "url_preview_enabled": False,
            # The default of 12 rounds costs ~0.3 s per login; tests log in a lot.
            "bcrypt_rounds": 4,
            # A cached /sync response can hide an event that a test just sent.
            "caches": {"sync_response_cache_duration": 0},
            # Presence updates wake every long-poll /sync for nothing a test or the demo wants.
            "presence": {"enabled": False},
            **_RATE_LIMITS,
        }
        # JSON is YAML, and the standard library writes it without pulling in PyYAML's types.
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")

    def _write_log_config(self) -> Path:
        path = self.root / "log_config.yaml"
        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                    "%(request)s - %(message)s"
                }
            },
            # Synapse's formatters expect `request` on every record; this filter adds it.
            "filters": {
                "context": {"()": "synapse.logging.context.LoggingContextFilter", "request": ""}
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "filename": str(self.log_path),
                    "formatter": "precise",
                    "filters": ["context"],
                }
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        path.write_text(json.dumps(log_config, indent=2) + "\n")
        return path

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._forget_process()
                raise HomeserverError(f"Synapse exited with status {code}:\n{self._log_tail()}")
            if self._answers_versions():
                return
            time.sleep(0.1)
        self.kill()
        raise HomeserverError(
            f"Synapse did not answer on {self.base_url} within {timeout:g}s:\n{self._log_tail()}"
        )

    def _answers_versions(self) -> bool:
        url = f"{self.base_url}/_matrix/client/versions"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                status: int = response.status
        # Refused while Synapse is still importing; URLError and timeouts are OSErrors too.
        except OSError:
            return False
        return status == 200

    def _signal_and_wait(self, signum: signal.Signals, *, grace: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            # The group, not just the pid, so nothing Synapse started outlives it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._forget_process()

    def _forget_process(self) -> None:
        self._process = None
        atexit.unregister(self.stop)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise HomeserverError(f"{method} {path}: HTTP {error.code}: {detail}") from error

    def _log_tail(self) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(lines))
        return "\n".join(parts) or "(Synapse wrote no log)"
