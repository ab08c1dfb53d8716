"""The Matrix transport's journal: sync position, handled events, trust on first use."""

from pathlib import Path

from bot.transport.matrix.journal import MatrixJournal
from bot.transport.ratelimit import RateLimit


def test_the_sync_position_survives_reopening(tmp_path: Path) -> None:
    journal = MatrixJournal(tmp_path / "journal.sqlite")
    assert journal.position() is None
    journal.advance("s42_1")
    journal.close()
    assert MatrixJournal(tmp_path / "journal.sqlite").position() == "s42_1"


def test_a_handled_event_is_remembered(tmp_path: Path) -> None:
    journal = MatrixJournal(tmp_path / "journal.sqlite")
    journal.mark_handled("$a", "!room", "$reply")
    assert journal.handled("$a")
    assert not journal.handled("$b")


def test_the_first_key_of_a_device_is_kept_and_a_changed_key_is_refused(tmp_path: Path) -> None:
    journal = MatrixJournal(tmp_path / "journal.sqlite")
    assert journal.first_use("@bob:example.org", "PHONE", "key-1")
    assert journal.first_use("@bob:example.org", "PHONE", "key-1")
    assert not journal.first_use("@bob:example.org", "PHONE", "key-2")
    assert journal.key_of("@bob:example.org", "PHONE") == "key-1"


def test_the_rate_limit_allows_a_burst_then_refills_at_the_rate() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=6, burst=2, clock=lambda: now[0])
    assert limit.take("@bob:x") == 0
    assert limit.take("@bob:x") == 0
    assert limit.take("@bob:x") == 10.0  # one token every 10 s
    assert limit.take("@carol:x") == 0  # per person
    now[0] += 10
    assert limit.take("@bob:x") == 0
