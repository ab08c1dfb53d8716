"""Writing an outcome: the refusals that keep a write from happening, the dry run that shows it
instead, and the commit itself, with what the command owes recorded in the outbox in the same
step (bot/state/outbox.py), before the ref moves."""

import difflib
import html
import logging
from dataclasses import replace

from dulwich.objects import Commit
from dulwich.refs import Ref

from bot.core.errors import OutsideCommits, Refused
from bot.core.logs import fact
from bot.core.text import clean
from bot.engine.answers import identified, owed_answer, reply_to
from bot.engine.context import Change, Command, Context, Outcome, Runtime
from bot.engine.types import Invocation, Reply, text_html
from bot.state.in_force import Trust
from bot.state.message import Message, summary_of, trailers_from
from bot.state.outbox import Outbox
from bot.state.repo import Identity, Snapshot, StateRepo

log = logging.getLogger("opsbot.engine")


def outside_refusal(trust: Trust) -> OutsideCommits:
    """Why nothing is written while main holds commits opsbot did not write, and what an admin
    types about them."""
    head = (trust.head or "")[:7]
    hint = (
        f"an admin reviews them (git log) and types !adopt {head} to put them in force, "
        "or !discard to undo them"
    )
    if trust.diverged:
        since = f"from {trust.commit[:7]}, " if trust.commit else ""
        return OutsideCommits(
            f"main was moved outside opsbot ({since}now at {head}): nothing of it is in force, "
            "and nothing is written until an admin decides",
            hint=hint,
        )
    first = trust.outside[0]
    who = clean(first.author.decode("utf-8", "replace"))
    more = f" and {trust.count - 1} more" if trust.count > 1 else ""
    return OutsideCommits(
        f"main has {trust.count} commit(s) opsbot did not write "
        f"({first.id.decode()[:7]} by {who}{more}); they are not in force, and nothing is "
        "written on top of them",
        hint=hint,
    )


def refuse_if_nothing_changes(change: Change, snapshot: Snapshot) -> None:
    """A commit whose files are all as they were records nothing (an approval on a proposal
    branch, with no files at all, records the approval itself and is not one of these)."""
    if change.branch is not None or change.merge or not change.files:
        return
    for path, new in change.files.items():
        old = snapshot.read(path)
        if (new.encode() if isinstance(new, str) else new) != old:
            return
    raise Refused("that would change nothing in the repo", hint="nothing to do")


def dry_run(command: Command, change: Change, snapshot: Snapshot) -> Reply:
    """What the command would commit, as a diff; nothing is written."""
    where = f" on {change.branch}" if change.branch else ""
    lines = [f"dry run: would commit{where}: {command.name}: {change.summary}"]
    for path, new in sorted(change.files.items()):
        old = snapshot.text(path)
        new_text = new.decode() if isinstance(new, bytes) else new
        lines += difflib.unified_diff(
            (old or "").splitlines(),
            (new_text or "").splitlines(),
            f"a/{path}" if old is not None else "/dev/null",
            f"b/{path}" if new_text is not None else "/dev/null",
            lineterm="",
        )
    text = "\n".join(lines)
    return Reply(
        True, command.name, text, f"<pre>{html.escape(text)}</pre>", extra={"dry_run": True}
    )


def commit_outcome(
    repo: StateRepo,
    outbox: Outbox,
    command: Command,
    ctx: Context,
    outcome: Outcome,
    parent: str | None,
    runtime: Runtime | None,
) -> str:
    """Commits `outcome`'s change on top of `parent` (the caller holds the repo's lock), its
    answer and effects owed once the commit is durable and before its ref moves; its id."""
    assert outcome.change is not None
    inv = ctx.invocation
    body = [f"Requested by {inv.display_name} in {inv.place}."]
    if ctx.reason:
        body.append(f"Reason: {ctx.reason}")
    message = Message(
        summary=f"{command.name}: {outcome.change.summary}",
        body=tuple(body),
        trailers=trailers_from([("Opsbot-Command", inv.text.strip()), *inv.trailers()])
        + outcome.change.trailers,
    )
    change = outcome.change
    files = {p: t.encode() if isinstance(t, str) else t for p, t in change.files.items()}
    author = Identity(inv.display_name, inv.sender)

    def record(sha: str) -> None:
        owed = identified(inv, outcome.effects)
        if inv.answer:
            owed.insert(0, owed_answer(inv, reply_to(command, outcome, runtime, sha)))
        outbox.prepare(inv.event_id, sha, int(inv.received_at.timestamp()), owed)

    if change.branch is None:
        return repo.commit(
            files,
            message,
            author,
            inv.received_at,
            parent=change.base or parent,
            merge=change.merge,
            before_move=record,
            expect=parent,
        )
    return repo.commit(
        files,
        message,
        author,
        inv.received_at,
        parent=change.base or parent,
        ref=Ref(b"refs/heads/" + change.branch.encode()),
        new_ref=change.new_branch,
        before_move=record,
    )


def commit_then(
    repo: StateRepo, outbox: Outbox, command: Command, ctx: Context, outcome: Outcome, sha: str
) -> str:
    """The second commit `outcome` asks for (`Outcome.then`), on top of its first, `sha`: handled
    under the event's id with `#then`, so that it owes nothing and answers nothing."""
    assert outcome.then is not None
    change = outcome.then(sha)
    inv = replace(ctx.invocation, event_id=f"{ctx.invocation.event_id}#then", answer=False)
    then = Outcome("", change=change)
    return commit_outcome(repo, outbox, command, replace(ctx, invocation=inv), then, sha, None)


def already_done(
    repo: StateRepo, ledger: Outbox, command: Command, invocation: Invocation, sha: str
) -> Reply:
    """The reply to an invocation seen again whose commit landed: what it did, and which."""
    fact(log, "already committed", event=invocation.event_id, commit=sha)
    commit = repo.object(sha)
    assert isinstance(commit, Commit)
    text = f"already done: {summary_of(commit.message)} · commit {sha[:7]}"
    reply = Reply(True, command.name, text, text_html(text), commit=sha)
    if invocation.answer:
        # Its answer was owed with its commit, under the same identity: this one is owed only
        # where none was (a command an earlier release committed).
        ledger.enqueue([owed_answer(invocation, reply)])
    return reply
