"""[matrix]: the homeserver, the bot's account and how it logs in, and whom it shares room keys
with. Without this section opsbot has no Matrix client (the console, the CLI)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config.problems import Get, Problem
from bot.core.ids import USER_ID

MATRIX_KEYS = frozenset(
    {
        "homeserver",
        "user_id",
        "password_file",
        "access_token_file",
        "commands_per_minute",
        "share_keys_with",
        "cross_signing_key_file",
    }
)


@dataclass(frozen=True)
class MatrixConfig:
    homeserver: str
    user_id: str
    password_file: Path | None
    access_token_file: Path | None
    commands_per_minute: int = 30
    # "cross-signed": room keys only for devices their owner cross-signed (MSC4153); or "all"
    share_keys_with: str = "cross-signed"
    # The bot's cross-signing keys from a file of the operator's (a systemd credential), only
    # ever read; None: `<state_dir>/matrix/cross_signing.json`, made on the first start.
    cross_signing_key_file: Path | None = None


def parse_matrix(data: dict[str, Any], problem: Problem, get: Get) -> MatrixConfig | None:
    if "matrix" not in data:
        return None
    homeserver = get("matrix", "homeserver", required=True)
    user_id = get("matrix", "user_id", required=True)
    password = get("matrix", "password_file")
    token = get("matrix", "access_token_file")
    if homeserver and not homeserver.startswith(("https://", "http://")):
        problem("matrix", "homeserver", "must start with https:// (or http:// for a local test)")
    if user_id and not USER_ID.fullmatch(user_id):
        problem(
            "matrix", "user_id", f"{user_id!r} is not a Matrix user id like @opsbot:example.org"
        )
    if not password and not token:
        problem("matrix", "password_file", "give password_file or access_token_file")
    table = data["matrix"] if isinstance(data["matrix"], dict) else {}
    rate = table.get("commands_per_minute", 30)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        problem("matrix", "commands_per_minute", "must be a whole number >= 1")
        rate = 30
    share = table.get("share_keys_with", "cross-signed")
    if share not in ("cross-signed", "all"):
        problem("matrix", "share_keys_with", 'must be "cross-signed" (the default) or "all"')
        share = "cross-signed"
    keys = get("matrix", "cross_signing_key_file")
    if not (homeserver and user_id):
        return None
    return MatrixConfig(
        homeserver,
        user_id,
        Path(password) if password else None,
        Path(token) if token else None,
        rate,
        share,
        Path(keys) if keys else None,
    )
