"""A backup's manifest: which repo and which bot it is of, where each file goes back to, with
its size and checksum; and the checks a restore makes of a backup before it writes anything
(every path of the shape a backup writes, every file regular and matching its checksum)."""

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from bot import __version__
from bot.core.errors import OpsbotError
from bot.core.ids import is_commit_id
from bot.core.text import clean, clip
from bot.service.backup_paths import UnsafePath, check_destination, read_regular, relative_name
from bot.service.upgrade import Host

MANIFEST = "manifest.json"
FORMAT = 1
STATE, KEY = "state", "key"  # where a file goes back to: the state directory, or key_file
_SHA256 = re.compile("[0-9a-f]{64}")


class BackupError(OpsbotError):
    code = "backup"


@dataclass(frozen=True)
class Entry:
    path: str  # in the backup directory, `/`-separated
    to: str  # STATE (then `path` minus "state/" is where it goes) or KEY
    size: int
    sha256: str
    mode: int
    sqlite: bool


@dataclass(frozen=True)
class Manifest:
    bot_id: str
    root: str  # the repo's first commit: which repo this is
    main: str  # main's tip when the backup began
    proposals: dict[str, str]  # proposal branch -> tip, then
    files: list[Entry]
    runs: str = ""  # refs/opsbot/runs' tip once runs.sqlite was copied ("": no run yet)
    release: str = __version__
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format: int = FORMAT

    def encode(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        path = directory / MANIFEST
        if not directory.is_dir():
            what = "no such directory" if not directory.exists() else "not a directory"
            raise BackupError(f"{shown(directory)}: {what}; give the backup's directory")
        try:
            text = read_regular(directory, PurePosixPath(MANIFEST))
        except FileNotFoundError:
            raise BackupError(
                f"{directory} has no {MANIFEST}: not a complete backup (a backup cut short "
                "writes none); use another one"
            ) from None
        except UnsafePath as e:
            raise BackupError(f"{shown(e)}: not a backup opsbot wrote; use another one") from None
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise BackupError(f"{path}: format {data.get('format')!r}, this opsbot reads 1")
            files = [Entry(**entry) for entry in data.pop("files")]
            return cls(files=files, **data)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise BackupError(f"{path} does not read as a backup manifest ({e})") from None


def checked(host: Host, source: Path, manifest: Manifest) -> list[tuple[Entry, Path, bytes]]:
    """Each file of the backup, where it goes back to and its bytes; BackupError, saying which
    and why, if any path is not of the shape `backup` writes, any file is not a regular file
    matching its checksum, or any target is not a plain file inside the state directory."""
    found: list[tuple[Entry, Path, bytes]] = []
    targets: set[Path] = set()
    for entry in manifest.files:
        check_fields(entry)
        try:
            if entry.to == KEY:
                if entry.path != f"{KEY}/signing_key":
                    raise UnsafePath(f"the signing key is always {KEY}/signing_key")
                target = host.key_file
            elif entry.to == STATE:
                relative = relative_name(entry.path, STATE)
                target = host.paths.state_dir / relative
                if target.is_relative_to(host.paths.repo):
                    raise UnsafePath(f"it is inside the state repo {host.paths.repo}")
                check_destination(host.paths.state_dir, relative)
            else:
                raise UnsafePath(f"it goes back to {entry.to!r}, neither {STATE} nor {KEY}")
            if any(target.is_relative_to(t) or t.is_relative_to(target) for t in targets):
                raise UnsafePath("another file of the backup goes to the same place")
            targets.add(target)
            data = read_regular(source, PurePosixPath(*entry.path.split("/")))
        except UnsafePath as e:
            raise BackupError(
                f"the backup's manifest names {shown(repr(entry.path))}, which restore refuses: "
                f"{shown(e)}; nothing was restored (the backup was altered: use another one)"
            ) from None
        except FileNotFoundError:
            raise BackupError(
                f"{shown(source / entry.path)} is missing: the backup is incomplete"
            ) from None
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise BackupError(
                f"{shown(source / entry.path)} does not match its checksum in the manifest: "
                "the backup is damaged"
            )
        found.append((entry, target, data))
    return found


def check_fields(entry: Entry) -> None:
    fields = (
        isinstance(entry.path, str)
        and isinstance(entry.to, str)
        and type(entry.size) is int
        and isinstance(entry.sha256, str)
        and _SHA256.fullmatch(entry.sha256) is not None
        and type(entry.mode) is int
        and isinstance(entry.sqlite, bool)
    )
    if not fields:
        raise BackupError(
            f"the backup's manifest has an entry that is not a file's: {shown(repr(entry))}"
        )


def check_tips(manifest: Manifest) -> None:
    tips = [manifest.main, manifest.root, *(manifest.runs and [manifest.runs])]
    if not isinstance(manifest.proposals, dict) or not all(
        isinstance(t, str) and is_commit_id(t) for t in [*tips, *manifest.proposals.values()]
    ):
        raise BackupError("the backup's manifest names a commit that is not a commit id")


def shown(text: object) -> str:
    """Outside text (the backup's) as it may reach a terminal: on one line, clipped; a name
    from the manifest quoted, so that its spaces and escapes show."""
    return clean(clip(text if isinstance(text, str) else str(text), 300))
