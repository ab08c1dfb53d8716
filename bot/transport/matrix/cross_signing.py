"""The bot's cross-signing identity: a master key, and the self-signing key it vouches for, which
signs the bot's device.

Clients such as Element trust a device when its owner's self-signing key signed it; a device
nobody signed gets a warning on every message, and in the "exclude insecure devices" mode no
room keys at all. So the bot makes its three Ed25519 keys once (master, self-signing,
user-signing), keeps the private halves in the state directory (0600), and signs every device
it logs in as with the same self-signing key: a lost crypto store gives a new device, not a new
stranger. Replacing the keys is explicit (`opsbot keys reset`).

The wire formats are the Matrix spec's ("Signing JSON", "Cross-signing"): the keys are in
cross_signing_keys.py, what they sign in signed_json.py, and the endpoints that take them in
homeserver_keys.py.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from nio import AsyncClient

from bot.core.files import PUBLIC_FILE, write_file
from bot.core.ids import fingerprint
from bot.core.logs import fact
from bot.transport.matrix.cross_signing_keys import KEYS_FILE, CrossSigningError, CrossSigningKeys
from bot.transport.matrix.homeserver_keys import Homeserver, master_on_server, own_device
from bot.transport.matrix.signed_json import verifies

log = logging.getLogger("opsbot.matrix")

IDENTITY_FILE = "identity.json"  # public: what `opsbot keys` shows, written at every start


@dataclass(frozen=True)
class Identity:
    """What people compare to verify the bot: public, written where `opsbot keys` reads it."""

    user_id: str
    device_id: str
    device_key: str | None  # the device's Ed25519 key
    master: str | None  # None: not cross-signed
    note: str = ""  # why not, when not

    def describe(self) -> str:
        if self.master is None:
            return f"not cross-signed ({self.note})" if self.note else "not cross-signed"
        return f"master key {fingerprint(self.master)}"

    def save(self, path: Path) -> None:
        data = {k: v for k, v in self.__dict__.items()}
        write_file(path, (json.dumps(data, indent=2) + "\n").encode(), PUBLIC_FILE)

    @classmethod
    def load(cls, path: Path) -> "Identity | None":
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


async def ensure(
    client: AsyncClient, state_dir: Path, password: str | None, keys_file: Path | None = None
) -> Identity:
    """Makes sure the bot is cross-signed: keys made and uploaded on the first start, the
    device signed with the same self-signing key ever after. Never makes new keys when the
    homeserver has some: replacing an identity is `opsbot keys reset`, said out loud. Keys from
    `keys_file` (a systemd credential) are only read: missing ones are an error, never made."""
    user, device_id = client.user_id, client.device_id
    assert device_id is not None and client.olm is not None
    device_key: str = client.olm.account.identity_keys["ed25519"]
    path = keys_file or state_dir / "matrix" / KEYS_FILE
    if keys_file is not None and CrossSigningKeys.load(keys_file) is None:
        raise CrossSigningError(
            f"no cross-signing keys in {keys_file} ([matrix] cross_signing_key_file): give the "
            "file the bot's keys were saved to, or leave the key out to keep them in the state "
            "directory"
        )

    def unsigned(note: str) -> Identity:
        return Identity(user, device_id, device_key, None, note)

    server = Homeserver(client)
    if client.should_upload_keys:  # a new device: its keys must be there to be signed
        await client.keys_upload()
    answer = await server.own_keys()
    on_server = master_on_server(answer, user)
    keys = CrossSigningKeys.load(path)
    if keys is None and on_server is not None:
        fact(
            log,
            "cross-signing identity exists on the homeserver but its private keys are "
            "lost; the device stays unsigned until: opsbot keys reset",
            logging.WARNING,
            master=fingerprint(on_server),
            file=path,
        )
        return unsigned("key lost: run opsbot keys reset")
    if keys is not None and on_server is not None and on_server != keys.master_public:
        fact(
            log,
            "the homeserver holds another cross-signing identity than the keys in the "
            "state directory (reset elsewhere?); the device stays unsigned until: opsbot keys "
            "reset",
            logging.WARNING,
            master=fingerprint(on_server),
            file=path,
        )
        return unsigned("identity differs from the homeserver's: run opsbot keys reset")
    if keys is None:
        keys = CrossSigningKeys.generate(user)
        keys.save(path)  # before the upload: keys on the server we do not hold help nobody
    if on_server is None:
        await server.upload_keys(keys, password)
        fact(log, "cross-signing keys uploaded", master=fingerprint(keys.master_public))
    device = own_device(answer, user, device_id)
    if device is None or on_server is None:  # just uploaded: ask again
        device = own_device(await server.own_keys(), user, device_id)
    if device is None or device.get("keys", {}).get(f"ed25519:{device_id}") != device_key:
        # Signing a key that is not our own would vouch for someone else's device.
        raise CrossSigningError(f"the homeserver's keys for device {device_id} are not ours")
    if not verifies(device, user, keys.self_signing_public):
        await server.sign_device(keys, device)
        fact(log, "device cross-signed", device=device_id, master=fingerprint(keys.master_public))
    return Identity(user, device_id, device_key, keys.master_public)


async def reset(
    client: AsyncClient, state_dir: Path, password: str | None
) -> tuple[Identity, bool]:
    """New keys, replacing the ones on the homeserver (which asks for the password), and the
    bot's device signed with them when its key is the one the bot last recorded (else the bot
    signs it at its next start); the identity, and whether the device was signed.

    The new keys go to a side file first and replace the old file only once the homeserver took
    them, so a failed upload leaves the bot's identity as it was."""
    user, device_id = client.user_id, client.device_id
    assert device_id is not None
    path = state_dir / "matrix" / KEYS_FILE
    pending = path.with_name(KEYS_FILE + ".new")
    keys = CrossSigningKeys.generate(user)
    keys.save(pending)
    server = Homeserver(client)
    try:
        await server.upload_keys(keys, password)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    pending.replace(path)
    recorded = Identity.load(state_dir / "matrix" / IDENTITY_FILE)
    device = own_device(await server.own_keys(), user, device_id)
    key = (device or {}).get("keys", {}).get(f"ed25519:{device_id}")
    signed = (
        device is not None
        and recorded is not None
        and recorded.device_id == device_id
        and recorded.device_key == key
    )
    if signed:
        assert device is not None
        await server.sign_device(keys, device)
    identity = Identity(user, device_id, key, keys.master_public)
    identity.save(state_dir / "matrix" / IDENTITY_FILE)
    return identity, signed


async def identify(
    client: AsyncClient, state_dir: Path, password: str | None, keys_file: Path | None = None
) -> Identity:
    """`ensure`, for the start of the service: a failure is logged once and the bot goes on
    unsigned (people see a warning, which is better than no bot); the identity is recorded for
    `opsbot keys`."""
    try:
        identity = await ensure(client, state_dir, password, keys_file)
    except CrossSigningError as e:
        fact(log, "not cross-signed", logging.WARNING, error=str(e))
        identity = _unsigned(client, "see the bot's log")
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        fact(
            log,
            "not cross-signed: the homeserver did not answer",
            logging.WARNING,
            error=f"{type(e).__name__}: {e}",
        )
        identity = _unsigned(client, "the homeserver did not answer at the start")
    identity.save(state_dir / "matrix" / IDENTITY_FILE)
    return identity


def _unsigned(client: AsyncClient, note: str) -> Identity:
    assert client.device_id is not None
    key = client.olm.account.identity_keys["ed25519"] if client.olm is not None else None
    return Identity(client.user_id, client.device_id, key, None, note)
