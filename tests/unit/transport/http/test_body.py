"""The one reader of JSON bodies that every HTTP route uses: it answers what it can parse, and
refuses what is too deep or not JSON with a short reason, never with the parser's own error."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.transport.http.body import MAX_DEPTH, NotJson, parse_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab:,'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=60,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nested(levels: int) -> Any:
    value: Any = "leaf ]]]}}}"
    for level in range(levels):
        value = [value] if level % 2 else {"k[": value}
    return value


@given(json_values, st.integers(min_value=1, max_value=8))
def test_json_within_the_depth_is_read_and_deeper_json_is_refused(value: Any, limit: int) -> None:
    body = json.dumps(value).encode()
    if depth(value) <= limit:
        assert parse_json(body, limit) == value
    else:
        with pytest.raises(NotJson) as refused:
            parse_json(body, limit)
        assert str(refused.value) == f"JSON nested deeper than {limit} levels"


@pytest.mark.security
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[" * 100_000,  # never closed
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        json.dumps(nested(MAX_DEPTH + 1)).encode(),
    ],
    ids=["arrays", "unclosed", "objects", "one-too-deep"],
)
def test_a_body_nested_too_deep_is_refused_with_a_short_reason(body: bytes) -> None:
    with pytest.raises(NotJson) as refused:
        parse_json(body)
    assert str(refused.value) in (f"JSON nested deeper than {MAX_DEPTH} levels", "body is not JSON")


def test_the_deepest_body_allowed_is_read() -> None:
    assert parse_json(json.dumps(nested(MAX_DEPTH)).encode()) == nested(MAX_DEPTH)


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe{}", b"[1,]", b'"open'])
def test_what_is_not_json_is_refused_as_such(body: bytes) -> None:
    with pytest.raises(NotJson) as refused:
        parse_json(body)
    assert str(refused.value) == "body is not JSON"
