"""The kinds of argument the incident commands take: a severity, an incident's id, a title, a
state, and what caused it (a commit's first digits, or an app)."""

import re

from bot.core.ids import INCIDENT_ID, INCIDENT_STATES, SEVERITY
from bot.core.text import clean
from bot.engine.kinds import ArgError, ArgKind, choice, name, printable


def severity(value: str) -> str:
    if not SEVERITY.fullmatch(value.lower()):
        raise ArgError("must be a severity from sev1 (worst) to sev5")
    return value.lower()


def incident(value: str) -> str:
    if not INCIDENT_ID.fullmatch(value.upper()):
        raise ArgError("must be an incident id like INC-7")
    return value.upper()


def title(value: str) -> str:
    printable(value)
    if not any(c.isalnum() for c in value):
        raise ArgError("must say something: letters or digits, not only punctuation")
    if len(value) > 200:
        raise ArgError("must be at most 200 characters")
    return clean(value).strip()


KINDS = (
    ArgKind("sev", severity, shape=re.compile(r"sev[0-9]+", re.IGNORECASE)),
    ArgKind("incident", incident, shape=re.compile(r"inc-[0-9]+", re.IGNORECASE)),
    ArgKind("title", title),
    ArgKind("state", choice(*INCIDENT_STATES)),
    ArgKind("which", choice("open", "all")),
    ArgKind("cause", name),  # a commit's first digits, or an app (then followed by <env>)
)
