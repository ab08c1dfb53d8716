"""Where each outcome of the reconciler goes once the journal holds it: a log line, a git note on
the commit that asked for it, and `on_outcome` (which tells the people in the room).

A note that cannot be written now (a busy lock, a crash) is not lost: the journal keeps the row
marked not noted, and the next pass writes it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.core.logs import fact
from bot.reconcile.journal import ReconcileJournal
from bot.state.notes import add_note
from bot.state.outcome import RunOutcome
from bot.state.repo import StateRepo

log = logging.getLogger("opsbot.reconcile")

OnOutcome = Callable[[RunOutcome], Awaitable[None]]


class Recorder:
    def __init__(
        self, repo: StateRepo, journal: ReconcileJournal, on_outcome: OnOutcome | None
    ) -> None:
        self.repo = repo
        self.journal = journal
        self.on_outcome = on_outcome

    async def publish(self, run_id: int, outcome: RunOutcome) -> None:
        """Logs, notes and hands on the outcome the journal holds as `run_id`."""
        result = outcome.result
        fact(
            log,
            f"deploy {outcome.status}",
            logging.INFO if outcome.ok else logging.WARNING,
            app=outcome.app,
            version=outcome.version,
            env=outcome.env,
            commit=outcome.commit,
            attempt=outcome.attempt,
            final=outcome.final,
            hook=result.hook if result else None,
            exit_code=result.exit_code if result else None,
            error=result.error if result else outcome.detail or None,
        )
        await self._note(run_id, outcome)
        if self.on_outcome is not None:
            try:
                await self.on_outcome(outcome)
            except Exception:
                log.exception("on_outcome failed")

    async def flush_notes(self) -> None:
        """Writes the notes an earlier attempt could not."""
        for run_id, outcome in self.journal.unnoted():
            await self._note(run_id, outcome)

    async def recover(self, attempts_allowed: int) -> list[RunOutcome]:
        """Runs a crash left "started" become interrupted; their requests run again."""
        found = self.journal.interrupt_unfinished(datetime.now(UTC), attempts_allowed)
        for run_id, outcome in found:
            await self.publish(run_id, outcome)
        return [outcome for _, outcome in found]

    async def _note(self, run_id: int, outcome: RunOutcome) -> None:
        try:
            await asyncio.to_thread(add_note, self.repo, outcome)
        except Exception as e:
            # The journal still has it (noted = 0): the next pass writes the note.
            fact(
                log,
                "could not write the note; will retry",
                logging.WARNING,
                commit=outcome.commit,
                error=repr(e),
            )
            return
        self.journal.noted(run_id)
