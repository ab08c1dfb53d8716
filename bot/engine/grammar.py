"""Command grammar: splitting a message into words, and matching words against a usage line.

A usage line is written the way `!help` shows it: `<app> <version> to <env>`, `<env> [for
<duration>]`. `<x>` is an argument whose kind (and so its check) is looked up by name among the
kinds the registry holds (bot/engine/kinds.py, and each feature's); bare words are literals;
`[...]` is optional. Options (`--reason TEXT`, `-n N`) may
stand anywhere after the command name. The same declaration produces the help text and the
"usage:" line of every error, so they cannot drift apart.
"""

import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.errors import UsageError
from bot.engine.kinds import ArgError, ArgKind, text


@dataclass(frozen=True)
class Option:
    flag: str  # "--reason" or "-n"
    dest: str
    metavar: str  # "" for a flag that takes no value
    help: str
    parse: Callable[[str], Any] = text

    def usage(self) -> str:
        return f"[{self.flag} {self.metavar}]" if self.metavar else f"[{self.flag}]"


REASON = Option("--reason", "reason", "TEXT", "why; goes into the commit message")
DRY_RUN = Option("--dry-run", "dry_run", "", "show the diff it would commit, and commit nothing")


def split(message: str) -> list[str]:
    """Words and quoted strings, as a shell would split them (quotes may be ' or ")."""
    try:
        return shlex.split(message)
    except ValueError as e:
        raise UsageError(
            f"could not read the command: {e}", hint="close every quote you open"
        ) from None


# Usage lines


@dataclass(frozen=True)
class Literal:
    word: str


@dataclass(frozen=True)
class Param:
    name: str
    rest: bool = False  # `<text...>`: the rest of the message, exactly as typed


@dataclass(frozen=True)
class Optional:
    elements: tuple["Element", ...]


Element = Literal | Param | Optional


def compile_usage(usage: str) -> tuple[Element, ...]:
    tokens = re.findall(r"\[|\]|<[a-z_]+(?:\.\.\.)?>|[^\s\[\]]+", usage)
    elements, rest = _compile(tokens, 0)
    if rest != len(tokens):
        raise ValueError(f"unbalanced ']' in usage {usage!r}")
    return elements


def _compile(tokens: list[str], i: int) -> tuple[tuple[Element, ...], int]:
    out: list[Element] = []
    while i < len(tokens):
        token = tokens[i]
        if token == "]":
            return tuple(out), i
        if token == "[":
            inner, i = _compile(tokens, i + 1)
            if i >= len(tokens):
                raise ValueError("unbalanced '[' in usage")
            out.append(Optional(inner))
        elif token.startswith("<"):
            param = token[1:-1].removesuffix("...")
            out.append(Param(param, rest=token.endswith("...>")))
        else:
            out.append(Literal(token))
        i += 1
    return tuple(out), i


@dataclass
class _Failure:
    at: int = -1
    expected: str = ""


def _match(
    elements: tuple[Element, ...],
    words: list[str],
    i: int,
    bound: dict[str, str],
    fail: _Failure,
    kinds: Mapping[str, ArgKind],
) -> Iterator[tuple[int, dict[str, str]]]:
    if not elements:
        yield i, bound
        return
    head, rest = elements[0], elements[1:]
    if isinstance(head, Optional):
        for j, inner in _match(head.elements, words, i, bound, fail, kinds):
            yield from _match(rest, words, j, inner, fail, kinds)
        yield from _match(rest, words, i, bound, fail, kinds)
        return
    shape = kinds[head.name].shape if isinstance(head, Param) else None
    if (
        i >= len(words)
        or (isinstance(head, Literal) and words[i].lower() != head.word)
        or (shape is not None and not shape.fullmatch(words[i]))
    ):
        if i > fail.at or (i == fail.at and not fail.expected):
            fail.at = i
            fail.expected = head.word if isinstance(head, Literal) else f"<{head.name}>"
        return
    if isinstance(head, Literal):
        yield from _match(rest, words, i + 1, bound, fail, kinds)
    else:
        yield from _match(rest, words, i + 1, {**bound, head.name: words[i]}, fail, kinds)


def bind(
    elements: tuple[Element, ...],
    options: tuple[Option, ...],
    raw: str,
    kinds: Mapping[str, ArgKind],
) -> dict[str, Any]:
    """Arguments by name, each checked by its kind in `kinds`; raises UsageError saying what
    is wrong."""
    last = elements[-1] if elements else None
    if isinstance(last, Optional) and len(last.elements) == 1:
        last = last.elements[0]  # `[<command...>]`: an optional rest
    if isinstance(last, Param) and last.rest:
        raw, args = _trailing_options(raw, options)
        return {**_bind_rest(elements, raw, kinds), **args}
    return _bind_words(elements, options, split(raw), kinds)


def _trailing_options(raw: str, options: tuple[Option, ...]) -> tuple[str, dict[str, Any]]:
    """Options typed after free text (`!incident open DB down --dry-run`): taken off its end,
    so the rest of the text stays exactly as typed."""
    args: dict[str, Any] = {}
    found = True
    while found:
        found = False
        for option in options:
            value = r"""\s+("[^"]*"|'[^']*'|\S+)""" if option.metavar else ""
            match = re.search(rf"\s{re.escape(option.flag)}{value}\s*$", " " + raw)
            if match and option.dest not in args:
                if option.metavar:
                    given = match.group(1).strip("\"'")
                    args[option.dest] = _checked(option.flag, option.parse, given)
                else:
                    args[option.dest] = True
                raw = (" " + raw)[: match.start()].strip()
                found = True
    return raw, args


def _bind_rest(
    elements: tuple[Element, ...], raw: str, kinds: Mapping[str, ArgKind]
) -> dict[str, Any]:
    """For usages ending in `<text...>`: the leading arguments are taken greedily (an optional
    one only if the word has its shape, like `sev2` or `INC-7`), and the rest is kept exactly as
    typed, quotes, apostrophes and all: a note is stored as the person wrote it."""
    args: dict[str, Any] = {}
    rest = raw.strip()
    for element in elements:
        word, _, after = rest.partition(" ")
        if isinstance(element, Optional) and element is elements[-1]:
            if not rest:
                return args  # `[<command...>]` left out
            element = element.elements[0]
        if isinstance(element, Param) and element.rest:
            if not rest:
                raise UsageError(f"missing <{element.name}>")
            quote = rest[0]
            if len(rest) >= 2 and quote in "\"'" and rest[-1] == quote and rest.count(quote) == 2:
                rest = rest[1:-1]
            args[element.name] = _checked(f"<{element.name}>", kinds[element.name].check, rest)
            return args
        if isinstance(element, Optional):
            inner = element.elements[0]
            shape = kinds[inner.name].shape if isinstance(inner, Param) else None
            if isinstance(inner, Param) and shape is not None and shape.fullmatch(word):
                args[inner.name] = _checked(f"<{inner.name}>", kinds[inner.name].check, word)
                rest = after.strip()
            continue
        if not word:
            raise UsageError(f"missing {render((element,))}")
        if isinstance(element, Literal):
            if word.lower() != element.word:
                raise UsageError(f"expected {element.word!r} but got {word!r}")
        else:
            args[element.name] = _checked(f"<{element.name}>", kinds[element.name].check, word)
        rest = after.strip()
    raise ValueError("a rest argument must end the usage")


def _bind_words(
    elements: tuple[Element, ...],
    options: tuple[Option, ...],
    words: list[str],
    kinds: Mapping[str, ArgKind],
) -> dict[str, Any]:
    args: dict[str, Any] = {}
    positional: list[str] = []
    by_flag = {o.flag: o for o in options}
    i = 0
    while i < len(words):
        token = words[i]
        flag, eq, inline = token.partition("=")
        if flag in by_flag and not by_flag[flag].metavar:
            if eq:
                raise UsageError(f"{flag} takes no value")
            args[by_flag[flag].dest] = True
        elif flag in by_flag:
            option = by_flag[flag]
            if eq:
                value = inline
            elif i + 1 < len(words):
                i += 1
                value = words[i]
            else:
                raise UsageError(f"{flag} needs a value ({option.metavar})")
            if option.dest in args:
                raise UsageError(f"{flag} given twice")
            args[option.dest] = _checked(flag, option.parse, value)
        elif token.startswith("-") and len(token) > 1 and token[1] not in "0123456789":
            known = ", ".join(by_flag) or "none"
            raise UsageError(f"unknown option {flag} (options here: {known})")
        else:
            positional.append(token)
        i += 1

    fail = _Failure()
    best_end = -1
    for end, bound in _match(elements, positional, 0, {}, fail, kinds):
        if end == len(positional):
            for key, value in bound.items():
                args[key] = _checked(f"<{key}>", kinds[key].check, value)
            return args
        best_end = max(best_end, end)
    if fail.at >= len(positional):
        shown = fail.expected if fail.expected.startswith("<") else repr(fail.expected)
        raise UsageError(f"missing {shown}")
    if fail.at >= best_end:
        raise UsageError(f"expected {fail.expected!r} but got {positional[fail.at]!r}")
    raise UsageError(f"unexpected {' '.join(positional[best_end:])!r}")


def _checked(what: str, parse: Callable[[str], Any], value: str) -> Any:
    try:
        return parse(value)
    except ArgError as e:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise UsageError(f"{what} {shown!r} {e}") from None


def render(elements: tuple[Element, ...]) -> str:
    parts = []
    for element in elements:
        if isinstance(element, Literal):
            parts.append(element.word)
        elif isinstance(element, Param):
            parts.append(f"<{element.name}{'...' if element.rest else ''}>")
        else:
            parts.append(f"[{render(element.elements)}]")
    return " ".join(parts)


def params_of(elements: tuple[Element, ...]) -> Iterator[Param]:
    """Every `<x>` of a usage, optional ones included."""
    for element in elements:
        if isinstance(element, Param):
            yield element
        elif isinstance(element, Optional):
            yield from params_of(element.elements)
