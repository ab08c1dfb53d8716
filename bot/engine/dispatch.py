"""The engine: parse -> authorize -> validate -> execute -> commit -> reply.

Everything before the commit can refuse, and a refusal writes nothing. The commit is the point of
no return; the reply is owed only after it, so a person never reads "done" for a change that is
not in Git. Everything runs under one lock (threads here, a file lock against other processes in
`StateRepo.locked`), which keeps "check the freeze, then write" a single step.

What a command owes afterwards (its answer in the room, notices, rooms) goes to the outbox of
the ledger in the same step that records the command as handled (bot/state/ledger.py); a
deliverer sends it. Typed internal requests (`request`) run the same way.
"""

import asyncio
import collections
import difflib
import html
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from dulwich.objects import Commit
from dulwich.refs import Ref

from bot.core.effects import Answer, CreateRoom, Effect, Notify, Request
from bot.core.errors import (
    OpsbotError,
    OutsideCommits,
    Refused,
    TooLong,
    UnknownCommand,
    UsageError,
)
from bot.core.ids import fingerprint
from bot.core.logs import fact
from bot.core.text import clean
from bot.engine.authorize import identity_changed, may_run, may_run_here
from bot.engine.context import (
    Change,
    Context,
    DeviceDirectory,
    IdentityDirectory,
    Outcome,
    RunbookHost,
    Runtime,
)
from bot.engine.feature import RequestKind
from bot.engine.grammar import bind
from bot.engine.registry import Command, CommandRegistry
from bot.engine.types import Invocation, Reply, text_html
from bot.state.in_force import Trust
from bot.state.index import Index
from bot.state.ledger import Ledger
from bot.state.log import RepoLog
from bot.state.message import Message, summary_of, trailers_from
from bot.state.policy import Policy
from bot.state.proposals import ProposalBook
from bot.state.repo import ConcurrentUpdate, Identity, Snapshot, StateRepo
from bot.state.view import StateView

log = logging.getLogger("opsbot.engine")

MAX_MESSAGE = 4096
_CAS_RETRIES = 5
_refs = itertools.count(1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        registry: CommandRegistry,
        repo: StateRepo,
        index: Index,
        ledger: Ledger,
        *,
        requests: Sequence[RequestKind[Any]] = (),
        names: tuple[str, ...] = ("opsbot",),
        clock: Callable[[], datetime] = utc_now,
        devices: DeviceDirectory | None = None,
        identities: IdentityDirectory | None = None,
        runtime: Runtime | None = None,
        on_commit: Callable[[str], None] = lambda _sha: None,
        identity: str | None = None,
        runbooks: RunbookHost | None = None,
    ) -> None:
        self.registry = registry
        self.repo = repo
        self.index = index
        self.ledger = ledger
        self.requests = {kind.type: kind for kind in requests}
        self.names = tuple(n.lower() for n in names)
        self.clock = clock
        self.devices = devices
        self.identities = identities  # people's cross-signing identities, as the transport saw
        self.proposals = ProposalBook(repo, index)
        self.runtime = runtime  # what the reconciler knows of the host, where one runs
        self.on_commit = on_commit  # told of every commit, after its ref moved
        self.identity = identity  # the bot's cross-signing fingerprint, where it has one
        self.runbooks = runbooks  # the runs the host holds, for !run and !run cancel
        self._lock = threading.Lock()
        # Commands answered since start, by name and result: Prometheus' counters (/metrics).
        self.counted: collections.Counter[tuple[str, str]] = collections.Counter()

    def command_text(self, text: str) -> str | None:
        """The command in `text` without its prefix (`!` or `opsbot:`), or None if not a command."""
        stripped = text.strip()
        if stripped.startswith("!") and len(stripped) > 1 and not stripped[1].isspace():
            return stripped[1:]
        head, colon, rest = stripped.partition(":")
        if colon and head.strip().lower() in self.names:
            return rest.strip()
        return None

    def request(self, request: Request, invocation: Invocation) -> Reply:
        """Runs a typed internal request: a transport or a deliverer asking a feature to record
        something (the room it made). Same commit, same idempotency; never from chat."""
        kind = self.requests.get(type(request))
        assert kind is not None, f"no feature handles {type(request).__name__}"
        command = Command(
            name=request.name,
            usage="",
            summary="",
            writes=kind.writes,
            internal=True,
            handler=lambda ctx: kind.handler(ctx, request),
        )
        try:
            with self._lock:
                return self._run(command, "", invocation, internal=True)
        except OpsbotError as e:
            return Reply.refusal(e, command.name)

    def request_from(self, data: dict[str, Any], **fill: Any) -> Request:
        """The request `dump_request` wrote (a `CreateRoom`'s `then`), with `fill` filled in."""
        by_name = {kind.__name__: kind for kind in self.requests}
        fields = {key: value for key, value in data.items() if key != "kind"}
        made: Request = by_name[data["kind"]](**{**fields, **fill})
        return made

    def view(self) -> StateView:
        """The state in force (the tip opsbot wrote or an admin adopted), read-only, for
        transports that need to look something up."""
        return StateView(self.repo.trusted_snapshot())

    def announce_rooms(self) -> list[str]:
        try:
            return list(self.view().policy().announce)
        except OpsbotError:
            return []

    def identity_seen(self, user_id: str, master_key: str | None) -> None:
        """Told by the transport of a person's master key after a key query: a key other than
        the one pinned in policy.toml is announced, once per new key."""
        try:
            policy = self.view().policy()
        except OpsbotError:
            return
        self._announce_identity_change(policy, user_id, master_key)

    def _announce_identity_change(
        self, policy: Policy, user_id: str, master_key: str | None
    ) -> None:
        pinned = policy.pinned_identity(user_id)
        if pinned is None or master_key is None or master_key == pinned:
            return
        text = (
            f"The cross-signing identity of {user_id} changed: the master key pinned in "
            f"policy.toml is {fingerprint(pinned)}, the homeserver now has "
            f"{fingerprint(master_key)}. Until an admin confirms the new key with the person "
            f"and types !trust {user_id} {master_key}, their commands that need a verified "
            "device are refused."
        )
        notice = Notify(text, announce=True)
        self.ledger.enqueue([(f"identity-changed:{user_id}:{master_key}", notice)])
        fact(
            log,
            "cross-signing identity changed",
            logging.WARNING,
            user=user_id,
            pinned=fingerprint(pinned),
            seen=fingerprint(master_key),
        )

    def may_invite(self, user_id: str) -> bool:
        """Whether the bot should accept a room invite from `user_id`: admins, and roles that
        list "invite" among their commands."""
        try:
            policy = self.view().policy()
        except OpsbotError as e:
            fact(log, "cannot read the policy; declining invites", logging.WARNING, error=e.message)
            return False
        return policy.allows_somewhere(user_id, "invite")

    async def handle(self, invocation: Invocation) -> Reply | None:
        """`run` for an event loop: Git and SQLite work happens in a worker thread."""
        return await asyncio.to_thread(self.run, invocation)

    def run(self, invocation: Invocation) -> Reply | None:
        """Handles one invocation; None when the text is not addressed to the bot. Where the
        transport answers in the room, the answer is owed in the outbox by the time this
        returns (with the commit's effects, in the same step, for a command that wrote)."""
        reply = self._answer(invocation)
        if reply is not None:
            result = "handled" if reply.ok else "failed" if reply.error == "internal" else "refused"
            self.counted[reply.command or "unknown", result] += 1
        if reply is not None and invocation.answer and reply.commit is None:
            self.ledger.enqueue([(_answer_id(invocation), _answer(invocation, reply))])
        return reply

    def answer_before_dispatch(self, room: str, event_id: str, sender: str, reply: Reply) -> None:
        """Owes `reply` in `room` to an event that never reached dispatch (the transport refused
        it, or could not read it): under the identity a command's answer has, so an event seen
        again is not answered twice."""
        self.ledger.enqueue([(answer_id(event_id), answer_to(room, event_id, sender, reply))])

    def _answer(self, invocation: Invocation) -> Reply | None:
        body = self.command_text(invocation.text)
        if body is None:
            return None
        command: Command | None = None
        try:
            if len(invocation.text.encode()) > MAX_MESSAGE:
                raise TooLong(
                    f"the message is over {MAX_MESSAGE // 1024} KiB",
                    hint="send a shorter command; long text belongs in a file in the repo",
                )
            if not body.strip():
                raise UsageError("empty command", hint="type !help for the list of commands")
            command, name, raw_args = self.registry.lookup(body)
            if command is None:
                nearest = self.registry.nearest(name)
                raise UnknownCommand(
                    f"unknown command !{_clip(name)}",
                    hint=(f"did you mean !{nearest}? " if nearest else "") + "!help lists them all",
                )
            with self._lock:
                return self._run(command, raw_args, invocation)
        except UsageError as e:
            usage = e.usage or (f"usage: {command.usage_line()}" if command else None)
            return Reply.refusal(e, command.name if command else None, usage)
        except OpsbotError as e:
            return Reply.refusal(e, command.name if command else None)
        except Exception:
            ref = f"{invocation.received_at:%Y%m%d%H%M%S}-{next(_refs)}"
            log.exception(
                "command failed",
                extra={
                    "fields": {"ref": ref, "event": invocation.event_id, "room": invocation.room_id}
                },
            )
            text = f"internal error (ref: {ref}), nothing was written"
            return Reply(
                False, command.name if command else None, text, html.escape(text), error="internal"
            )

    def _run(
        self, command: Command, raw_args: str, invocation: Invocation, *, internal: bool = False
    ) -> Reply:
        for _ in range(_CAS_RETRIES):
            with self.repo.locked() if command.writes else nullcontext():
                self.index.sync(self.repo)
                if command.writes:
                    done = self.ledger.commit_of(invocation.event_id)
                    if done is not None and self.index.knows(done):
                        return self._already_done(command, invocation, done)
                trust = self.repo.trust()
                snapshot = self.repo.in_force_snapshot(trust)
                outcome, ctx = self._decide(
                    command, raw_args, invocation, StateView(snapshot), trust, internal
                )
                if outcome.change is None or not command.writes:
                    return self._owe(invocation, _reply(command, outcome, self.runtime), outcome)
                # Outside commits are kept below the one that decides about them: it is compared
                # with main's tip, not with the commit in force the decision was made on.
                below = self.repo.snapshot(trust.head) if command.outside else snapshot
                _refuse_if_nothing_changes(outcome.change, below)
                if ctx.args.get("dry_run"):
                    return _dry_run(command, outcome.change, below)
                try:
                    sha = self._commit(command, ctx, outcome, below.commit)
                except ConcurrentUpdate:
                    # Someone wrote without our lock (a push into the repo): decide again on the
                    # new HEAD, since the freeze we checked may not hold any more.
                    fact(log, "main moved during a command, retrying", event=invocation.event_id)
                    continue
            self.ledger.landed(sha)
            # The index catches up at the start of the next command: a reply waits for nothing.
            fact(
                log,
                "committed",
                command=command.name,
                room=invocation.room_id,
                event=invocation.event_id,
                commit=sha,
                sender=invocation.sender,
            )
            self.on_commit(sha)
            return _reply(command, outcome, self.runtime, sha)
        raise RuntimeError(f"main kept moving; gave up after {_CAS_RETRIES} tries")

    def _owe(self, invocation: Invocation, reply: Reply, outcome: Outcome) -> Reply:
        """The effects of an outcome that wrote nothing are owed now (its answer, by `run`)."""
        if outcome.effects:
            self.ledger.enqueue(_identified(invocation, outcome.effects))
        return reply

    def _decide(
        self,
        command: Command,
        raw_args: str,
        invocation: Invocation,
        state: StateView,
        trust: Trust,
        internal: bool,
    ) -> tuple[Outcome, Context]:
        if trust.commit is None and trust.head is not None:
            raise Refused(
                "nothing is in force: opsbot has no record of the tip of main it wrote",
                hint="the operator runs opsbot migrate on the bot's host (it records the bot's "
                "last commit), or restores a backup",
            )
        policy = state.policy()
        args: dict[str, Any] = {}
        if not internal:
            may_run(policy, command, invocation)
            args = bind(command.elements, command.options, raw_args)
            if identity_changed(policy, invocation) is not None:
                self._announce_identity_change(policy, invocation.sender, invocation.master_key)
            may_run_here(policy, command, invocation, args, state)
        if command.writes and not command.outside and not trust.clean:
            raise _outside_refusal(trust)
        ctx = Context(
            invocation=invocation,
            args=args,
            state=state,
            policy=policy,
            index=self.index,
            log=RepoLog(self.repo),
            registry=self.registry,
            now=self.clock(),
            devices=self.devices,
            identities=self.identities,
            proposals=self.proposals,
            runtime=self.runtime,
            outside=trust.outside,
            trust=trust,
            identity=self.identity,
            runbooks=self.runbooks,
        )
        return command.handler(ctx), ctx

    def _commit(self, command: Command, ctx: Context, outcome: Outcome, parent: str | None) -> str:
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
            owed = _identified(inv, outcome.effects)
            if inv.answer:
                reply = _reply(command, outcome, self.runtime, sha)
                owed.insert(0, (_answer_id(inv), _answer(inv, reply)))
            self.ledger.prepare(inv.event_id, sha, int(inv.received_at.timestamp()), owed)

        if change.branch is None:
            return self.repo.commit(
                files,
                message,
                author,
                inv.received_at,
                parent=change.base or parent,
                merge=change.merge,
                before_move=record,
                expect=parent,
            )
        return self.repo.commit(
            files,
            message,
            author,
            inv.received_at,
            parent=change.base or parent,
            ref=Ref(b"refs/heads/" + change.branch.encode()),
            new_ref=change.new_branch,
            before_move=record,
        )

    def _already_done(self, command: Command, invocation: Invocation, sha: str) -> Reply:
        fact(log, "already committed", event=invocation.event_id, commit=sha)
        commit = self.repo.object(sha)
        assert isinstance(commit, Commit)
        text = f"already done: {summary_of(commit.message)} · commit {sha[:7]}"
        reply = Reply(True, command.name, text, text_html(text), commit=sha)
        if invocation.answer:
            # Its answer was owed with its commit, under the same identity: this one is owed
            # only where none was (a command an earlier release committed).
            self.ledger.enqueue([(_answer_id(invocation), _answer(invocation, reply))])
        return reply


def _outside_refusal(trust: Trust) -> OutsideCommits:
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


def answer_id(event_id: str) -> str:
    """The identity in the outbox of the answer to `event_id`: one answer per event."""
    return f"{event_id}#answer"


def answer_to(room: str, event_id: str, sender: str, reply: Reply) -> Answer:
    """`reply` as the answer owed in `room` to the event `event_id` that `sender` sent."""
    return Answer(
        room=room,
        in_reply_to=event_id,
        sender=sender,
        ok=reply.ok,
        command=reply.command,
        text=reply.text,
        html=reply.html,
        commit=reply.commit,
        error=reply.error,
    )


def _answer_id(invocation: Invocation) -> str:
    return answer_id(invocation.event_id)


def _answer(invocation: Invocation, reply: Reply) -> Answer:
    assert invocation.room_id is not None, "an answer goes to the room the command came from"
    return answer_to(invocation.room_id, invocation.event_id, invocation.sender, reply)


def _identified(invocation: Invocation, effects: Sequence[Effect]) -> list[tuple[str, Effect]]:
    """Each effect with an identity derived from the invocation: the same on a replay, so an
    effect already owed or sent is not owed twice. A room is made once, whoever asks."""
    return [
        (
            f"room:{effect.key}"
            if isinstance(effect, CreateRoom)
            else f"{invocation.event_id}#{n}",
            effect,
        )
        for n, effect in enumerate(effects)
    ]


def _reply(
    command: Command, outcome: Outcome, runtime: Runtime | None, sha: str | None = None
) -> Reply:
    text = f"{outcome.text} · commit {sha[:7]}" if sha else outcome.text
    markup = outcome.html if outcome.html is not None else text_html(outcome.text)
    if sha:
        markup += f" · commit <code>{sha[:7]}</code>"
    if sha and runtime is not None and outcome.extra.get("deploys"):
        # The reconciler takes it from here, and amends this answer with the result.
        text, markup = f"{text} · deploying…", f"{markup} · deploying…"
    effects = outcome.effects if sha or not command.writes else ()
    return Reply(True, command.name, text, markup, commit=sha, extra=outcome.extra, effects=effects)


def _refuse_if_nothing_changes(change: Change, snapshot: Snapshot) -> None:
    """A commit whose files are all as they were records nothing (an approval on a proposal
    branch, with no files at all, records the approval itself and is not one of these)."""
    if change.branch is not None or change.merge or not change.files:
        return
    for path, new in change.files.items():
        old = snapshot.read(path)
        if (new.encode() if isinstance(new, str) else new) != old:
            return
    raise Refused("that would change nothing in the repo", hint="nothing to do")


def _dry_run(command: Command, change: Change, snapshot: Snapshot) -> Reply:
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


def _clip(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."
