"""Where a credential of the service comes from, for a command run beside it.

The host config names the files systemd hands the service (`/run/credentials/opsbot.service/
password`), and those exist only while the service runs. `opsbot check --live`, `opsbot backup`
and `opsbot migrate`, run from a root shell before or beside it, read the same secrets from
where systemd takes them: the `LoadCredential=NAME:SOURCE` lines of the installed unit.
"""

import dataclasses
from pathlib import Path

from bot.config.host import Config

CREDENTIALS = Path("/run/credentials")
UNITS = Path("/etc/systemd/system")


def source_of(path: Path, units: Path = UNITS) -> Path:
    """`path` itself, unless it is a service's credential that is not there now: then the
    file its unit loads it from (an encrypted one, `LoadCredentialEncrypted=`, stays as is)."""
    try:
        unit, name = path.relative_to(CREDENTIALS).parts
    except ValueError:
        return path
    if path.exists():
        return path
    try:
        lines = (units / unit).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return path
    for line in lines:
        key, _, value = line.strip().partition("=")
        named, _, source = value.partition(":")
        if key == "LoadCredential" and named == name and source.startswith("/"):
            return Path(source)
    return path


def beside_the_service(config: Config, units: Path = UNITS) -> Config:
    """The host config as a command run beside the service reads its secrets."""
    matrix = config.matrix
    if matrix is not None:
        matrix = dataclasses.replace(
            matrix,
            password_file=matrix.password_file and source_of(matrix.password_file, units),
            access_token_file=matrix.access_token_file
            and source_of(matrix.access_token_file, units),
            cross_signing_key_file=matrix.cross_signing_key_file
            and source_of(matrix.cross_signing_key_file, units),
        )
    return dataclasses.replace(
        config, signing_key=source_of(config.signing_key, units), matrix=matrix
    )
