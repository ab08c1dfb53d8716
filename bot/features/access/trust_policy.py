"""[trust] in policy.toml: whether `!trust` pins only a key typed in full.

    [trust]
    confirm_keys = true              # !trust pins no key it has only seen: it shows the key and
                                     # asks for !trust @alice <key>, compared out of band first

What cannot be read (a value that is not true or false, a key the section does not know, a
section that is not a table) turns it on: a key is then pinned only when typed in full.
"""

from typing import Any

from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection

KEYS = frozenset({"confirm_keys"})


def _read(table: dict[str, Any], read: PolicyReader) -> bool:
    if set(table) - KEYS:  # reported by the decoder; it may be a misspelt confirm_keys
        return True
    return read.flag("trust.confirm_keys", table.get("confirm_keys", False), otherwise=True)


CONFIRM_KEYS: PolicySection[bool] = PolicySection(
    "trust", KEYS, _read, default=False, unreadable=True
)
