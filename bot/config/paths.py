"""Where opsbot keeps its files on the host: the state repo, and beside it the host-only files
(the signing key, the index, the journals). The key never enters the repo."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostPaths:
    """Where the repo and the host-only files (key, index) live."""

    repo: Path
    state_dir: Path

    @classmethod
    def beside(cls, repo: Path, state_dir: Path | None = None) -> "HostPaths":
        """The CLI default: the state directory is `<repo>.opsbot/`, next to the repo."""
        repo = Path(repo).absolute()
        return cls(
            repo, Path(state_dir).absolute() if state_dir else repo.with_name(repo.name + ".opsbot")
        )

    @property
    def signing_key(self) -> Path:
        return self.state_dir / "signing_key"

    @property
    def allowed_signers(self) -> Path:
        return self.state_dir / "allowed_signers"

    @property
    def index(self) -> Path:
        return self.state_dir / "index.sqlite"

    @property
    def in_force(self) -> Path:
        """The tip of main opsbot wrote or an admin adopted (bot/state/in_force.py)."""
        return self.state_dir / "in_force"

    @property
    def handled(self) -> Path:
        """Where releases up to 0.3.0 kept the handled invocations, now in the outbox's file
        (bot/state/handled.py): read once, by the migration."""
        return self.state_dir / "handled.sqlite"

    @property
    def outbox(self) -> Path:
        """The effects owed after each commit (bot/state/outbox.py)."""
        return self.state_dir / "outbox.sqlite"
