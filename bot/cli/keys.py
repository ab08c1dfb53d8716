"""Keys: `opsbot keygen`, the key that signs every commit, and `opsbot keys`, the bot's Matrix
identity and the operator's side of emoji verification."""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import host_config
from bot.config.host import DEFAULT_BOT_ID
from bot.core.errors import Refused
from bot.core.files import private_dir
from bot.core.text import say
from bot.state.signing import SigningKey

if TYPE_CHECKING:
    from bot.cli.host import Subcommands


def add_keygen(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "keygen", help="write an Ed25519 signing key and print its allowed-signers line"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="private key file (the .pub goes beside it)"
    )
    p.add_argument("--principal", default=DEFAULT_BOT_ID, help="the bot's Matrix id")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.set_defaults(func=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not args.force:
        say(f"opsbot keygen: {out} exists (use --force to replace it)", sys.stderr)
        return 2
    key = SigningKey.generate()
    if not out.parent.exists():
        private_dir(out.parent)
    key.save(out)
    say(f"wrote {out} and {out}.pub ({key.fingerprint()})")
    say("allowed-signers line (for gpg.ssh.allowedSignersFile):")
    say(key.allowed_signers_line(args.principal))
    return 0


def add_keys(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "keys",
        help="the bot's Matrix identity (master key, device), its reset, and emoji "
        "verifications from Element",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="show",
        choices=["show", "reset", "verifications", "confirm", "reject"],
        help="show (default); reset: new cross-signing keys, announced; verifications: the "
        "emoji verifications from Element waiting for you; confirm/reject ID: your decision "
        "after comparing the emojis with the person",
    )
    p.add_argument("id", nargs="?", type=int, help="the verification (confirm, reject)")
    p.add_argument("--config", type=Path, required=True, help="host config (TOML)")
    p.set_defaults(func=_keys)


def _keys(args: argparse.Namespace) -> int:
    """The bot's identity (`opsbot keys`), a new one (`opsbot keys reset`), and the operator's
    side of emoji verification (`verifications`, `confirm ID`, `reject ID`)."""
    from bot.service import keys  # imports nio, which most subcommands do not need

    config = host_config(args.config)
    if config is None:
        return 2
    if config.matrix is None:
        raise Refused(f"{args.config}: [matrix] is missing; the bot's keys are its Matrix identity")
    try:
        if args.action == "reset":
            lines = keys.reset_identity(config)
        elif args.action == "verifications":
            lines = keys.verifications(config)
        elif args.action in ("confirm", "reject"):
            if args.id is None:
                raise keys.KeysError(
                    f"which verification? opsbot keys {args.action} ID (opsbot keys "
                    "verifications lists them)"
                )
            lines = keys.decide(config, args.id, args.action)
        else:
            lines = keys.show(config)
    except keys.KeysError as e:
        say(f"opsbot keys {args.action}: {e}", sys.stderr)
        return 1
    say("\n".join(lines))
    return 0
