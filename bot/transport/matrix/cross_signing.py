"""The bot's cross-signing identity: a master key, and the self-signing key it vouches for, which
signs the bot's device.

Clients such as Element trust a device when its owner's self-signing key signed it; a device
nobody signed gets a warning on every message, and in the "exclude insecure devices" mode no
room keys at all. So the bot makes its three Ed25519 keys once (master, self-signing,
user-signing), keeps the private halves in the state directory (0600), and signs every device
it logs in as with the same self-signing key: a lost crypto store gives a new device, not a new
stranger. Replacing the keys is explicit (`opsbot keys reset`).

The wire formats are the Matrix spec's ("Signing JSON", "Cross-signing"): canonical JSON, and
signatures over the object without its `signatures` and `unsigned`.
"""

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nio import AsyncClient

from bot.core.files import PRIVATE_FILE, PUBLIC_FILE, write_file
from bot.core.ids import fingerprint, is_ed25519_key
from bot.core.logs import fact

log = logging.getLogger("opsbot.matrix")

KEYS_FILE = "cross_signing.json"
IDENTITY_FILE = "identity.json"  # public: what `opsbot keys` shows, written at every start
ROLES = ("master", "self_signing", "user_signing")

QUERY = "/_matrix/client/v3/keys/query"
UPLOAD_KEYS = "/_matrix/client/v3/keys/device_signing/upload"
UPLOAD_SIGNATURES = "/_matrix/client/v3/keys/signatures/upload"


class CrossSigningError(Exception):
    """Cross-signing cannot be done; the message says why and what to do."""


def canonical_json(value: Any) -> bytes:
    """The spec's canonical JSON: sorted keys, no whitespace, UTF-8 (not \\u escapes)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def unpadded(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unbase64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def public_of(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return unpadded(raw)


def _signable(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def sign(obj: Mapping[str, Any], key: Ed25519PrivateKey, user_id: str) -> dict[str, Any]:
    """`obj` with `user_id`'s signature by `key` added (kept: the signatures it had)."""
    signature = unpadded(key.sign(canonical_json(_signable(obj))))
    signatures = {u: dict(s) for u, s in obj.get("signatures", {}).items()}
    signatures.setdefault(user_id, {})[f"ed25519:{public_of(key)}"] = signature
    return {**obj, "signatures": signatures}


def verifies(obj: Mapping[str, Any], user_id: str, public: str) -> bool:
    """Whether `obj` carries a valid signature of `user_id` by the Ed25519 key `public`."""
    signature = obj.get("signatures", {}).get(user_id, {}).get(f"ed25519:{public}")
    if not isinstance(signature, str):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(_unbase64(public)).verify(
            _unbase64(signature), canonical_json(_signable(obj))
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def key_public(obj: Mapping[str, Any] | None) -> str | None:
    """The Ed25519 key of a cross-signing key object (`{"keys": {"ed25519:<pub>": "<pub>"}}`).
    The homeserver passes on what a client uploaded: a value that is not a key (a trailing
    newline, padding) is no key at all, never one to compare, show or pin."""
    keys = (obj or {}).get("keys", {})
    if not isinstance(keys, Mapping):
        return None
    found = [v for k, v in keys.items() if isinstance(k, str) and k.startswith("ed25519:")]
    return found[0] if len(found) == 1 and is_ed25519_key(found[0]) else None


@dataclass(frozen=True)
class CrossSigningKeys:
    user_id: str
    master: Ed25519PrivateKey
    self_signing: Ed25519PrivateKey
    user_signing: Ed25519PrivateKey

    @classmethod
    def generate(cls, user_id: str) -> "CrossSigningKeys":
        return cls(user_id, *(Ed25519PrivateKey.generate() for _ in ROLES))

    @property
    def master_public(self) -> str:
        return public_of(self.master)

    @property
    def self_signing_public(self) -> str:
        return public_of(self.self_signing)

    def _key(self, role: str, key: Ed25519PrivateKey) -> dict[str, Any]:
        public = public_of(key)
        return {"user_id": self.user_id, "usage": [role], "keys": {f"ed25519:{public}": public}}

    def upload_body(self) -> dict[str, Any]:
        """The body of /keys/device_signing/upload: the master key, and the two keys it signs."""
        return {
            "master_key": self._key("master", self.master),
            "self_signing_key": sign(
                self._key("self_signing", self.self_signing), self.master, self.user_id
            ),
            "user_signing_key": sign(
                self._key("user_signing", self.user_signing), self.master, self.user_id
            ),
        }

    def sign_device(self, device: Mapping[str, Any]) -> dict[str, Any]:
        """The device's key object, as the homeserver holds it, signed by the self-signing key."""
        return sign(
            {k: v for k, v in device.items() if k != "unsigned"}, self.self_signing, self.user_id
        )

    def save(self, path: Path) -> None:
        seeds = {
            role: unpadded(
                key.private_bytes(
                    serialization.Encoding.Raw,
                    serialization.PrivateFormat.Raw,
                    serialization.NoEncryption(),
                )
            )
            for role, key in zip(
                ROLES, (self.master, self.self_signing, self.user_signing), strict=True
            )
        }
        text = json.dumps({"user_id": self.user_id, **seeds}, indent=2) + "\n"
        write_file(path, text.encode(), PRIVATE_FILE)

    @classmethod
    def load(cls, path: Path) -> "CrossSigningKeys | None":
        """The keys saved in `path`, or None if there is no such file."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        try:
            keys = [Ed25519PrivateKey.from_private_bytes(_unbase64(data[r])) for r in ROLES]
            return cls(str(data["user_id"]), *keys)
        except (KeyError, TypeError, ValueError) as e:
            raise CrossSigningError(f"{path} is not a cross-signing key file ({e})") from None


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


class Homeserver:
    """The three endpoints cross-signing needs, through nio's client and its access token."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        response = await self.client.send(
            "POST",
            path,
            json.dumps(body),
            headers={
                "Authorization": f"Bearer {self.client.access_token}",
                "Content-Type": "application/json",
            },
        )
        async with response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = {}
        return response.status, answer if isinstance(answer, dict) else {}

    async def own_keys(self) -> dict[str, Any]:
        """The homeserver's answer to /keys/query for the bot itself."""
        user = self.client.user_id
        status, answer = await self.post(QUERY, {"device_keys": {user: []}})
        if status != 200:
            raise CrossSigningError(f"the homeserver refused /keys/query ({_why(status, answer)})")
        return answer

    async def upload_keys(self, keys: CrossSigningKeys, password: str | None) -> None:
        """Uploads the keys; answers the homeserver's request for interactive auth with the
        password, the only kind of auth a bot can do by itself."""
        body = keys.upload_body()
        status, answer = await self.post(UPLOAD_KEYS, body)
        if status == 401 and "flows" in answer:
            if password is None:
                raise CrossSigningError(
                    "the homeserver asks for the bot's password to upload its cross-signing "
                    "keys, and only an access token is configured: add password_file to [matrix]"
                )
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.client.user_id},
                "password": password,
                **({"session": answer["session"]} if "session" in answer else {}),
            }
            status, answer = await self.post(UPLOAD_KEYS, {**body, "auth": auth})
        if status != 200:
            raise CrossSigningError(
                f"uploading the cross-signing keys failed ({_why(status, answer)})"
            )

    async def sign_device(self, keys: CrossSigningKeys, device: Mapping[str, Any]) -> None:
        signed = keys.sign_device(device)
        body = {keys.user_id: {signed["device_id"]: signed}}
        status, answer = await self.post(UPLOAD_SIGNATURES, body)
        failures = answer.get("failures") or {}
        if status != 200 or failures:
            why = _why(status, answer) if status != 200 else json.dumps(failures)
            raise CrossSigningError(f"the homeserver did not take the device's signature ({why})")


def _why(status: int, answer: Mapping[str, Any]) -> str:
    return f"{status} {answer.get('errcode', '')} {answer.get('error', '')}".strip()


def own_device(answer: Mapping[str, Any], user_id: str, device_id: str) -> dict[str, Any] | None:
    device = answer.get("device_keys", {}).get(user_id, {}).get(device_id)
    return device if isinstance(device, dict) else None


def master_on_server(answer: Mapping[str, Any], user_id: str) -> str | None:
    return key_public(answer.get("master_keys", {}).get(user_id))


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
