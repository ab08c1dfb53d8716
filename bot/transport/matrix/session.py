"""Logging in once, and being the same device ever after.

The device id, its access token, the crypto store and the pickle key that encrypts that store all
live in `<state_dir>/matrix/`. A restart restores the session from there. If the crypto store is
gone, the device's keys are gone with it: reusing the device id would make the homeserver refuse
our new keys and peers distrust us, so opsbot logs in as a new device and says so.
"""

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse

from bot.config.matrix import MatrixConfig
from bot.core.logs import fact
from bot.transport.matrix.store import CryptoStore

log = logging.getLogger("opsbot.matrix")

STORE_NAME = "crypto.db"


class LoginFailed(Exception):
    """The bot cannot be itself on the homeserver; the message says why and what to do."""


@dataclass(frozen=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


class Session:
    def __init__(self, config: MatrixConfig, state_dir: Path) -> None:
        self.config = config
        self.dir = state_dir / "matrix"
        self.store_dir = self.dir / "crypto"
        self.credentials_file = self.dir / "credentials.json"

    async def open(self) -> AsyncClient:
        """A logged-in client with its crypto store loaded."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store_dir.mkdir(exist_ok=True, mode=0o700)
        client = AsyncClient(
            self.config.homeserver,
            self.config.user_id,
            store_path=str(self.store_dir),
            config=AsyncClientConfig(
                store=CryptoStore,
                store_name=STORE_NAME,
                pickle_key=_secret(self.dir / "pickle_key"),
                encryption_enabled=True,
                # We advance the sync position ourselves, after the events are handled.
                store_sync_tokens=False,
                request_timeout=60,
                # Few retries inside nio: our own loop logs the outage and backs off, capped.
                max_timeouts=2,
            ),
        )
        saved = self._saved()
        store_exists = (self.store_dir / STORE_NAME).exists()
        if saved and saved.user_id == self.config.user_id and store_exists:
            client.restore_login(saved.user_id, saved.device_id, saved.access_token)
            fact(log, "session restored", device=saved.device_id)
            return client
        if saved and not store_exists:
            fact(
                log,
                "crypto store is missing; logging in as a new device rather than reusing "
                "a device whose keys are gone",
                level=logging.WARNING,
                old_device=saved.device_id,
            )
        try:
            await self._login(client)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            await client.close()
            raise LoginFailed(
                f"cannot reach the homeserver at {self.config.homeserver} ({e}); check "
                "[matrix] homeserver in the host config, and that the server is up"
            ) from None
        except BaseException:
            await client.close()  # no "Unclosed client session" on the way out
            raise
        return client

    async def _login(self, client: AsyncClient) -> None:
        cfg = self.config
        if cfg.password_file is not None:
            response = await client.login(_read(cfg.password_file), device_name="opsbot")
            if not isinstance(response, LoginResponse):
                raise LoginFailed(f"login as {cfg.user_id} failed: {response.message}")
            device, token = response.device_id, response.access_token
        else:
            assert cfg.access_token_file is not None
            token = _read(cfg.access_token_file)
            client.access_token = token
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse) or who.device_id is None:
                raise LoginFailed(f"the access token in {cfg.access_token_file} was not accepted")
            device = who.device_id
            saved = self._saved()
            if saved and saved.device_id == device:
                raise LoginFailed(
                    f"the crypto store of device {device} is lost, and an access token is bound "
                    "to its device: configure password_file, or issue a token for a new device"
                )
            client.restore_login(cfg.user_id, device, token)
        self._save(Credentials(cfg.homeserver, cfg.user_id, device, token))
        fact(log, "logged in", device=device)

    def _saved(self) -> Credentials | None:
        try:
            return Credentials(**json.loads(self.credentials_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, credentials: Credentials) -> None:
        _write_private(self.credentials_file, json.dumps(asdict(credentials)))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as e:
        raise LoginFailed(f"cannot read {path}: {e.strerror}") from None


def _secret(path: Path) -> str:
    """A random secret kept in `path`, created on first use."""
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
