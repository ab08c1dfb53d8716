"""The index's reader of flat records gives what tomllib gives, for any text: the same table
(the same types, the same time zone), or the same refusal."""

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.state import flat_toml

# Pieces of lines as opsbot writes them, and the near misses a hand edit or another writer
# makes: escapes, other spacing, impossible dates, other time forms, tables, duplicates.
BARE_KEYS = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
KEYS = st.one_of(BARE_KEYS, st.sampled_from(['"quoted"', "a.b", "x y"]))
# Values as opsbot writes them (and impossible times of the same shape)...
FLAT_VALUES = st.sampled_from(
    [
        '"1.2"',
        '"@alice:example.org"',
        '""',
        '"é ✓"',
        '"tab\there"',
        "0",
        "12",
        "99999999999999999999",
        "true",
        "false",
        "2026-12-07T03:25:07Z",
        "2026-02-30T00:00:00Z",
        "2026-12-07T24:00:00Z",
        "2026-12-07T23:59:60Z",
    ]
)
# ... and the near misses a hand edit or another writer makes.
OTHERS = [
    '"a \\" quote"',
    '"\\u00e9"',
    "'literal'",
    "01",
    "-3",
    "1_000",
    "True",
    "2026-12-07T03:25:07z",
    "2026-12-07 03:25:07Z",
    "2026-12-07T03:25:07.5Z",
    "2026-12-07T03:25:07+02:00",
    "2026-12-07T03:25:07",
    '["a", "b"]',
    "1.5",
    '"1" # why',
    '"bell \x07"',
]
OTHER_VALUES = st.sampled_from(OTHERS)
VALUES = st.one_of(FLAT_VALUES, OTHER_VALUES)
LINES = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", KEYS, VALUES),
    st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES),
    st.sampled_from(["", "# a comment", "#", "# \x01", "  ", "[table]", "[[windows]]", "\r"]),
    st.text(max_size=12),
)


# As opsbot writes them, and a few of the near misses: most take the reader's own way.
RECORD_LINES = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", BARE_KEYS, FLAT_VALUES),
    st.sampled_from(["", "# a comment", "#"]),
    st.builds(lambda k, v: f"{k} = {v}", BARE_KEYS, OTHER_VALUES),
)


def read(text: str) -> str:
    """What a reader gets: the table (its repr: types and time zones count), or the error."""
    try:
        return repr(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        return f"error: {e}"


def read_flat(text: str) -> str:
    try:
        return repr(flat_toml.loads(text))
    except tomllib.TOMLDecodeError as e:
        return f"error: {e}"


@given(st.lists(LINES, max_size=8), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_any_text_reads_as_tomllib_reads_it(lines: list[str], end: str, last: bool) -> None:
    text = end.join(lines) + (end if last else "")
    assert read_flat(text) == read(text)


@settings(max_examples=300)
@given(st.lists(RECORD_LINES, max_size=6))
def test_a_text_shaped_like_a_record_reads_as_tomllib_reads_it(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    assert read_flat(text) == read(text)


@pytest.mark.parametrize("value", OTHERS)
def test_a_value_of_another_kind_reads_as_tomllib_reads_it(value: str) -> None:
    text = f'version = "1.2"\nkey = {value}\n'
    assert read_flat(text) == read(text)


@pytest.mark.parametrize(
    "text",
    [
        '# Deployed by opsbot.\nversion = "1.2"\nrequested_at = 2026-12-07T03:25:07Z\n',
        'approvals = 2\nfrozen = true\nreason = ""\n',
        'version = "1.2"\nversion = "1.3"\n',  # a key twice: refused
        'version = "1.2"\nrequested_at = 2026-02-30T00:00:00Z\n',  # no such day: refused
        "",
    ],
)
def test_a_record_reads_as_tomllib_reads_it(text: str) -> None:
    assert read_flat(text) == read(text)
