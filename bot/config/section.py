"""The contract of a feature's own section of the host config.

A feature declares its section (`Feature(..., config=(SECTION,))`): the table's name, the keys
it may hold, how it is read, and what it is when the file has no such table. The loader
(bot/config/host.py) reports an unknown key, or a section that is not a table, as it does for
the core's sections; then it hands the table to `parse`, which reports what is wrong through
the same helpers (so each problem names the file, the key and the line) and returns what the
feature will read. `Config.section(SECTION)` gives it back, typed by the section.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.config.http import HttpConfig
from bot.config.problems import Get, Problem

T_co = TypeVar("T_co", covariant=True)

Parse = Callable[[dict[str, Any], Problem, Get, HttpConfig | None], T_co]
"""(the section's table, how to report a problem, how to read a string, the [http] listener
or None) -> what the feature reads. The listener is there for a section served on it."""


@dataclass(frozen=True)
class ConfigSection(Generic[T_co]):
    name: str  # the TOML table, [name]
    keys: frozenset[str]  # what the table may hold; any other key is a problem
    parse: Parse[T_co]
    default: T_co  # what the feature reads when the file has no [name] table
