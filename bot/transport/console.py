"""The console transport: a local prompt, or commands on standard input, one per line.

It needs no homeserver, so the whole engine can be tried, scripted and tested on its own. Each
line is an invocation with an id of its own; the same id is never sent twice. What a command
owes the rooms (notices, an incident's room) is in the outbox, for the service's deliverer to
send when it runs; the console prints it, so nobody wonders where it went.
"""

import sys
import uuid
from datetime import UTC, datetime
from typing import TextIO

from bot.core.effects import CreateRoom, Effect, Job, Notify
from bot.core.text import say
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation


def invocation(sender: str, text: str) -> Invocation:
    return Invocation(
        sender=sender,
        sender_name=sender.lstrip("@").split(":")[0],
        text=text,
        event_id=f"console:{uuid.uuid4()}",
        received_at=datetime.now(UTC),
        room_name="the console",
        transport="console",
    )


def serve(
    engine: Engine, sender: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    """Runs until end of input; returns 1 if any command was refused or failed, else 0."""
    interactive = stdin.isatty()
    if interactive:
        say(f"opsbot console, as {sender}. Type !help; Ctrl-D to leave.", stdout)
    failed = False
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        if interactive:
            try:
                line = input("> ")
            except EOFError:
                break
        else:
            line = stdin.readline()
            if not line:
                break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        reply = engine.run(invocation(sender, line))
        if reply is None:
            say("(not a command: commands start with !, as in !help)", stdout)
            continue
        failed |= not reply.ok
        say(reply.text, stdout)  # records pushed to the repo are quoted in it
        for effect in reply.effects:
            say(f"  (owed to the rooms: {owed(effect)})", stdout)
    return 1 if failed and not interactive else 0


def owed(effect: Effect) -> str:
    """One line saying what the deliverer will do for `effect`."""
    if isinstance(effect, Notify):
        where = [*effect.rooms, *(["the announcement rooms"] if effect.announce else [])]
        if effect.room_key:
            where.append(f"the room of {effect.room_key}")
        mentions = f", mentioning {', '.join(effect.mentions)}" if effect.mentions else ""
        return f"a notice to {', '.join(where) or 'nobody'}{mentions}: {effect.text}"
    if isinstance(effect, Job):
        return (
            f"a job for the {effect.executor} worker, which the service runs; the console does not"
        )
    if isinstance(effect, CreateRoom):
        return f"a new encrypted room {effect.name!r}, inviting {', '.join(effect.invite)}"
    return type(effect).__name__
