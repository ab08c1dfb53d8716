"""The contract of a feature's own section of policy.toml.

A feature declares its section (`Feature(..., policy=(SECTION,))`): the table's name, the keys
it may hold, how it is read, what it is when the file has no such table and what it is when the
table cannot be read. The decoder (bot/state/policy.py) reports an unknown key, or a section that
is not a table, as it does for the core's sections; then it hands the table to `read`, which
reports the rest through the same `PolicyReader` (so each problem names the file and the key)
and returns what the feature will read. `Policy.section(SECTION)` gives it back, typed by the
section, as `Config.section` does for the host config (bot/config/section.py).

The policy's rule holds here too: what cannot be read grants less. `read` leaves out a value it
cannot read (or puts the stricter one in its place), and `unreadable` is the value that grants
least, for a section that is not a table at all.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.state.policy_reader import PolicyReader

T_co = TypeVar("T_co", covariant=True)

Read = Callable[[dict[str, Any], PolicyReader], T_co]
"""(the section's table, the reader to report its problems to) -> what the feature reads."""


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity: one value per feature
class PolicySection(Generic[T_co]):
    name: str  # the TOML table, [name]
    keys: frozenset[str]  # what the table may hold; any other key is a problem
    read: Read[T_co]
    default: T_co  # what the feature reads when the file has no [name] table
    unreadable: T_co  # what it reads when [name] is not a table: what grants least
