"""Putting the layers together: the repo, its index, the signing key and the engine."""

from pathlib import Path

from dulwich.repo import Repo

from bot.config import DEFAULT_BOT_ID, HostPaths
from bot.engine.context import DeviceDirectory
from bot.engine.dispatch import Engine
from bot.features.catalog import default_registry
from bot.files import PUBLIC_FILE, at_most, private_dir, write_file
from bot.state import layout
from bot.state.handled import Handled
from bot.state.index import Index
from bot.state.message import Message
from bot.state.policy import add_admin
from bot.state.repo import Identity, StateRepo
from bot.state.signers import AllowedSigners
from bot.state.signing import SigningKey

TEMPLATE = Path(__file__).resolve().parent.parent / "state_repo_template"


def bot_identity(user_id: str) -> Identity:
    return Identity("opsbot", user_id)


def bot_id_of(repo: Path) -> str:
    """The bot's Matrix id, remembered in the repo's own (unversioned) Git config at init."""
    config = Repo(str(repo)).get_config()
    try:
        return config.get((b"opsbot",), b"botId").decode()
    except KeyError:
        return DEFAULT_BOT_ID


def ensure_key(paths: HostPaths, bot_id: str, key_file: Path | None = None) -> SigningKey:
    """Loads the signing key, creating it (and the allowed-signers file) on first use.

    A `key_file` elsewhere than the state directory (a systemd credential) is only ever read:
    its owner made it, and a missing one is an error rather than a reason to make a new key."""
    private_dir(paths.state_dir)  # also when it was there already, and looser
    if key_file is not None and key_file != paths.signing_key:
        key = SigningKey.load(key_file)
    elif paths.signing_key.exists():
        key = SigningKey.load(paths.signing_key)
    else:
        key = SigningKey.generate()
        key.save(paths.signing_key)
    # Appended, never replaced: the commits an earlier key signed must go on verifying, for
    # `git verify-commit` and for what opsbot holds to be in force.
    line = key.allowed_signers_line(bot_id)
    known = paths.allowed_signers.read_text() if paths.allowed_signers.exists() else ""
    if line not in known.splitlines():
        text = known + ("" if known.endswith("\n") or not known else "\n") + line + "\n"
        write_file(paths.allowed_signers, text.encode(), PUBLIC_FILE)
    at_most(paths.allowed_signers, PUBLIC_FILE)
    return key


def init_repo(
    paths: HostPaths,
    *,
    admins: list[str],
    bot_id: str = DEFAULT_BOT_ID,
    template: Path = TEMPLATE,
    key_file: Path | None = None,
) -> StateRepo:
    """A new bare state repo from the template, with `admins` in policy.toml; one signed commit."""
    files: dict[str, bytes | None] = {}
    for file in sorted(template.rglob("*")):
        if file.is_file():
            files[file.relative_to(template).as_posix()] = file.read_bytes()
    policy = (files.get("policy.toml") or b"").decode()
    for admin in admins:
        policy = add_admin(policy, admin)
    files["policy.toml"] = policy.encode()
    files[layout.FILE] = layout.render(layout.CURRENT).encode()
    key = ensure_key(paths, bot_id, key_file)
    me = bot_identity(bot_id)
    message = Message(
        summary="init: new state repository",
        body=(f"Created by opsbot init. Admins: {', '.join(admins) or 'none'}.",),
    )
    first_admin = Identity(admins[0].lstrip("@").split(":")[0], admins[0]) if admins else me
    repo = StateRepo.create(
        paths.repo, files, committer=me, signer=key, author=first_admin, message=message
    )
    config = repo.git.get_config()
    config.set((b"opsbot",), b"botId", bot_id.encode())
    # So that `git -C <repo> verify-commit` and `git log --show-signature` work as they are.
    config.set((b"gpg",), b"format", b"ssh")
    config.set((b"gpg", b"ssh"), b"allowedSignersFile", str(paths.allowed_signers).encode())
    config.write_to_path()
    return repo


def open_engine(
    paths: HostPaths,
    bot_id: str | None = None,
    *,
    devices: DeviceDirectory | None = None,
    key_file: Path | None = None,
    extra_signers: Path | None = None,
) -> Engine:
    bot_id = bot_id or bot_id_of(paths.repo)
    key = ensure_key(paths, bot_id, key_file)
    repo = StateRepo(
        paths.repo,
        committer=bot_identity(bot_id),
        signer=key,
        signers=allowed_signers(paths, extra_signers),
    )
    index = Index(paths.index)
    names = ("opsbot", bot_id.lstrip("@").split(":")[0])
    return Engine(
        default_registry(), repo, index, Handled(paths.handled), names=names, devices=devices
    )


def allowed_signers(paths: HostPaths, extra: Path | None = None) -> AllowedSigners:
    """The keys whose commits are in force: the bot's, and those the host config adds."""
    return AllowedSigners.read(paths.allowed_signers, *([extra] if extra else []))
