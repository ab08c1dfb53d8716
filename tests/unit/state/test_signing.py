"""Signatures from bot.state.signing, checked by the real ssh-keygen and git and by verify()."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dulwich.objects import Commit, Tree
from dulwich.repo import Repo

from bot.state.signing import SigningKey, SigningKeyError, sign_commit, verify_commit

PRINCIPAL = "@opsbot:example.org"


def _env(home: Path) -> dict[str, str]:
    # Keep the user's and the system's git config (signing settings, aliases) out of the test.
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home), "LC_ALL": "C"}


def _allowed_signers(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / "allowed_signers"
    path.write_text(key.allowed_signers_line(PRINCIPAL) + "\n")
    return path


def _ssh_verify(
    tmp_path: Path, allowed: Path, sig: bytes, data: bytes, namespace: str = "git"
) -> subprocess.CompletedProcess[bytes]:
    sig_path = tmp_path / "data.sig"
    sig_path.write_bytes(sig)
    return subprocess.run(
        [
            *("ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", PRINCIPAL),
            *("-n", namespace, "-s", str(sig_path)),
        ],
        input=data,
        capture_output=True,
        env=_env(tmp_path),
    )


def _commit() -> Commit:
    """An unsigned commit of the empty tree."""
    commit = Commit()
    commit.tree = Tree().id
    commit.author = commit.committer = f"opsbot <{PRINCIPAL}>".encode()
    commit.author_time = commit.commit_time = 1_700_000_000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"Test commit\n"
    return commit


def _signed_commit_repo(tmp_path: Path, *keys: SigningKey) -> Path:
    """A bare repo whose main is one commit, signed by each key in turn."""
    path = tmp_path / "state.git"
    path.mkdir()
    repo = Repo.init_bare(str(path))
    repo.object_store.add_object(Tree())
    commit = _commit()
    for key in keys:
        sign_commit(commit, key)
    repo.object_store.add_object(commit)
    repo.refs[b"refs/heads/main"] = commit.id
    repo.close()
    return path


def _git(tmp_path: Path, repo: Path, allowed: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={allowed}", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )


def test_ssh_keygen_accepts_signature(tmp_path: Path) -> None:
    key = SigningKey.generate()
    data = b"hello from opsbot\n"
    result = _ssh_verify(tmp_path, _allowed_signers(tmp_path, key), key.sign(data), data)
    assert result.returncode == 0, result.stderr
    assert b"Good" in result.stdout


def test_ssh_keygen_rejects_signature_over_different_bytes(tmp_path: Path) -> None:
    key = SigningKey.generate()
    allowed = _allowed_signers(tmp_path, key)
    result = _ssh_verify(tmp_path, allowed, key.sign(b"original"), b"tampered")
    assert result.returncode != 0


def test_ssh_keygen_rejects_signature_from_other_namespace(tmp_path: Path) -> None:
    key = SigningKey.generate()
    allowed = _allowed_signers(tmp_path, key)
    sig = key.sign(b"data", namespace="file")
    assert _ssh_verify(tmp_path, allowed, sig, b"data", namespace="file").returncode != 0
    assert _ssh_verify(tmp_path, allowed, sig, b"data", namespace="git").returncode != 0


def test_signature_armor_matches_ssh_keygen_layout() -> None:
    sig = SigningKey.generate().sign(b"x").decode()
    lines = sig.split("\n")
    assert lines[0] == "-----BEGIN SSH SIGNATURE-----"
    assert lines[-2:] == ["-----END SSH SIGNATURE-----", ""]
    body = lines[1:-2]
    assert all(len(line) == 70 for line in body[:-1])
    assert 0 < len(body[-1]) <= 70


def test_git_verify_commit_accepts_signed_commit(tmp_path: Path) -> None:
    key = SigningKey.generate()
    allowed = _allowed_signers(tmp_path, key)
    repo = _signed_commit_repo(tmp_path, key)

    verify = _git(tmp_path, repo, allowed, "verify-commit", "main")
    assert verify.returncode == 0, verify.stderr

    log = _git(tmp_path, repo, allowed, "log", "--show-signature", "-1", "main")
    assert log.returncode == 0, log.stderr
    assert f'Good "git" signature for {PRINCIPAL}' in log.stdout
    assert key.fingerprint() in log.stdout


def test_git_verify_commit_rejects_commit_signed_by_other_key(tmp_path: Path) -> None:
    allowed = _allowed_signers(tmp_path, SigningKey.generate())
    repo = _signed_commit_repo(tmp_path, SigningKey.generate())
    verify = _git(tmp_path, repo, allowed, "verify-commit", "main")
    assert verify.returncode != 0


def test_resigning_commit_replaces_old_signature(tmp_path: Path) -> None:
    new_key = SigningKey.generate()
    allowed = _allowed_signers(tmp_path, new_key)
    repo = _signed_commit_repo(tmp_path, SigningKey.generate(), new_key)
    verify = _git(tmp_path, repo, allowed, "verify-commit", "main")
    assert verify.returncode == 0, verify.stderr


def test_save_load_round_trip_keeps_public_key(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "id_ed25519"
    key.save(path)
    assert SigningKey.load(path).public_line() == key.public_line()
    assert (tmp_path / "id_ed25519.pub").read_text() == key.public_line() + "\n"


def test_saved_private_key_is_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    SigningKey.generate().save(path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_save_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    key = SigningKey.generate()
    key.save(path)
    key.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["id_ed25519", "id_ed25519.pub"]


def test_public_file_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "id_ed25519"
    key.save(path)
    result = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "id_ed25519.pub")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == key.fingerprint()


def test_load_accepts_key_made_by_ssh_keygen(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
        check=True,
        env=_env(tmp_path),
    )
    key = SigningKey.load(path)
    assert key.public_line() == " ".join((tmp_path / "id_ed25519.pub").read_text().split()[:2])


def test_load_missing_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-key"
    with pytest.raises(SigningKeyError, match="no-such-key"):
        SigningKey.load(path)


def test_load_garbage_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "garbage-key"
    path.write_bytes(b"this is not a key\n")
    with pytest.raises(SigningKeyError, match="garbage-key"):
        SigningKey.load(path)


def test_load_non_ed25519_key_names_path(tmp_path: Path) -> None:
    path = tmp_path / "rsa-key"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match=r"rsa-key.*ed25519"):
        SigningKey.load(path)


def _armor(blob: bytes) -> bytes:
    return b"-----BEGIN SSH SIGNATURE-----\n%s\n-----END SSH SIGNATURE-----\n" % (
        base64.b64encode(blob)
    )


def _blob(armored: bytes) -> bytes:
    return base64.b64decode(b"".join(armored.splitlines()[1:-1]))


def test_verify_accepts_own_signature() -> None:
    key = SigningKey.generate()
    assert key.verify(b"payload", key.sign(b"payload"))


def test_verify_rejects_signature_over_different_bytes() -> None:
    key = SigningKey.generate()
    assert not key.verify(b"tampered", key.sign(b"original"))


def test_verify_rejects_signature_by_other_key() -> None:
    sig = SigningKey.generate().sign(b"payload")
    assert not SigningKey.generate().verify(b"payload", sig)


def test_verify_rejects_signature_from_other_namespace() -> None:
    key = SigningKey.generate()
    sig = key.sign(b"payload", namespace="file")
    assert key.verify(b"payload", sig, namespace="file")
    assert not key.verify(b"payload", sig, namespace="git")


_GOOD = SigningKey.generate()
_GOOD_SIG = _GOOD.sign(b"payload")


@pytest.mark.parametrize(
    "armored",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"this is not a signature\n", id="garbage"),
        pytest.param(b"\xff\xfe\x00\x80" * 16, id="binary"),
        pytest.param(_GOOD_SIG[: len(_GOOD_SIG) // 2], id="armor-cut-short"),
        pytest.param(_GOOD_SIG.replace(b"-----END SSH SIGNATURE-----", b""), id="no-end-line"),
        pytest.param(
            _armor(_blob(_GOOD_SIG))[:40] + b"!" + _armor(_blob(_GOOD_SIG))[41:], id="bad-base64"
        ),
        pytest.param(_armor(_blob(_GOOD_SIG)[:-10]), id="blob-truncated"),
        pytest.param(_armor(_blob(_GOOD_SIG) + b"\0"), id="blob-trailing-byte"),
        pytest.param(_armor(b"SSHSIG\0\0\0\1\xff\xff\xff\xff"), id="huge-length"),
        pytest.param(_armor(_blob(_GOOD_SIG).replace(b"sha512", b"sha999")), id="unknown-hash"),
        pytest.param(_armor(b"NOTSIG" + _blob(_GOOD_SIG)[6:]), id="bad-magic"),
        pytest.param(_armor(_blob(_GOOD_SIG)[:9] + b"\2" + _blob(_GOOD_SIG)[10:]), id="version-2"),
    ],
)
def test_verify_returns_false_for_malformed_signature(armored: bytes) -> None:
    assert _GOOD.verify(b"payload", armored) is False


def test_verify_commit_accepts_signed_commit() -> None:
    key = SigningKey.generate()
    commit = _commit()
    sign_commit(commit, key)
    assert verify_commit(commit, key)


def test_verify_commit_accepts_signed_commit_read_back_from_repo(tmp_path: Path) -> None:
    key = SigningKey.generate()
    with Repo(str(_signed_commit_repo(tmp_path, key))) as repo:
        commit = repo[repo.refs[b"refs/heads/main"]]
    assert isinstance(commit, Commit)
    assert verify_commit(commit, key)


def test_verify_commit_rejects_commit_with_altered_message() -> None:
    key = SigningKey.generate()
    commit = _commit()
    sign_commit(commit, key)
    commit.message = b"Altered commit\n"
    assert not verify_commit(commit, key)


def test_verify_commit_rejects_unsigned_commit() -> None:
    assert not verify_commit(_commit(), SigningKey.generate())


@pytest.mark.parametrize("hashalg", ["sha512", "sha256"])
def test_verify_accepts_ssh_keygen_signature(tmp_path: Path, hashalg: str) -> None:
    key = SigningKey.generate()
    key_path = tmp_path / "id_ed25519"
    key.save(key_path)
    data_path = tmp_path / "data"
    data_path.write_bytes(b"signed by OpenSSH\n")
    subprocess.run(
        [
            *("ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(key_path)),
            *("-O", f"hashalg={hashalg}", str(data_path)),
        ],
        check=True,
        capture_output=True,
        env=_env(tmp_path),
    )
    sig = (tmp_path / "data.sig").read_bytes()
    assert _blob(sig).count(hashalg.encode()) == 1
    assert key.verify(b"signed by OpenSSH\n", sig)
