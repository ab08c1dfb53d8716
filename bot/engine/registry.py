"""Commands, each declared once: grammar, help, permission and handler side by side.

`!help`, the README's command table and every "usage:" line are generated from these
declarations. The registry is a plain object handed to the engine; nothing registers itself by
being imported.
"""

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.engine.grammar import DRY_RUN, Element, Option, compile_usage, render

if TYPE_CHECKING:
    from bot.engine.context import Context, Outcome

Handler = Callable[["Context"], "Outcome"]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: Handler
    options: tuple[Option, ...] = ()
    examples: tuple[str, ...] = ()
    details: str = ""
    writes: bool = False
    scope: str | None = None
    """The argument naming the environment that policy.toml's `environments` applies to."""
    internal: bool = False
    """Run by a transport on its own behalf (recording a room it created), never from chat."""
    admin_only: bool = False
    """Only the admin role may run it, whatever other roles list (a role with `"*"` included):
    for the commands that decide who may do what."""
    outside: bool = False
    """Decides about the unsigned commits on top of main (`!adopt`, `!discard`): it runs while
    they wait, when every other write is refused, and commits on top of them."""
    elements: tuple[Element, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", compile_usage(self.usage))
        if self.writes and DRY_RUN not in self.options:
            # Every command that writes can show what it would write instead.
            object.__setattr__(self, "options", (*self.options, DRY_RUN))
        if self.scope is not None and f"<{self.scope}>" not in self.usage:
            raise ValueError(f"!{self.name}: scope <{self.scope}> is not in its usage line")

    def usage_line(self) -> str:
        parts = [f"!{self.name}", render(self.elements)]
        parts += [o.usage() for o in self.options]
        return " ".join(p for p in parts if p)


class CommandRegistry:
    def __init__(self, commands: Iterable[Command]) -> None:
        self._commands: dict[str, Command] = {}
        for command in commands:
            if command.name in self._commands:
                raise ValueError(f"!{command.name} is declared twice")
            self._commands[command.name] = command

    def __iter__(self) -> Iterator[Command]:
        """The commands people can type, in declaration order."""
        return (c for c in self._commands.values() if not c.internal)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def lookup(self, body: str) -> tuple[Command | None, str, str]:
        """(command, its name as typed, the raw text of its arguments) for a message body.
        Names may be two words (`incident open`); the longest match wins."""
        words = body.split(None, 2)
        for size in (2, 1):
            if len(words) >= size:
                name = " ".join(w.lower() for w in words[:size]).removeprefix("!")
                command = self._commands.get(name)
                if command is not None and not command.internal:
                    rest = body.strip().split(None, size)
                    return command, name, rest[size] if len(rest) > size else ""
        first = words[0].lower().removeprefix("!") if words else ""
        return None, first, ""

    def nearest(self, name: str) -> str | None:
        names = [c.name for c in self]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return close[0] if close else None
