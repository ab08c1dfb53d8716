"""Text typed by one person and shown to another is cleaned: it cannot reorder or break lines."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.text import BIDI_CONTROLS, clean, clean_multiline, escaped

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


# What a terminal or a log line gets: the same characters, written out where they would act.

ACTS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def test_an_escape_sequence_is_written_out_for_the_terminal() -> None:
    assert escaped("EVE\x1b[1A\r\u202eok\x9b\n") == "EVE\\x1b[1A\\r\\u202eok\\x9b\\n"


def test_escaped_lines_keep_their_line_breaks_and_tabs() -> None:
    assert escaped("one\r\ntwo\tthree\rfour\n", lines=True) == "one\ntwo\tthree\\rfour\n"


@given(st.text())
def test_escaped_text_holds_nothing_a_terminal_would_act_on(text: str) -> None:
    shown = escaped(text)
    assert ACTS.search(shown) is None
    assert not BIDI_CONTROLS & set(shown)
    assert escaped(shown) == shown  # escaping twice shows the same


@given(st.text())
def test_escaped_lines_break_only_at_newlines(text: str) -> None:
    shown = escaped(text, lines=True)
    assert ACTS.search(shown.replace("\n", "").replace("\t", "")) is None
    assert not BIDI_CONTROLS & set(shown)
