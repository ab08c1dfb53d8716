"""The jobs `!run` and `!run cancel` leave in the outbox for the runbooks executor, as typed data.

The outbox stores a `Job` effect as JSON, and the runs journal keeps a queued run's job the same
way; `dump_job` and `load_job` are the one way between a job and that JSON. The keys are the
ones releases before typed jobs wrote (`action` says which kind), so that a job already owed in
the outbox of an upgraded host is still taken: one written before download runbooks has no
`sha256`, and gets none.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.core.effects import Job

EXECUTOR = "runbooks"  # the executor a runbook's `Job` is owed to


@dataclass(frozen=True)
class Tunnel:
    """A program started before the run's own that opens a port it uses (an SSH tunnel, say);
    the run waits at most `wait` seconds for the port."""

    program: str
    port: int
    wait: int
    args: tuple[str, ...]


@dataclass(frozen=True)
class StartRun:
    """A run to start: everything it needs, as the `!run` handler checked it, so that what was
    checked is what runs (the program, its argv, its environment's names and values)."""

    action: ClassVar[str] = "start"
    id: str
    kind: str  # "command" or "download"
    runbook: str
    values: dict[str, str]  # the parameters, checked
    shown: str  # the parameters as the reply and the record show them
    command: str  # the `!run` as typed, for the record
    program: str
    args: tuple[str, ...]
    env: dict[str, str]
    secrets: dict[str, str]  # variable -> the host secret it receives
    timeout: int  # seconds
    keep: int  # bytes of output kept
    redact: tuple[str, ...]
    concurrency: int
    when_busy: str  # "queue" or "refuse"
    tunnel: Tunnel | None
    sender: str
    sender_name: str
    place: str
    room: str | None
    event: str
    answer: str | None  # the answer's identity in the outbox, which the run's edits replace
    at: str  # when it was asked for (ISO 8601)
    incident: str | None  # the open incident of the room it was asked in
    sha256: dict[str, str] = field(default_factory=dict)  # a download's declared checksums


@dataclass(frozen=True)
class CancelRun:
    """A run to stop: queued, it ends at once; running, its process group is killed."""

    action: ClassVar[str] = "cancel"
    id: str
    sender: str
    admin: bool  # the sender is an admin, who may cancel anyone's run
    answer: str | None


RunbookJob = StartRun | CancelRun
_KINDS: dict[str, type[RunbookJob]] = {kind.action: kind for kind in (StartRun, CancelRun)}


def owed(job: RunbookJob) -> Job:
    """The effect that leaves `job` in the outbox for the executor."""
    return Job(EXECUTOR, dump_job(job))


def dump_job(job: RunbookJob) -> dict[str, Any]:
    return {"action": job.action, **dataclasses.asdict(job)}


def load_job(data: Mapping[str, Any]) -> RunbookJob:
    """The job `dump_job` (or an earlier release) wrote; ValueError if it is not one."""
    kind = _KINDS.get(data.get("action", ""))
    if kind is None:
        raise ValueError(f"not a runbook job: action {data.get('action')!r}")
    names = {f.name for f in dataclasses.fields(kind)}
    try:
        return kind(**{k: _LOAD.get(k, _same)(v) for k, v in data.items() if k in names})
    except (TypeError, KeyError) as e:
        raise ValueError(f"not a runbook job: {e}") from e


def load_start(data: Mapping[str, Any]) -> StartRun:
    """A run's job, as the runs journal keeps it."""
    job = load_job(data)
    if not isinstance(job, StartRun):
        raise ValueError(f"not a run to start: action {job.action!r}")
    return job


def _same(value: Any) -> Any:
    return value


def _tunnel(value: Mapping[str, Any] | None) -> Tunnel | None:
    if value is None:
        return None
    return Tunnel(
        str(value["program"]), int(value["port"]), int(value["wait"]), tuple(value["args"])
    )


# JSON has lists where a job has tuples.
_LOAD: dict[str, Any] = {
    "args": tuple,
    "redact": tuple,
    "timeout": int,
    "keep": int,
    "concurrency": int,
    "tunnel": _tunnel,
}
