"""Every run, recorded in Git on its own ref, `refs/opsbot/runs`: one signed commit per run,
authored by the person who asked, holding `runs/<yyyy-mm>/<id>.toml` (who, when, which
parameters, from which room and event, exit status, duration, the sha256 and size of the full
output) and `runs/<yyyy-mm>/<id>.txt` (the output as kept, redacted).

The ref is not main: `git log main -- deployments/` stays the history of the desired state, and
`git log refs/opsbot/runs` is the history of runs. Its commits have only each other as parents.
"""

from datetime import UTC, datetime
from typing import Any

import tomlkit
from dulwich.refs import Ref

from bot.features.runbooks.jobs import StartRun
from bot.state.message import Message
from bot.state.repo import Identity, StateRepo

RUNS_REF = Ref(b"refs/opsbot/runs")


def run_paths(run_id: str, at: datetime) -> tuple[str, str]:
    month = at.strftime("%Y-%m")
    return f"runs/{month}/{run_id}.toml", f"runs/{month}/{run_id}.txt"


def record(repo: StateRepo, job: StartRun, result: dict[str, Any], output: str) -> str:
    """Commits the run (once: a run already on the ref is not committed again); its commit.
    Its time is when it was asked for (`job.at`)."""
    when = datetime.fromisoformat(job.at)
    record_path, output_path = run_paths(job.id, when)
    with repo.locked():
        tip = repo.tip(RUNS_REF)
        if tip is not None and repo.snapshot(tip).read(record_path) is not None:
            return tip
        files: dict[str, bytes | None] = {
            record_path: _toml(job, result, output_path).encode(),
            output_path: output.encode(),
        }
        status = result["status"]
        exit_code = result.get("exit_code")
        how = f"exit {exit_code}" if status in ("ok", "failed") else status
        shown = f" {job.shown}" if job.shown else ""
        body = [f"Run {job.id}, requested by {job.sender_name} in {job.place}."]
        if result.get("error"):
            body.append(f"Result: {result['error']}")
        trailers = [
            ("Opsbot-Command", job.command),
            ("Opsbot-Run", job.id),
            ("Runbook", job.runbook),
            ("Run-Status", how),
        ]
        if job.room:
            trailers.append(("Matrix-Room", job.room))
        trailers.append(("Matrix-Event", job.event))
        if job.incident:
            trailers.append(("Incident", job.incident))
        message = Message(f"run: {job.runbook}{shown} ({how})", tuple(body), tuple(trailers))
        author = Identity(job.sender_name, job.sender)
        return repo.commit(
            files, message, author, when, parent=tip, ref=RUNS_REF, new_ref=tip is None
        )


def _toml(job: StartRun, result: dict[str, Any], output_path: str) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment("One run of a runbook, recorded by opsbot."))
    fields: dict[str, Any] = {
        "id": job.id,
        "runbook": job.runbook,
        "requested_by": job.sender,
        "requested_at": _time(job.at),
        "room": job.room or "",
        "event": job.event,
        "params": job.values,
        "status": result["status"],
    }
    for key in ("exit_code", "error", "started_at", "ended_at"):
        if result.get(key) is not None:
            fields[key] = _time(result[key]) if key.endswith("_at") else result[key]
    fields["duration_seconds"] = round(float(result.get("duration", 0.0)), 3)
    fields["output_bytes"] = int(result.get("size", 0))
    fields["output_sha256"] = result.get("sha256", "")
    fields["output_kept"] = output_path.rsplit("/", 1)[-1]
    if job.incident:
        fields["incident"] = job.incident
    for key, value in fields.items():
        doc.add(key, value)
    return tomlkit.dumps(doc)


def _time(value: float | str) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.fromtimestamp(value, UTC).replace(microsecond=0)
