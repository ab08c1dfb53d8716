"""A command run from a root shell beside the service reads the service's credentials where
systemd takes them from: the unit's `LoadCredential=` sources."""

from pathlib import Path

from bot.config.credentials import beside_the_service, source_of
from bot.config.host import Config
from bot.config.matrix import MatrixConfig
from bot.config.paths import HostPaths

UNIT = """\
[Service]
LoadCredential=password:/etc/opsbot/credentials/password
LoadCredential=signing_key:/etc/opsbot/credentials/signing_key
#LoadCredential=access_token:/etc/opsbot/credentials/access_token
LoadCredentialEncrypted=cross-signing:/etc/opsbot/credentials/cross-signing.cred
"""
RUN = Path("/run/credentials/opsbot.service")


def units(tmp_path: Path) -> Path:
    (tmp_path / "opsbot.service").write_text(UNIT)
    return tmp_path


def test_a_credential_not_there_is_read_from_the_unit_s_source(tmp_path: Path) -> None:
    assert source_of(RUN / "signing_key", units(tmp_path)) == Path(
        "/etc/opsbot/credentials/signing_key"
    )


def test_a_commented_or_encrypted_credential_and_any_other_file_stay_as_they_are(
    tmp_path: Path,
) -> None:
    found = units(tmp_path)
    assert source_of(RUN / "access_token", found) == RUN / "access_token"
    assert source_of(RUN / "cross-signing", found) == RUN / "cross-signing"
    assert source_of(Path("/etc/opsbot/key"), found) == Path("/etc/opsbot/key")


def test_without_the_unit_the_config_s_path_is_kept(tmp_path: Path) -> None:
    assert source_of(RUN / "password", tmp_path) == RUN / "password"


def test_the_password_and_the_signing_key_of_a_host_config_are_both_read_beside_the_service(
    tmp_path: Path,
) -> None:
    paths = HostPaths(Path("/var/lib/opsbot/state.git"), Path("/var/lib/opsbot"))
    matrix = MatrixConfig(
        "https://matrix.example.org", "@opsbot:example.org", RUN / "password", None
    )
    config = Config(Path("opsbot.toml"), paths, "@opsbot:example.org", RUN / "signing_key", matrix)
    seen = beside_the_service(config, units(tmp_path))
    assert seen.signing_key == Path("/etc/opsbot/credentials/signing_key")
    assert seen.matrix is not None
    assert seen.matrix.password_file == Path("/etc/opsbot/credentials/password")
    assert seen.matrix.access_token_file is None
