"""Hand-built histories for the audit report: commits of exactly the files a test names, signed
by the bot's key or another, with any message; and the report the index gives of them."""

from datetime import UTC, datetime

from bot.features.governance.audit_history import Report, report
from bot.state.allowed_signers import AllowedSigners
from bot.state.in_force import InForceRecord, Remembered
from bot.state.message import Message
from bot.state.repo import MAIN, Identity, StateRepo
from bot.state.signing import SigningKey, sign_commit
from tests.helpers.bot import ALICE, BOB, Bot

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(version: str, by: str = BOB, **more: str) -> str:
    """A deployment record as the engine writes it (with `hotfix`, as the hotfix part does)."""
    lines = [
        f'version = "{version}"',
        f'requested_by = "{by}"',
        "requested_at = 2026-11-26T12:00:00Z",
        'command = "deploy"',
    ]
    lines += [f'{key} = "{value}"' for key, value in more.items()]
    return "\n".join(lines) + "\n"


def proposal(
    number: int, requester: str, approvers: list[str], due: datetime | None = None, **more: str
) -> str:
    """A merged proposal's record (a review of a hotfix with kind/reviews, and when it is due)."""
    names = ", ".join(f'"{a}"' for a in approvers)
    lines = [
        f"number = {number}",
        f'summary = "proposal {number}"',
        f'requested_by = "{requester}"',
        "approvals_required = 1",
        'base = "0000000000000000000000000000000000000000"',
        'status = "merged"',
        f"approved_by = [{names}]",
    ]
    lines += [f'{key} = "{value}"' for key, value in more.items()]
    if due is not None:
        lines.append(f"due = {due:%Y-%m-%dT%H:%M:%SZ}")
    return "\n".join(lines) + "\n"


def commit(
    bot: Bot,
    files: dict[str, str | None],
    *,
    message: str = "edit",
    author: str = ALICE,
    key: SigningKey | None = None,
    at: datetime | None = None,
) -> str:
    """A commit on main, in force, of `files`, signed by the bot's key or `key`."""
    repo = bot.engine.repo
    if key is not None:
        repo = StateRepo(
            bot.paths.repo,
            committer=repo.committer,
            signer=key,
            in_force=InForceRecord(bot.paths.in_force),
        )
    summary, _, body = message.partition("\n")
    with repo.locked():
        return repo.commit(
            {path: None if text is None else text.encode() for path, text in files.items()},
            Message(summary, tuple(body.splitlines())),
            Identity(author.lstrip("@").split(":")[0].title(), author),
            at or bot.clock(),
            parent=repo.head(),
        )


def signed_at(bot: Bot, files: dict[str, str | None], key: SigningKey, when: datetime) -> str:
    """A commit of `files` on main, in force, signed by `key` and committed at `when` (the
    time `git verify-commit` checks a key's validity at; opsbot commits at the present)."""
    made = bot.engine.repo.commit_of(commit(bot, files).encode())
    again = made.copy()
    again.author_time = again.commit_time = int(when.timestamp())
    sign_commit(again, key)
    repo = bot.engine.repo
    repo.git.object_store.add_object(again)
    repo.git.refs[MAIN] = again.id
    InForceRecord(bot.paths.in_force).write(Remembered(again.id.decode()), durable=True)
    return str(again.id.decode())


def signers(bot: Bot) -> AllowedSigners:
    return AllowedSigners.read(bot.paths.allowed_signers)


def audit(bot: Bot, env: str | None = None) -> Report:
    """The report from SINCE to the end of the history, against the bot's allowed signers."""
    bot.engine.index.sync(bot.engine.repo)
    return report(bot.engine.index, signers(bot), SINCE, None, env)
