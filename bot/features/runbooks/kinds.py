"""The kinds of argument `!run` takes: a runbook's name, its parameters as typed, a run's id."""

import re

from bot.core.text import without_bidi
from bot.engine.kinds import ArgError, ArgKind, printable


def runbook(value: str) -> str:
    printable(value)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
        raise ArgError("must be a runbook name: lowercase letters, digits, '-' or '_' (!runbooks)")
    return value


def params(value: str) -> str:
    """A runbook's parameters, as typed but for bidi controls (a value shown in the run's reply
    must read as it is): the runbook's declaration checks them (and refuses a newline, which
    only it can say what to do about)."""
    if len(value.encode()) > 4096:
        raise ArgError("must be at most 4 KiB")
    return without_bidi(value)


def run_id(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{8}", value.lower()):
        raise ArgError("must be a run id: 8 hexadecimal digits, as the run's reply shows")
    return value.lower()


KINDS = (ArgKind("runbook", runbook), ArgKind("params", params), ArgKind("run", run_id))
