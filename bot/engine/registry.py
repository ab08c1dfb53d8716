"""The commands, collected: a plain object handed to the engine; nothing registers itself by
being imported.

`!help`, the README's command table and every "usage:" line are generated from the commands'
declarations (`Command`, declared beside the context its handler gets, in
bot/engine/context.py; features import it from here, with the registry).
"""

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from bot.engine.context import Command
from bot.engine.grammar import Option, params_of
from bot.engine.kinds import CORE_KINDS, ArgKind

__all__ = ["Command", "CommandRegistry", "OptionFor"]


@dataclass(frozen=True)
class OptionFor:
    """An option a feature adds to commands another feature declares (an incident, on
    `!deploy`): shown in their usage and help, read by the feature's gate from `ctx.args`."""

    commands: tuple[str, ...]
    option: Option
    examples: tuple[str, ...] = ()
    """Added to the examples of the command each names (`!deploy ...` with the option)."""


class CommandRegistry:
    def __init__(
        self,
        commands: Iterable[Command],
        kinds: Iterable[ArgKind] = (),
        options: Iterable[OptionFor] = (),
    ) -> None:
        """`kinds`: those the features declare, beside the core's; every `<x>` a usage names
        must be one of them. `options`: those features add to other features' commands."""
        added = list(options)
        commands = [_with_options(c, added) for c in commands]
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

        for each in added:
            for name in each.commands:
                if name not in self._commands:
                    raise ValueError(
                        f"{each.option.flag} is added to !{name}, which is not declared"
                    )

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
        if len(words) > 1 and self._family(first):  # `incident declare`: the second word is wrong
            return None, f"{first} {words[1].lower()}", ""
        return None, first, ""

    def unknown(self, name: str) -> tuple[str, str]:
        """(what was wrong, what to type instead) for `name`, which names no command: the
        nearest command, or after a word that only starts commands (`incident`), those."""
        head, _, sub = name.partition(" ")
        family = self._family(head)
        if family:
            close = difflib.get_close_matches(sub, family, n=1, cutoff=0.6) if sub else []
            listed = ", ".join([f"!{head} {family[0]}", *family[1:]])
            hint = f"did you mean !{head} {close[0]}? " if close else f"its commands are {listed}; "
            what = f"unknown command !{name}" if sub else f"!{head} is not a command by itself"
            return what, f"{hint}!help {head} shows each"
        names = [c.name for c in self]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean !{close[0]}? " if close else ""
        return f"unknown command !{name}", hint + "!help lists them all"

    def _family(self, word: str) -> list[str]:
        """The second words of the commands that start with `word` (`incident`: open, sev...)."""
        return [c.name.split(" ", 1)[1] for c in self if c.name.startswith(f"{word} ")]


def _with_options(command: Command, added: list[OptionFor]) -> Command:
    """`command` with the options features add to it, before `--dry-run`."""
    ours = [a for a in added if command.name in a.commands]
    more = tuple(a.option for a in ours)
    if not more:
        return command
    examples = (
        *command.examples,
        *(e for a in ours for e in a.examples if e.split()[0] == f"!{command.name}"),
    )
    flags = {o.flag for o in command.options}
    for option in more:
        if option.flag in flags:
            raise ValueError(f"!{command.name} has {option.flag} twice")
    own = tuple(o for o in command.options if o.flag != "--dry-run")
    last = tuple(o for o in command.options if o.flag == "--dry-run")
    return replace(command, options=(*own, *more, *last), examples=examples)
