"""[metrics] in policy.toml: whether the week's engineering metrics are posted.

    [metrics]
    weekly_digest = true             # the week's engineering metrics, posted to the announce
                                     # rooms each Monday (UTC)

What cannot be read posts nothing.
"""

from typing import Any

from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection


def _read(table: dict[str, Any], read: PolicyReader) -> bool:
    return read.flag("metrics.weekly_digest", table.get("weekly_digest", False), otherwise=False)


WEEKLY_DIGEST: PolicySection[bool] = PolicySection(
    "metrics", frozenset({"weekly_digest"}), _read, default=False, unreadable=False
)
