"""The runbooks feature's typed request: what its executor (the host side) asks the engine to
record. Here, below both, so that the handler in commands.py and the executor that sends it
share the type without either importing the other.
"""

from dataclasses import dataclass
from typing import ClassVar

from bot.core.effects import Request


@dataclass(frozen=True)
class RunNoted(Request):
    """A run started in an incident's room, for its timeline (sent by the executor at its end)."""

    name: ClassVar[str] = "run noted"
    incident: str
    who: str
    text: str
