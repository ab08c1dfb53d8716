"""A runbook run as `!run` asks for it, for tests of what records and carries runs."""

from bot.features.runbooks.jobs import StartRun


def a_job(run_id: str, event: str) -> StartRun:
    """A run of the runbook `disk` as `!run disk` asks for it."""
    return StartRun(
        id=run_id,
        kind="command",
        runbook="disk",
        values={},
        shown="",
        command="!run disk",
        program="disk",
        args=(),
        env={},
        secrets={},
        timeout=60,
        keep=65536,
        redact=(),
        concurrency=1,
        when_busy="queue",
        tunnel=None,
        sender="@alice:example.org",
        sender_name="Alice",
        place="#ops",
        room="!ops:example.org",
        event=event,
        answer=None,
        at="2026-11-26T10:00:00+00:00",
        incident=None,
    )
