"""What a command owes the room it came from: its reply, as the answer in the outbox, and its
effects, each under an identity derived from the event, so that a replay owes nothing twice."""

from collections.abc import Sequence

from bot.core.effects import Answer, CreateRoom, Effect
from bot.engine.context import Command, Outcome, Runtime
from bot.engine.types import Invocation, Reply, text_html


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


def owed_answer(invocation: Invocation, reply: Reply) -> tuple[str, Answer]:
    """`reply` as the answer owed to `invocation`, with its identity in the outbox."""
    assert invocation.room_id is not None, "an answer goes to the room the command came from"
    answer = answer_to(invocation.room_id, invocation.event_id, invocation.sender, reply)
    return answer_id(invocation.event_id), answer


def identified(invocation: Invocation, effects: Sequence[Effect]) -> list[tuple[str, Effect]]:
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


def reply_to(
    command: Command, outcome: Outcome, runtime: Runtime | None, sha: str | None = None
) -> Reply:
    """The reply to a command that ran: its outcome, and the commit it made if it made one."""
    text = f"{outcome.text} · commit {sha[:7]}" if sha else outcome.text
    markup = outcome.html if outcome.html is not None else text_html(outcome.text)
    if sha:
        markup += f" · commit <code>{sha[:7]}</code>"
    if sha and runtime is not None and outcome.extra.get("deploys"):
        # The reconciler takes it from here, and amends this answer with the result.
        text, markup = f"{text} · deploying…", f"{markup} · deploying…"
    effects = outcome.effects if sha or not command.writes else ()
    return Reply(True, command.name, text, markup, commit=sha, extra=outcome.extra, effects=effects)
