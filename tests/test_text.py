"""Text typed by one person and shown to another is cleaned: it cannot reorder or break lines."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import BIDI_CONTROLS, clean, clean_multiline

pytestmark = pytest.mark.security


def test_an_rtl_override_is_removed() -> None:
    assert clean("rollback \u202eenil-on\u202c done") == "rollback enil-on done"


def test_every_bidi_control_is_removed() -> None:
    assert clean("a" + "".join(sorted(BIDI_CONTROLS)) + "b") == "ab"


def test_line_and_paragraph_separators_become_spaces() -> None:
    assert clean("one\u2028two\u2029three\x85four\nfive\rsix") == "one two three four five six"


def test_clean_multiline_keeps_newlines_only() -> None:
    assert clean_multiline("one\r\ntwo\u2028three\n\tfour") == "one\ntwo three\n four"


@given(st.text())
def test_clean_text_is_one_line_without_bidi_controls(text: str) -> None:
    cleaned = clean(text)
    assert cleaned.splitlines() in ([], [cleaned])
    assert not BIDI_CONTROLS & set(cleaned)
    assert len(cleaned) <= len(text)


@given(st.text())
def test_clean_multiline_text_breaks_lines_only_at_newlines(text: str) -> None:
    cleaned = clean_multiline(text)
    assert all(len(line.splitlines()) <= 1 for line in cleaned.split("\n"))
    assert not BIDI_CONTROLS & set(cleaned)
