"""What a run's reply says, and the edits that carry it there.

`!run` answers "starting…"; from then on the executor edits that answer: the output so far
while the run runs (its last lines, elapsed time), "queued behind" while it waits, and at the
end the exit status, duration and output (inline when short, else the last lines and an
attachment). Every edit is owed in the outbox like any effect (`Teller`).
"""

import html
import time
from typing import Any

from bot.core.effects import Edit, Upload
from bot.features.runbooks.jobs import StartRun
from bot.state.outbox import Outbox

LAST_LINES = 12  # of output, in a running run's reply
INLINE_CHARS = 3000  # an output longer than this (or than INLINE_LINES) comes as a file
INLINE_LINES = 40
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Teller:
    """Edits the answers of runs, through the outbox."""

    def __init__(self, ledger: Outbox) -> None:
        self.ledger = ledger
        self._edits = 0

    def tell(
        self,
        job: StartRun,
        text: str,
        markup: str,
        *,
        ok: bool = True,
        error: str | None = None,
    ) -> None:
        self.tell_answer(job.answer, text, ok, error, markup)

    def tell_answer(
        self, answer: str | None, text: str, ok: bool, error: str | None, markup: str | None = None
    ) -> None:
        if answer is None:
            return
        self._edits += 1
        edit = Edit(answer, text, markup if markup is not None else html.escape(text), ok, error)
        self.ledger.edit(edit, f"{answer}#edit:{time.time_ns()}:{self._edits}")


def result(status: str, **fields: Any) -> dict[str, Any]:
    """An ended run's result, as the runs journal keeps it and the record shows it."""
    return {"status": status, "duration": 0.0, "size": 0, "sha256": EMPTY_SHA256, **fields}


def title(job: StartRun) -> str:
    return f"{job.runbook} {job.shown}".strip()


def how(outcome: dict[str, Any]) -> str:
    """How a run ended, in a few words: `exit 0 in 1.2s`, `failed: exit 3 in 0.4s`, …"""
    status = outcome["status"]
    took = f" in {float(outcome.get('duration') or 0):.1f}s"
    if status == "ok":
        return f"exit 0{took}"
    if status == "failed" and outcome.get("exit_code") not in (None, 0):
        return f"failed: exit {outcome['exit_code']}{took}"
    error = outcome.get("error")
    return f"{status}: {error}" if error and error != status else status


def inline(output: str) -> bool:
    """Whether an output is short enough to be shown in the reply itself."""
    return len(output) <= INLINE_CHARS and output.count("\n") <= INLINE_LINES


def progress(job: StartRun, elapsed: float, recent: str) -> tuple[str, str]:
    """A running run's reply (text, html)."""
    head = f"run {job.id}: {title(job)}: running, {elapsed:.0f}s"
    lines = recent.splitlines()[-LAST_LINES:]
    if not lines:
        return head + "…", html.escape(head) + "…"
    tail = "\n".join(lines)
    return f"{head}\n{tail}", f"{html.escape(head)}<pre><code>{html.escape(tail)}</code></pre>"


def final(
    job: StartRun,
    outcome: dict[str, Any],
    output: str,
    attachment: Upload | None,
    told: str = "",
) -> tuple[str, str]:
    """An ended run's reply (text, html)."""
    head = f"run {job.id}: {title(job)}: {how(outcome)}"
    if outcome.get("size"):
        head += f" · output {outcome['size']} bytes, sha256 {str(outcome['sha256'])[:12]}…"
    if told:  # a download's files: where they are (a link, for the person only)
        head += "\n" + told
    if attachment is not None:
        last = "\n".join(output.splitlines()[-5:])
        text = f"{head}\nthe output is attached ({attachment.name}); its last lines:\n{last}"
        name = html.escape(attachment.name)
        markup = (
            f"{html.escape(head)}<br>the output is attached ({name}); "
            f"its last lines:<pre><code>{html.escape(last)}</code></pre>"
        )
        return text, markup
    if not output.strip():
        return head, html.escape(head)
    return f"{head}\n{output}", f"{html.escape(head)}<pre><code>{html.escape(output)}</code></pre>"
