"""A record written without the TOML round-trip is byte for byte what the round-trip writes: on
random records, over random previous files of its own and of people's."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.state import records
from bot.state.record_text import plain
from bot.state.records import Deployment, Freeze, encode

TEXT = st.text(max_size=30)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
HEADER = st.one_of(
    st.none(), st.lists(st.text(alphabet="ab c`", max_size=10), max_size=3).map("\n".join)
)

DEPLOYMENTS = st.builds(
    Deployment,
    env=st.just("dev"),
    app=st.just("web"),
    version=TEXT,
    requested_by=TEXT,
    requested_at=st.one_of(st.none(), TIMES),
    reason=TEXT,
    command=st.sampled_from(["", "deploy", "rollback"]),
    hotfix=st.sampled_from(["", "INC-7"]),
)
FREEZES = st.builds(
    Freeze,
    env=st.just("prod"),
    by=TEXT,
    since=st.one_of(st.none(), TIMES),
    until=st.one_of(st.none(), TIMES),
    reason=TEXT,
)


def round_trip(record: object, previous: str | None, header: str | None) -> str:
    saved = records.plain
    records.plain = lambda *_: None  # type: ignore[assignment]
    try:
        return encode(record, previous, header=header)
    finally:
        records.plain = saved


@settings(max_examples=300, deadline=None)
@given(first=DEPLOYMENTS, second=DEPLOYMENTS, header=HEADER)
def test_a_deployment_rewritten_is_what_the_round_trip_writes(
    first: Deployment, second: Deployment, header: str | None
) -> None:
    before = round_trip(first, None, header)
    assert encode(first, None, header=header) == before
    assert encode(second, before, header=header) == round_trip(second, before, header)


@settings(max_examples=200, deadline=None)
@given(first=FREEZES, second=FREEZES)
def test_a_freeze_rewritten_is_what_the_round_trip_writes(first: Freeze, second: Freeze) -> None:
    before = round_trip(first, None, "Frozen by opsbot.")
    assert encode(second, before) == round_trip(second, before, None)


@pytest.mark.parametrize(
    "previous",
    [
        'version = "1.0"\n# a person\'s note\nreason = "x"\n',
        'version = "1.0"\nextra = 1.5\n',
        'version = "1.0"\n[table]\nk = "v"\n',
        "requested_at = 2026-01-02T03:04:05+02:00\n",
        'version = "1.0"',
        "version = 'literal'\n",
    ],
)
def test_a_file_a_person_wrote_takes_the_round_trip(previous: str) -> None:
    assert plain(previous, None, {"version": "2.0"}) is None
    record = Deployment(env="dev", app="web", version="2.0", requested_by="@a:x")
    assert encode(record, previous) == round_trip(record, previous, None)


def test_a_time_in_another_zone_takes_the_round_trip() -> None:
    when = datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert plain(None, None, {"requested_at": when}) is None
