"""A feature's own section of policy.toml: read beside the core's, checked like them, and what
cannot be read grants less. The section here is the tests' own; the features' are tested with
the features (governance's [hotfix], the bookmarks of tests/helpers/bookmarks.py)."""

from typing import Any

import pytest

from bot.features.access.trust_policy import CONFIRM_KEYS
from bot.features.metrics.digest_policy import WEEKLY_DIGEST
from bot.state.policy import decode_policy
from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection

ADMINS = '[roles.admin]\nmembers = ["@alice:example.org"]\n'


def _pages(table: dict[str, Any], read: PolicyReader) -> int:
    pages = table.get("pages", 10)
    if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
        read.problem("pager.pages", "must be a whole number from 1")
        return 1
    return pages


PAGER = PolicySection("pager", frozenset({"pages"}), _pages, default=10, unreadable=1)


def test_a_declared_section_is_read_by_its_feature() -> None:
    policy = decode_policy(ADMINS + "[pager]\npages = 3\n", sections=(PAGER,))
    assert policy.section(PAGER) == 3
    assert policy.problems == () and policy.closed is None


def test_a_declared_section_the_file_does_not_have_is_its_default() -> None:
    assert decode_policy(ADMINS, sections=(PAGER,)).section(PAGER) == 10


def test_its_problems_name_the_file_and_the_key_like_the_core_s() -> None:
    policy = decode_policy(ADMINS + "[pager]\npages = 0\npagse = 2\n", sections=(PAGER,))
    assert [p.message for p in policy.problems] == [
        "policy.toml: pager.pagse: unknown field (known: pages)",
        "policy.toml: pager.pages: must be a whole number from 1",
    ]
    assert policy.section(PAGER) == 1
    assert policy.closed is None  # the feature's own section: the rest stays in force


def test_a_declared_section_that_is_not_a_table_grants_least() -> None:
    policy = decode_policy("pager = 3\n" + ADMINS, sections=(PAGER,))
    assert policy.section(PAGER) == 1
    assert [p.message for p in policy.problems] == ["policy.toml: pager: must be a table"]


def test_a_section_nobody_declared_still_closes_the_policy() -> None:
    policy = decode_policy(ADMINS + "[pagr]\npages = 3\n", sections=(PAGER,))
    assert policy.closed == "[pagr] is not a section opsbot knows"
    assert policy.rule("deploy").unreadable == "[pagr] is not a section opsbot knows"
    assert "pager" in policy.problems[0].message  # the known sections name the declared ones


def test_a_section_read_without_its_declaration_closes_the_policy_and_grants_least() -> None:
    policy = decode_policy(ADMINS + "[pager]\npages = 3\n")
    assert policy.closed == "[pager] is not a section opsbot knows"
    assert policy.section(PAGER) == 1


@pytest.mark.parametrize("name", ["roles", "pager"])
def test_a_section_declared_twice_or_over_a_core_one_is_a_mistake_of_the_code(name: str) -> None:
    other = PolicySection(name, frozenset(), _pages, default=10, unreadable=1)
    with pytest.raises(ValueError, match=f"declared twice: {name}"):
        decode_policy(ADMINS, sections=(PAGER, other))


@pytest.mark.parametrize(
    ("text", "reads"),
    [('[trust]\nconfirm_keys = "no"\n', True), ("[metrics]\nweekly_digest = 1\n", False)],
)
def test_a_flag_that_is_not_true_or_false_is_reported_and_grants_less(
    text: str, reads: bool
) -> None:
    section = CONFIRM_KEYS if "trust" in text else WEEKLY_DIGEST
    policy = decode_policy(ADMINS + text, sections=[CONFIRM_KEYS, WEEKLY_DIGEST])
    assert policy.section(section) is reads
    assert [str(p) for p in policy.problems] == [
        f"policy.toml: {section.name}.{next(iter(section.keys))}: must be true or false"
    ]
