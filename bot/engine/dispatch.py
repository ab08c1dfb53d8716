"""The engine: parse -> authorize -> validate -> execute -> commit -> reply.

Everything before the commit can refuse, and a refusal writes nothing. The commit is the point of
no return; the reply is owed only after it, so a person never reads "done" for a change that is
not in Git. Everything runs under one lock (threads here, a file lock against other processes in
`StateRepo.locked`), which keeps "check the freeze, then write" a single step.

What a command owes afterwards (its answer in the room, notices, rooms) goes to the outbox in
the same step that records the command as handled (bot/engine/commit.py, bot/state/outbox.py);
a deliverer sends it. Typed internal requests (`request`) run the same way.
"""

import asyncio
import collections
import html
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from bot.core.effects import Request
from bot.core.errors import OpsbotError, Refused, TooLong, UnknownCommand, UsageError
from bot.core.logs import fact
from bot.engine.answers import answer_id, answer_to, identified, owed_answer, reply_to
from bot.engine.authorize import (
    identity_changed,
    identity_notice,
    may_run,
    may_run_here,
)
from bot.engine.commit import (
    already_done,
    commit_outcome,
    commit_then,
    dry_run,
    outside_refusal,
    refuse_if_nothing_changes,
)
from bot.engine.context import (
    Addendum,
    Context,
    DeviceDirectory,
    Gate,
    IdentityDirectory,
    Outcome,
    Runtime,
)
from bot.engine.grammar import bind
from bot.engine.registry import Command, CommandRegistry
from bot.engine.requests import RequestKind
from bot.engine.types import Invocation, Reply
from bot.state.in_force import Trust
from bot.state.index import Index
from bot.state.log import RepoLog
from bot.state.outbox import Outbox
from bot.state.policy import Policy
from bot.state.policy_section import PolicySection
from bot.state.proposals import ProposalBook
from bot.state.repo import ConcurrentUpdate, StateRepo
from bot.state.view import Check, StateView

log = logging.getLogger("opsbot.engine")

MAX_MESSAGE = 4096
_CAS_RETRIES = 5
# Seconds after an answer is owed before the index catches up: sooner, the index's work would
# hold the interpreter while the event loop encrypts and sends the answer, or while the person's
# client receives it (the send alone is 30 ms and more). A command that comes first catches up
# itself, and the reconciler, where one runs, has it catch up once the outcome's note is written.
CATCH_UP_AFTER = 0.25
_refs = itertools.count(1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        registry: CommandRegistry,
        repo: StateRepo,
        index: Index,
        ledger: Outbox,
        *,
        requests: Sequence[RequestKind[Any]] = (),
        names: tuple[str, ...] = ("opsbot",),
        clock: Callable[[], datetime] = utc_now,
        devices: DeviceDirectory | None = None,
        identities: IdentityDirectory | None = None,
        runtime: Runtime | None = None,
        on_commit: Callable[[str], None] = lambda _sha: None,
        identity: str | None = None,
        host: Mapping[str, object] | None = None,
        checks: Sequence[Check] = (),
        sections: Sequence[PolicySection[Any]] = (),
        gates: Sequence[Gate] = (),
        addenda: Sequence[Addendum] = (),
    ) -> None:
        self.checks = tuple(checks)
        self.sections = tuple(sections)  # the features' sections of policy.toml
        self.gates = tuple(gates)  # the features' say on every change to an environment
        self.addenda = tuple(addenda)
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
        self.host = dict(host or {})  # each feature's view of what the host holds
        self._lock = threading.Lock()
        self._catching_up: asyncio.Future[None] | None = None  # kept: a task must be referenced
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
        command = kind.command(request)
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
        return StateView(self.repo.trusted_snapshot(), self.checks, self.sections)

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
        notice = identity_notice(policy, user_id, master_key)
        if notice is not None:
            self.ledger.enqueue([notice])

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
        """`run` for an event loop: Git and SQLite work happens in a worker thread. Once a
        command that wrote is answered, the index catches up with its commit in a worker thread
        too, once the answer is on its way, rather than at the start of the next command."""
        reply = await asyncio.to_thread(self.run, invocation)
        if reply is not None and reply.commit is not None:
            self.catch_up_later()
        return reply

    def catch_up_later(self, delay: float = CATCH_UP_AFTER) -> None:
        """Has the index catch up in a worker thread in `delay` seconds, from the event loop; a
        catch-up still waiting gives way to this one (in a burst, one catch-up at the end)."""
        if self._catching_up is not None:
            self._catching_up.cancel()
        self._catching_up = asyncio.ensure_future(self._catch_up_soon(delay))

    async def _catch_up_soon(self, delay: float) -> None:
        await asyncio.sleep(delay)  # the answer is encrypted, sent and received meanwhile
        await asyncio.to_thread(self.catch_up)

    async def caught_up(self) -> None:
        """Waits until the index has caught up with the last command answered by `handle`."""
        if self._catching_up is not None:
            await self._catching_up

    def catch_up(self) -> None:
        """Indexes the commits not indexed yet; a failure is logged (the next command syncs
        again first, and refuses with its reason)."""
        try:
            with self._lock:
                self.index.sync(self.repo)
        except Exception:
            log.exception("the index could not catch up after a commit")

    def run(self, invocation: Invocation) -> Reply | None:
        """Handles one invocation; None when the text is not addressed to the bot. Where the
        transport answers in the room, the answer is owed in the outbox by the time this
        returns (with the commit's effects, in the same step, for a command that wrote)."""
        reply = self._answer(invocation)
        if reply is not None:
            result = "handled" if reply.ok else "failed" if reply.error == "internal" else "refused"
            self.counted[reply.command or "unknown", result] += 1
        if reply is not None and invocation.answer and reply.commit is None:
            self.ledger.enqueue([owed_answer(invocation, reply)])
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
                what, hint = self.registry.unknown(_clip(name))
                raise UnknownCommand(what, hint=hint)
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
        if command.needs_index:
            self.index.ready()  # "indexing, N%" while a cold index is built in the background
        for _ in range(_CAS_RETRIES):
            with self.repo.locked() if command.writes else nullcontext():
                self.index.sync(self.repo)
                if command.writes:
                    done = self.ledger.commit_of(invocation.event_id)
                    if done is not None and self.index.knows(done):
                        return already_done(self.repo, self.ledger, command, invocation, done)
                trust = self.repo.trust()
                snapshot = self.repo.in_force_snapshot(trust)
                outcome, ctx = self._decide(
                    command,
                    raw_args,
                    invocation,
                    StateView(snapshot, self.checks, self.sections),
                    trust,
                    internal,
                )
                if outcome.change is None or not command.writes:
                    return self._owe(invocation, reply_to(command, outcome, self.runtime), outcome)
                # Outside commits are kept below the one that decides about them: it is compared
                # with main's tip, not with the commit in force the decision was made on.
                below = self.repo.snapshot(trust.head) if command.outside else snapshot
                refuse_if_nothing_changes(outcome.change, below)
                if ctx.args.get("dry_run"):
                    return dry_run(command, outcome.change, below)
                try:
                    sha = commit_outcome(
                        self.repo, self.ledger, command, ctx, outcome, below.commit, self.runtime
                    )
                except ConcurrentUpdate:
                    # Someone wrote without our lock (a push into the repo): decide again on the
                    # new HEAD, since the freeze we checked may not hold any more.
                    fact(log, "main moved during a command, retrying", event=invocation.event_id)
                    continue
                if outcome.then is not None:
                    # Under the same lock: nothing comes between the two commits.
                    self.ledger.landed(
                        commit_then(self.repo, self.ledger, command, ctx, outcome, sha)
                    )
            self.ledger.landed(sha)
            # The index catches up after the answer (`handle`), or at the start of the next
            # command: a reply waits for nothing.
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
            return reply_to(command, outcome, self.runtime, sha)
        raise RuntimeError(f"main kept moving; gave up after {_CAS_RETRIES} tries")

    def _owe(self, invocation: Invocation, reply: Reply, outcome: Outcome) -> Reply:
        """The effects of an outcome that wrote nothing are owed now (its answer, by `run`)."""
        if outcome.effects:
            self.ledger.enqueue(identified(invocation, outcome.effects))
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
            args = bind(command.elements, command.options, raw_args, self.registry.kinds)
            if identity_changed(policy, invocation) is not None:
                self._announce_identity_change(policy, invocation.sender, invocation.master_key)
            may_run_here(policy, command, invocation, args, state)
        if command.writes and not command.outside and not trust.clean:
            raise outside_refusal(trust)
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
            host=self.host,
            gates=self.gates,
            addenda=self.addenda,
        )
        return command.handler(ctx), ctx


def _clip(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."
