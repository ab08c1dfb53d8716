"""What incidents contribute."""

from bot.engine.feature import Feature
from bot.engine.requests import Requests, Task
from bot.features.incidents import (
    cause,
    incident,
    internal,
    kinds,
    progress,
    records,
    reports,
    transcript,
)
from bot.features.incidents.incident_policy import INCIDENT_POLICY


async def _owe_incident_rooms(requests: Requests) -> None:
    """Open incidents whose room was never made get it (the outbox makes each room once)."""
    owed = incident.rooms_owed(requests.view())
    requests.owe([(f"room:{room.key}", room) for room in owed])


FEATURE = Feature(
    "incidents",
    commands=(*incident.COMMANDS, *progress.COMMANDS, *reports.COMMANDS, *cause.COMMANDS),
    kinds=kinds.KINDS,
    requests=internal.REQUESTS,
    observers=(transcript.OBSERVER,),
    tasks=(Task("incident rooms owed", _owe_incident_rooms),),
    checks=(records.problems,),
    policy=(INCIDENT_POLICY,),
)
