"""The signing key can come from outside the state directory (a systemd credential)."""

from pathlib import Path

import pytest

from bot.config import HostPaths
from bot.service.assemble import init_repo, open_engine
from bot.state.signing import SigningKey, SigningKeyError, verify_commit
from bot.transport.console import invocation


def test_commits_are_signed_with_the_configured_key_file(tmp_path: Path) -> None:
    credential = tmp_path / "credentials" / "signing_key"
    credential.parent.mkdir()
    key = SigningKey.generate()
    key.save(credential)
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=["@alice:example.org"], key_file=credential)
    engine = open_engine(paths, key_file=credential)
    reply = engine.run(invocation("@alice:example.org", "!deploy web 1.0.0 to dev"))
    assert reply is not None and reply.commit is not None
    commit = engine.repo.git[reply.commit.encode()]
    assert verify_commit(commit, key)  # type: ignore[arg-type]
    assert paths.allowed_signers.read_text().endswith(key.public_line() + "\n")
    assert not paths.signing_key.exists()  # the credential is read where it is, never copied


def test_a_key_that_is_not_an_allowed_signer_is_refused_and_the_file_left_alone(
    tmp_path: Path,
) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=["@alice:example.org"])
    signers = paths.allowed_signers.read_text()
    other = tmp_path / "other_key"
    SigningKey.generate().save(other)
    with pytest.raises(SigningKeyError, match="not an allowed signer"):
        open_engine(paths, key_file=other)
    assert paths.allowed_signers.read_text() == signers


def test_an_existing_repo_without_its_key_is_refused_not_given_a_new_one(tmp_path: Path) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=["@alice:example.org"])
    signers = paths.allowed_signers.read_text()
    paths.signing_key.unlink()
    with pytest.raises(SigningKeyError, match="--key FILE"):
        open_engine(paths)
    assert not paths.signing_key.exists()
    assert paths.allowed_signers.read_text() == signers


def test_a_missing_key_file_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=["@alice:example.org"])
    with pytest.raises(SigningKeyError, match="credentials/signing_key"):
        open_engine(paths, key_file=tmp_path / "credentials" / "signing_key")
    assert not (tmp_path / "credentials").exists()
