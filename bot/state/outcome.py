"""What the reconciler did about one desired version: the record it keeps, notes and reports.

One `RunOutcome` per hook run, plus one for each decision that ran no hook (no deploy hook to run, a
newer version took over, opsbot stopped mid-run). The same record is written to the SQLite
journal, rendered into the git note on the commit that asked for the version, parsed back from
that note, and handed to `on_outcome` (which tells the people in the room).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class HookResult:
    """What one run of a hook did. `exit_code` is None when it never ran or was killed by us."""

    hook: str
    ok: bool
    exit_code: int | None
    duration: float  # seconds
    output_tail: str  # the last bytes of stdout and stderr, interleaved as the hook wrote them
    error: str | None  # why it failed, in a few words; None when ok


Status = Literal["ok", "failed", "interrupted", "no-hook", "superseded"]
"""ok / failed: the deploy hook ran and exited 0 / did not (or was refused, or timed out).
interrupted: opsbot stopped while the hook ran; its result is unknown and it runs again.
no-hook: the app names no deploy hook, so nothing on the host can apply it.
superseded: a newer desired version arrived before this one was applied; it will not be retried.
"""

HOOK_RAN: tuple[Status, ...] = ("ok", "failed", "interrupted")
"""Statuses after which the host may have changed: they are the host's last known state."""


@dataclass(frozen=True)
class RunOutcome:
    commit: str  # the commit that asked for `version`; the note goes on it
    app: str
    env: str
    version: str
    status: Status
    attempt: int  # 1 for the first run of the hook for this commit; 0 when no hook ever ran
    final: bool  # nothing more will be tried for this commit (ok, gave up, superseded, no hook)
    result: HookResult | None  # the deploy hook's run, when it finished
    at: datetime  # when this happened (the hook finished, the decision was made)
    detail: str = ""  # words for the reader when there is no result: why, or superseded by what

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def target(self) -> tuple[str, str]:
        return self.env, self.app
