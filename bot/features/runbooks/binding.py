"""A run's words, read against its runbook: `name=value` (or bare values in declaration order)
and `--confirm` typed in chat become checked values, and the values fill in the runbook's argv
and environment templates. Pure, like the declaration it reads.
"""

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.errors import UsageError
from bot.features.runbooks.declaration import Runbook
from bot.features.runbooks.params import ParamError


@dataclass(frozen=True)
class Bound:
    """The values of a run, checked, in declaration order; and whether --confirm was typed."""

    values: dict[str, str]
    confirmed: bool

    def shown(self) -> str:
        return " ".join(f"{k}={shlex.quote(v)}" for k, v in self.values.items())


def bind(runbook: Runbook, raw: str, apps: Mapping[str, Any], envs: Mapping[str, Any]) -> Bound:
    """`name=value` words (or bare values, in declaration order) to checked values; UsageError
    with the runbook's own usage line for anything missing, unknown or of the wrong shape."""
    usage = f"usage: {runbook.usage()}"
    try:
        words = shlex.split(raw)
    except ValueError as e:
        raise UsageError(
            f"could not read the parameters: {e}", hint="close every quote you open"
        ) from None
    given: dict[str, str] = {}
    confirmed = False
    positional = [p.name for p in runbook.params]
    by_name = {p.name: p for p in runbook.params}
    for word in words:
        if word == "--confirm":
            confirmed = True
            continue
        key, eq, value = word.partition("=")
        if eq and key in by_name:
            if key in given:
                raise UsageError(f"{key} given twice", usage=usage)
            given[key] = value
            continue
        if eq and re.fullmatch(r"[a-z][a-z0-9_]*", key):
            known = ", ".join(by_name) or "none"
            raise UsageError(
                f"{runbook.name} has no parameter {key!r} (its parameters: {known})", usage=usage
            )
        rest = [n for n in positional if n not in given]
        if word.startswith("-") and not re.fullmatch(r"-[0-9]+", word):
            raise UsageError(f"unknown option {word[:40]!r} (options here: --confirm)", usage=usage)
        if not rest:
            raise UsageError(f"unexpected {word[:40]!r}", usage=usage)
        given[rest[0]] = word
    values: dict[str, str] = {}
    for param in runbook.params:
        found = given.get(param.name, param.default)
        if found is None:
            raise UsageError(f"missing {param.name}=<{param.shape()}>", usage=usage)
        try:
            values[param.name] = param.check(found, apps, envs)
        except ParamError as e:
            shown = found if len(found) <= 40 else found[:37] + "..."
            raise UsageError(f"{param.name} {shown!r} {e}", usage=usage) from None
    return Bound(values, confirmed)


def render(template: str, values: Mapping[str, str]) -> str:
    """A template with `{param}` filled in (`{{` and `}}` for braces): one argv element stays
    one element, whatever the value holds."""
    out: list[str] = []
    i = 0
    while i < len(template):
        if template.startswith("{{", i) or template.startswith("}}", i):
            out.append(template[i])
            i += 2
            continue
        if template[i] == "{":
            end = template.index("}", i)
            out.append(values[template[i + 1 : end]])
            i = end + 1
            continue
        out.append(template[i])
        i += 1
    return "".join(out)


def argv(runbook: Runbook, values: Mapping[str, str]) -> list[str]:
    return [render(arg, values) for arg in runbook.args]


def environment(runbook: Runbook, values: Mapping[str, str]) -> dict[str, str]:
    return {key: render(template, values) for key, template in runbook.env.items()}
