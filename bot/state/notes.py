"""Outcomes as git notes under `refs/notes/opsbot`, on the commit that asked for the change.

`git log --notes=opsbot` then shows, under each deploy, what the host made of it:

    deploy web 1.4.2 to prod: ok in 1.2s (hook deploy-web, exit 0) at 2026-11-26T14:05:00Z
      | last lines of the hook's output
    Opsbot-Run: {"app": "web", "env": "prod", "version": "1.4.2", "status": "ok", ...}

One block per outcome, appended to the note already there. The `Opsbot-Run` line is for machines:
it lets the reconciler rebuild its journal from the notes alone (`parse_note`).

Notes are written through StateRepo like any commit (signed, under the writer lock, CAS on the
ref). The notes tree is flat, one file per annotated commit named by its sha; Git reads a flat
tree of any size, and we also read the `ab/cdef...` fan-out Git writes, in case someone added a
note by hand.
"""

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, get_args

from dulwich.refs import Ref

from bot.state.message import Message
from bot.state.outcome import HookResult, RunOutcome, Status
from bot.state.repo import ConcurrentUpdate, StateRepo

log = logging.getLogger("opsbot.reconcile")

NOTES = Ref(b"refs/notes/opsbot")
MACHINE = "Opsbot-Run: "
OUTPUT = "  | "
NOTE_LINES = 20  # lines of hook output in a note; the journal keeps the whole tail
_CAS_RETRIES = 5


def add_note(repo: StateRepo, outcome: RunOutcome) -> str:
    """Appends `outcome` to the note on its commit, once; returns the tip of the notes ref.

    Blocks on the writer lock: call it from a worker thread, not the event loop.
    """
    block = render(outcome)
    message = Message(
        summary=f"notes: {block.splitlines()[0]}",
        body=(f"Noted on {outcome.commit} by the reconciler.",),
    )
    with repo.locked():
        for _ in range(_CAS_RETRIES):
            tip = repo.tip(NOTES)
            old = _read(repo, tip, outcome.commit) if tip else None
            if tip and old and block.splitlines()[-1] in old.splitlines():
                return tip  # noted already: a retried write must not add it twice
            text = block if not old else f"{old.rstrip()}\n\n{block}"
            try:
                return repo.commit(
                    {outcome.commit: text.encode()},
                    message,
                    repo.committer,
                    outcome.at,
                    parent=tip,
                    ref=NOTES,
                    new_ref=tip is None,
                )
            except ConcurrentUpdate:
                continue  # someone wrote the notes ref without our lock: read it again
    raise RuntimeError(f"{NOTES.decode()} kept moving; gave up after {_CAS_RETRIES} tries")


def read_note(repo: StateRepo, commit: str) -> str | None:
    tip = repo.tip(NOTES)
    return _read(repo, tip, commit) if tip else None


def all_outcomes(repo: StateRepo) -> Iterator[RunOutcome]:
    """Every outcome recorded in the notes, in no particular order."""
    tip = repo.tip(NOTES)
    if tip is None:
        return
    snapshot = repo.snapshot(tip)
    for path in snapshot.files():
        commit = path.replace("/", "")
        text = snapshot.text(path)
        if text is not None and len(commit) == 40:
            yield from parse_note(commit, text)


def _read(repo: StateRepo, tip: str, commit: str) -> str | None:
    snapshot = repo.snapshot(tip)
    return snapshot.text(commit) or snapshot.text(f"{commit[:2]}/{commit[2:]}")


# the text of a note


def render(outcome: RunOutcome) -> str:
    """One block: a line for people, the hook's last lines of output, a line for machines."""
    lines = [f"{_what(outcome)}: {_how(outcome)} at {outcome.at:%Y-%m-%dT%H:%M:%SZ}"]
    result = outcome.result
    if result is not None and result.output_tail.strip():
        output = result.output_tail.rstrip("\n").split("\n")[-NOTE_LINES:]
        lines += [f"{OUTPUT}{_printable(line)}".rstrip() for line in output]
    lines.append(MACHINE + json.dumps(_machine(outcome), ensure_ascii=True))
    return "\n".join(lines) + "\n"


def _what(o: RunOutcome) -> str:
    return f"deploy {o.app} {o.version} to {o.env}"


def _how(o: RunOutcome) -> str:
    r = o.result
    retry = "gave up" if o.final else "will retry"
    attempt = f"attempt {o.attempt}"
    if o.status == "ok" and r is not None:
        on = f" on {attempt}" if o.attempt > 1 else ""
        return f"ok{on} in {r.duration:.1f}s (hook {r.hook}, exit 0)"
    if o.status == "failed" and r is not None:
        return f"failed in {r.duration:.1f}s (hook {r.hook}, {r.error}), {attempt}, {retry},"
    if o.status == "interrupted":
        return f"interrupted ({o.detail}), {attempt}, {retry},"
    if o.status == "no-hook":
        return f"not applied ({o.detail})"
    if o.status == "superseded":
        return f"superseded by {o.detail} before it was applied,"
    return f"{o.status} ({o.detail})"


def _printable(line: str) -> str:
    # Hook output is shown in people's terminals by `git log`: no escape sequences.
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)


def _machine(o: RunOutcome) -> dict[str, Any]:
    r = o.result
    return {
        "app": o.app,
        "env": o.env,
        "version": o.version,
        "status": o.status,
        "attempt": o.attempt,
        "final": o.final,
        "at": o.at.isoformat(),
        "detail": o.detail,
        "hook": r.hook if r else None,
        "exit_code": r.exit_code if r else None,
        "duration": round(r.duration, 3) if r else None,
        "error": r.error if r else None,
    }


def parse_note(commit: str, text: str) -> list[RunOutcome]:
    """The outcomes in a note, from its `Opsbot-Run` lines; blocks without one are skipped."""
    found: list[RunOutcome] = []
    output: list[str] = []
    for line in text.split("\n"):
        if line.startswith(MACHINE):
            # A line someone edited by hand is skipped: the rest of the note still counts.
            with contextlib.suppress(ValueError, KeyError, TypeError):
                found.append(_outcome(commit, json.loads(line[len(MACHINE) :]), output))
            output = []
        elif line.startswith(OUTPUT):
            output.append(line[len(OUTPUT) :])
        elif line.strip():
            output = []  # the first line of the next block
    return found


def _outcome(commit: str, data: dict[str, Any], output: list[str]) -> RunOutcome:
    status: Status = data["status"]
    if status not in get_args(Status):
        raise ValueError(f"unknown status {status!r}")
    result = None
    if data.get("hook") is not None:
        result = HookResult(
            hook=data["hook"],
            ok=status == "ok",
            exit_code=data.get("exit_code"),
            duration=float(data.get("duration") or 0.0),
            output_tail="\n".join(output) + ("\n" if output else ""),
            error=data.get("error"),
        )
    at = datetime.fromisoformat(data["at"])
    return RunOutcome(
        commit=commit,
        app=data["app"],
        env=data["env"],
        version=data["version"],
        status=status,
        attempt=int(data["attempt"]),
        final=bool(data["final"]),
        result=result,
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
        detail=data.get("detail") or "",
    )
