"""[hotfix] in policy.toml: which incidents a hotfix may be made for, and when its review is due.

    [hotfix]                         # `!deploy ... --hotfix INC-7`, for roles granted "hotfix"
    severities = ["sev1", "sev2"]    # only while the incident is open at one of these
    review_within_hours = 24         # its review proposal is due this long after

What cannot be read grants less: a severity that is not one is left out, and a section that is
not a table lets no hotfix pass.
"""

from dataclasses import dataclass
from typing import Any

from bot.core.ids import SEVERITIES
from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection

REVIEW_HOURS = 24


@dataclass(frozen=True)
class HotfixPolicy:
    severities: tuple[str, ...] = ("sev1", "sev2")
    """A hotfix passes only while its incident is open at one of these."""
    review_within_hours: int = REVIEW_HOURS
    """A hotfix's review is due this long after it."""


def _read(table: dict[str, Any], read: PolicyReader) -> HotfixPolicy:
    found = HotfixPolicy()
    if "severities" in table:
        given = read.strings("hotfix.severities", table["severities"]) or []
        if wrong := [s for s in given if s not in SEVERITIES]:
            read.problem("hotfix.severities", f"{wrong[0]!r} is not one of {SEVERITIES}")
        found = HotfixPolicy(severities=tuple(s for s in given if s in SEVERITIES))
    hours = table.get("review_within_hours", REVIEW_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 30:
        read.problem("hotfix.review_within_hours", "must be a whole number from 1 to 720")
        return found
    return HotfixPolicy(found.severities, hours)


HOTFIX_POLICY: PolicySection[HotfixPolicy] = PolicySection(
    "hotfix",
    frozenset({"severities", "review_within_hours"}),
    _read,
    default=HotfixPolicy(),
    unreadable=HotfixPolicy(severities=()),
)
