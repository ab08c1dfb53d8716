"""The commands, collected: a plain object handed to the engine; nothing registers itself by
being imported.

`!help`, the README's command table and every "usage:" line are generated from the commands'
declarations (`Command`, declared beside the context its handler gets, in
bot/engine/context.py; features import it from here, with the registry).
"""

import difflib
from collections.abc import Iterable, Iterator

from bot.engine.context import Command
from bot.engine.grammar import params_of
from bot.engine.kinds import CORE_KINDS, ArgKind

__all__ = ["Command", "CommandRegistry"]


class CommandRegistry:
    def __init__(self, commands: Iterable[Command], kinds: Iterable[ArgKind] = ()) -> None:
        """`kinds`: those the features declare, beside the core's; every `<x>` a usage names
        must be one of them."""
        self.kinds: dict[str, ArgKind] = {}
        for kind in (*CORE_KINDS, *kinds):
            if kind.name in self.kinds:
                raise ValueError(f"the argument kind <{kind.name}> is declared twice")
            self.kinds[kind.name] = kind
        self._commands: dict[str, Command] = {}
        for command in commands:
            if command.name in self._commands:
                raise ValueError(f"!{command.name} is declared twice")
            for param in params_of(command.elements):
                if param.name not in self.kinds:
                    raise ValueError(f"!{command.name} names <{param.name}>, which has no kind")
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
