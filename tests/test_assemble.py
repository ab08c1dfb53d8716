"""The signing key can come from outside the state directory (a systemd credential)."""

from pathlib import Path

import pytest

from bot.assemble import init_repo, open_engine
from bot.config import HostPaths
from bot.state.signing import SigningKey, SigningKeyError, verify_commit
from bot.transport.console import invocation


def test_commits_are_signed_with_the_configured_key_file(tmp_path: Path) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=["@alice:example.org"])
    credential = tmp_path / "credentials" / "signing_key"
    credential.parent.mkdir()
    key = SigningKey.generate()
    key.save(credential)
    engine = open_engine(paths, key_file=credential)
    reply = engine.run(invocation("@alice:example.org", "!deploy web 1.0.0 to dev"))
    assert reply is not None and reply.commit is not None
    commit = engine.repo.git[reply.commit.encode()]
    assert verify_commit(commit, key)  # type: ignore[arg-type]
    assert paths.allowed_signers.read_text().endswith(key.public_line() + "\n")


def test_a_missing_key_file_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=["@alice:example.org"])
    with pytest.raises(SigningKeyError, match="credentials/signing_key"):
        open_engine(paths, key_file=tmp_path / "credentials" / "signing_key")
    assert not (tmp_path / "credentials").exists()
