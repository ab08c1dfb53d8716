"""Putting the layers together: the repo, its index, the signing key and the engine."""

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.resources.abc import Traversable
from pathlib import Path

from dulwich.repo import Repo

from bot.config.host import DEFAULT_BOT_ID, Config
from bot.config.paths import HostPaths
from bot.core.files import PUBLIC_FILE, at_most, private_dir, write_file
from bot.core.shipped import read_template
from bot.engine.context import DeviceDirectory, IdentityDirectory, Runtime
from bot.engine.dispatch import Engine
from bot.engine.feature import Feature
from bot.engine.host import HostParts
from bot.features.catalog import (
    FEATURES,
    addenda,
    checks,
    default_registry,
    gates,
    host_views,
    index_tables,
    policy_sections,
    request_kinds,
)
from bot.state import layout
from bot.state.allowed_signers import AllowedSigners
from bot.state.in_force import InForceRecord
from bot.state.index import Index
from bot.state.index_build import IndexBuild
from bot.state.message import Message
from bot.state.outbox import Outbox
from bot.state.policy_edit import add_admin
from bot.state.repo import Identity, StateRepo
from bot.state.signing import SigningKey, SigningKeyError, public_blob


def bot_identity(user_id: str) -> Identity:
    return Identity("opsbot", user_id)


def bot_id_of(repo: Path) -> str:
    """The bot's Matrix id, remembered in the repo's own (unversioned) Git config at init."""
    config = Repo(str(repo)).get_config()
    try:
        return config.get((b"opsbot",), b"botId").decode()
    except KeyError:
        return DEFAULT_BOT_ID


def new_repo_key(paths: HostPaths, bot_id: str, key_file: Path | None = None) -> SigningKey:
    """The key that signs a new repo, its public line added to the allowed-signers file.

    A `key_file` (a systemd credential, made with `opsbot keygen`) is only ever read: its owner
    made it, and a missing one is an error rather than a reason to make a new key. Without one,
    the state directory's key is used, made now if there is none. Only `opsbot init` calls this:
    an existing repo never gets a key it did not have (see `repo_key`)."""
    if key_file is not None and key_file != paths.signing_key:
        if not key_file.exists():
            raise SigningKeyError(
                f"no signing key at {key_file}; make it first: opsbot keygen --out {key_file} "
                f"--principal {bot_id}"
            )
        key = SigningKey.load(key_file)  # before anything is made, so a bad key leaves nothing
        private_dir(paths.state_dir)
    else:
        private_dir(paths.state_dir)  # also when it was there already, and looser
        if paths.signing_key.exists():
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


def repo_key(
    paths: HostPaths, bot_id: str, key_file: Path | None = None, extra_signers: Path | None = None
) -> SigningKey:
    """The key that signs an existing repo: `key_file`, else the state directory's.

    Never made here, and the allowed-signers file is never touched: a new key would sign
    commits that `git verify-commit` and opsbot itself refuse to trust, and adding it to the
    file would be opsbot vouching for whatever key it was handed. Refuses, saying what to do."""
    path = key_file or paths.signing_key
    if not path.exists():
        raise SigningKeyError(
            f"no signing key at {path}; give the key that signs this repo with --key FILE "
            f"(or [signing] key_file in the host config); its public key is in "
            f"{paths.allowed_signers}"
        )
    key = SigningKey.load(path)
    blob = public_blob(key.public_line())
    # What git would accept from it now: a line limited to other namespaces, or expired, or a
    # cert-authority line, lists the key without letting it sign the repo's commits.
    if blob is None or not allowed_signers(paths, extra_signers).admits(blob, int(time.time())):
        raise SigningKeyError(
            f"the key {path} is not an allowed signer of this repo ({paths.allowed_signers}), "
            "so the commits it signs would not count; give the key that signs this repo, or, "
            f"to make this one the bot's new key, append to that file: "
            f"{key.allowed_signers_line(bot_id)}"
        )
    return key


def init_repo(
    paths: HostPaths,
    *,
    admins: list[str],
    bot_id: str = DEFAULT_BOT_ID,
    template: Traversable | None = None,
    key_file: Path | None = None,
) -> StateRepo:
    """A new bare state repo from the template (the one opsbot ships unless `template` names
    another), with `admins` in policy.toml; one signed commit."""
    files: dict[str, bytes | None] = dict(read_template(template))
    if paths.repo.exists() and any(paths.repo.iterdir()):  # before a key is made for it
        raise FileExistsError(f"{paths.repo} exists and is not empty")
    policy = (files.get("policy.toml") or b"").decode()
    for admin in admins:
        policy = add_admin(policy, admin)
    files["policy.toml"] = policy.encode()
    files[layout.FILE] = layout.render(layout.CURRENT).encode()
    key = new_repo_key(paths, bot_id, key_file)
    me = bot_identity(bot_id)
    message = Message(
        summary="init: new state repository",
        body=(f"Created by opsbot init. Admins: {', '.join(admins) or 'none'}.",),
    )
    first_admin = Identity(admins[0].lstrip("@").split(":")[0], admins[0]) if admins else me
    repo = StateRepo.create(
        paths.repo,
        files,
        committer=me,
        signer=key,
        author=first_admin,
        message=message,
        in_force=InForceRecord(paths.in_force),
    )
    config = repo.git.get_config()
    config.set((b"opsbot",), b"botId", bot_id.encode())
    # So that `git -C <repo> verify-commit` and `git log --show-signature` work as they are.
    config.set((b"gpg",), b"format", b"ssh")
    config.set((b"gpg", b"ssh"), b"allowedSignersFile", str(paths.allowed_signers).encode())
    config.write_to_path()
    return repo


def open_repo(
    paths: HostPaths,
    bot_id: str | None = None,
    *,
    key_file: Path | None = None,
    extra_signers: Path | None = None,
) -> StateRepo:
    """The state repo, written as the bot (its key signs), trusting the allowed signers."""
    bot_id = bot_id or bot_id_of(paths.repo)
    key = repo_key(paths, bot_id, key_file, extra_signers)
    private_dir(paths.state_dir)  # tightened, if they were looser; never rewritten
    at_most(paths.allowed_signers, PUBLIC_FILE)
    return StateRepo(
        paths.repo,
        committer=bot_identity(bot_id),
        signer=key,
        signers=allowed_signers(paths, extra_signers),
        in_force=InForceRecord(paths.in_force),
        team=AllowedSigners.read(extra_signers) if extra_signers else None,
    )


def open_engine(
    paths: HostPaths,
    bot_id: str | None = None,
    *,
    repo: StateRepo | None = None,
    devices: DeviceDirectory | None = None,
    identities: IdentityDirectory | None = None,
    key_file: Path | None = None,
    extra_signers: Path | None = None,
    runtime: Runtime | None = None,
    on_commit: Callable[[str], None] = lambda _sha: None,
    clock: Callable[[], datetime] | None = None,
    ledger: Outbox | None = None,
    identity: str | None = None,
    config: Config | None = None,  # None: no host config here (the console)
    features: Sequence[Feature] = FEATURES,
    index_in_background: bool = False,
) -> Engine:
    """`index_in_background`: a cold index is built in a thread while the engine answers the
    commands that do not read it (the service); otherwise it is built before this returns."""
    repo = repo or open_repo(paths, bot_id, key_file=key_file, extra_signers=extra_signers)
    index = Index(paths.index, index_tables(features))
    name = repo.committer.user_id.lstrip("@").split(":")[0]
    ledger = ledger or open_ledger(paths)
    # Effects a crash left prepared: owed if their commit landed, dropped if it did not.
    owed = ledger
    if index_in_background and index.cold():
        building = Index(paths.index, index_tables(features))
        index.building = IndexBuild(
            building, reopened(repo), lambda built: owed.settle(built.knows)
        )
        index.building.start()
    else:
        index.sync(repo)
        ledger.settle(index.knows)
    return Engine(
        default_registry(features),
        repo,
        index,
        ledger,
        requests=request_kinds(features),
        checks=checks(features),
        sections=policy_sections(features),
        gates=gates(features),
        addenda=addenda(features),
        names=("opsbot", name),
        devices=devices,
        identities=identities,
        runtime=runtime,
        on_commit=on_commit,
        identity=identity,
        host=host_views(HostParts(ledger, paths.state_dir, config), features),
        **({"clock": clock} if clock else {}),
    )


def reopened(repo: StateRepo) -> StateRepo:
    """`repo` opened again, read against the same tip in force, for another thread."""
    return StateRepo(
        repo.path,
        committer=repo.committer,
        signer=repo.signer,
        signers=repo.signers,
        in_force=repo.in_force,
        team=repo.team,
    )


def open_ledger(paths: HostPaths) -> Outbox:
    return Outbox(paths.outbox)


def allowed_signers(paths: HostPaths, extra: Path | None = None) -> AllowedSigners:
    """The keys whose commits are in force: the bot's, and those the host config adds."""
    return AllowedSigners.read(paths.allowed_signers, *([extra] if extra else []))
