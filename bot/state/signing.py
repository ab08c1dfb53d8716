"""Ed25519 commit signing and verification in OpenSSH's SSHSIG format, without ssh-keygen or gpg.

The blob layout follows OpenSSH's PROTOCOL.sshsig; `git verify-commit` with
gpg.format=ssh checks it by running `ssh-keygen -Y verify`.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from dulwich.objects import Commit

from bot.core.files import write_file

_MAGIC = b"SSHSIG"
_SIG_VERSION = 1
_HASH_ALG = b"sha512"
# The hashes PROTOCOL.sshsig allows; ssh-keygen signs with sha512 unless told otherwise.
_VERIFY_HASHES = frozenset({b"sha256", b"sha512"})
_KEY_TYPE = b"ssh-ed25519"
_ARMOR_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = b"-----END SSH SIGNATURE-----"
# ssh-keygen wraps the armored base64 at 70 columns; matching it keeps our output byte-identical.
_ARMOR_WIDTH = 70


class SigningKeyError(Exception):
    """A signing key file is missing, unreadable, or not an unencrypted Ed25519 key."""


def _string(data: bytes) -> bytes:
    """Encode an SSH wire-format string: uint32 length, then the bytes."""
    return struct.pack(">I", len(data)) + data


def _signed_data(namespace: bytes, hash_alg: bytes, digest: bytes) -> bytes:
    """The bytes the Ed25519 signature covers; the reserved field is always signed empty.

    The namespace is signed too, so a signature made for git can't be replayed elsewhere.
    """
    return _MAGIC + _string(namespace) + _string(b"") + _string(hash_alg) + _string(digest)


class _WireReader:
    """Reads SSH wire-format fields in order; raises ValueError if the buffer runs short."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise ValueError("truncated SSH signature")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise ValueError("trailing bytes in SSH signature")


class _Sshsig(NamedTuple):
    """The fields of a decoded SSHSIG blob that verification needs."""

    public_key: bytes  # wire-format public key blob
    namespace: bytes
    hash_alg: bytes
    signature: bytes  # raw 64-byte Ed25519 signature


def _dearmor(armored: bytes) -> bytes:
    """Strip the BEGIN/END lines and base64-decode the body; ValueError if that fails."""
    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        raise ValueError("not an armored SSH signature")
    return base64.b64decode(b"".join(lines[1:-1]), validate=True)


def _parse_sshsig(blob: bytes) -> _Sshsig:
    """Decode an SSHSIG blob holding an Ed25519 signature; ValueError if it is anything else."""
    reader = _WireReader(blob)
    if reader.take(len(_MAGIC)) != _MAGIC:
        raise ValueError("not an SSHSIG blob")
    if reader.uint32() != _SIG_VERSION:
        raise ValueError("unsupported SSHSIG version")
    public_key = reader.string()
    namespace = reader.string()
    reader.string()  # reserved; OpenSSH ignores its contents too
    hash_alg = reader.string()
    sig_blob = reader.string()
    reader.finish()
    if hash_alg not in _VERIFY_HASHES:
        raise ValueError("unsupported SSHSIG hash algorithm")

    sig_reader = _WireReader(sig_blob)
    if sig_reader.string() != _KEY_TYPE:
        raise ValueError("not an Ed25519 signature")
    signature = sig_reader.string()
    sig_reader.finish()
    return _Sshsig(public_key, namespace, hash_alg, signature)


class SigningKey:
    """An Ed25519 key that signs commits in SSH signature format."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def generate(cls) -> SigningKey:
        """Create a fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Read an unencrypted OpenSSH Ed25519 private key file."""
        try:
            data = path.read_bytes()
        except OSError as e:
            raise SigningKeyError(f"cannot read signing key {path}: {e.strerror or e}") from e
        try:
            key = serialization.load_ssh_private_key(data, password=None)
        # TypeError is what cryptography raises for a passphrase-protected key.
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise SigningKeyError(f"not a usable OpenSSH private key: {path}: {e}") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"signing key {path} is not ed25519")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the private key (mode 0600) to `path` and the public line to `path`.pub."""
        private = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        write_file(path, private, 0o600)
        pub = path.with_name(path.name + ".pub")
        write_file(pub, (self.public_line() + "\n").encode(), 0o644)

    def _public_blob(self) -> bytes:
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _string(_KEY_TYPE) + _string(raw)

    def public_line(self) -> str:
        """The key as `ssh-ed25519 AAAA...`, without a comment."""
        return f"{_KEY_TYPE.decode()} {base64.b64encode(self._public_blob()).decode()}"

    def allowed_signers_line(self, principal: str) -> str:
        """A line for git's gpg.ssh.allowedSignersFile, limited to the git namespace."""
        return f'{principal} namespaces="git" {self.public_line()}'

    def fingerprint(self) -> str:
        """The `SHA256:...` fingerprint, as `ssh-keygen -l` prints it."""
        digest = hashlib.sha256(self._public_blob()).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    def sign(self, data: bytes, namespace: str = "git") -> bytes:
        """Return an armored SSH signature over `data` in `namespace`."""
        ns = namespace.encode()
        raw_sig = self._key.sign(_signed_data(ns, _HASH_ALG, hashlib.sha512(data).digest()))
        blob = (
            _MAGIC
            + struct.pack(">I", _SIG_VERSION)
            + _string(self._public_blob())
            + _string(ns)
            + _string(b"")
            + _string(_HASH_ALG)
            + _string(_string(_KEY_TYPE) + _string(raw_sig))
        )
        b64 = base64.b64encode(blob)
        lines = [b64[i : i + _ARMOR_WIDTH] for i in range(0, len(b64), _ARMOR_WIDTH)]
        return b"\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END, b""])

    def verify(self, data: bytes, armored: bytes, namespace: str = "git") -> bool:
        """True iff `armored` is an SSH signature by this key over `data` in `namespace`.

        Anything malformed, foreign or tampered gives False rather than an exception.
        """
        try:
            sig = _parse_sshsig(_dearmor(armored))
            if sig.public_key != self._public_blob() or sig.namespace != namespace.encode():
                return False
            digest = hashlib.new(sig.hash_alg.decode(), data).digest()
            self._key.public_key().verify(
                sig.signature, _signed_data(sig.namespace, sig.hash_alg, digest)
            )
        except (ValueError, InvalidSignature):
            return False
        return True


def sign_commit(commit: Commit, key: SigningKey) -> None:
    """Sets commit.gpgsig to the SSH signature over the commit's unsigned raw form."""
    commit.gpgsig = key.sign(commit.raw_without_sig())


def verify_commit(commit: Commit, key: SigningKey) -> bool:
    """True iff the commit carries a valid SSH signature by `key` over its unsigned raw form."""
    if commit.gpgsig is None:
        return False
    return key.verify(commit.raw_without_sig(), commit.gpgsig)


def signer_of(commit: Commit, namespace: str = "git") -> bytes | None:
    """The public key (SSH wire blob) whose valid signature the commit carries, or None when it
    is unsigned, malformed or does not verify. Which keys to accept is the caller's question."""
    if commit.gpgsig is None:
        return None
    try:
        sig = _parse_sshsig(_dearmor(commit.gpgsig))
        if sig.namespace != namespace.encode():
            return None
        key_reader = _WireReader(sig.public_key)
        if key_reader.string() != _KEY_TYPE:
            return None
        public = Ed25519PublicKey.from_public_bytes(key_reader.string())
        key_reader.finish()
        digest = hashlib.new(sig.hash_alg.decode(), commit.raw_without_sig()).digest()
        public.verify(sig.signature, _signed_data(sig.namespace, sig.hash_alg, digest))
    except (ValueError, InvalidSignature):
        return None
    return sig.public_key


def public_blob(line: str) -> bytes | None:
    """The key of one `ssh-ed25519 AAAA...` (as in an allowed-signers or .pub file), or None."""
    fields = line.split()
    for i, word in enumerate(fields[:-1]):
        if word == _KEY_TYPE.decode():
            try:
                blob = base64.b64decode(fields[i + 1], validate=True)
            except ValueError:
                return None
            return blob if blob.startswith(_string(_KEY_TYPE)) else None
    return None
