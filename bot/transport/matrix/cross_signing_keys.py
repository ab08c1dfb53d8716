"""The bot's cross-signing keys: a master key, the self-signing key it vouches for (which signs
the bot's devices), and the user-signing key. Made once; the private halves are kept in a file
only the bot reads (0600), so a lost crypto store gives a new device, not a new stranger."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.core.files import PRIVATE_FILE, write_file
from bot.transport.matrix.signed_json import public_of, sign, unbase64, unpadded

KEYS_FILE = "cross_signing.json"
ROLES = ("master", "self_signing", "user_signing")


class CrossSigningError(Exception):
    """Cross-signing cannot be done; the message says why and what to do."""


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
            keys = [Ed25519PrivateKey.from_private_bytes(unbase64(data[r])) for r in ROLES]
            return cls(str(data["user_id"]), *keys)
        except (KeyError, TypeError, ValueError) as e:
            raise CrossSigningError(f"{path} is not a cross-signing key file ({e})") from None
