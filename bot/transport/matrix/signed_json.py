"""Signed JSON, as the Matrix spec writes it ("Signing JSON"): canonical JSON, and Ed25519
signatures over an object without its `signatures` and `unsigned`, keys in unpadded base64.

Cross-signing is made of these, and so is a verification's commitment (sas.py)."""

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.core.ids import is_ed25519_key


def canonical_json(value: Any) -> bytes:
    """The spec's canonical JSON: sorted keys, no whitespace, UTF-8 (not \\u escapes)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def unpadded(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def unbase64(text: str) -> bytes:
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
        Ed25519PublicKey.from_public_bytes(unbase64(public)).verify(
            unbase64(signature), canonical_json(_signable(obj))
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
