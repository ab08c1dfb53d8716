"""Every feature opsbot has, collected: the assembly builds the engine, the transports' routes,
observers and tasks from this list, and nothing registers itself by being imported."""

from collections.abc import Sequence
from typing import Any

from bot.engine.feature import Feature, RequestKind, Requests, Task
from bot.engine.registry import CommandRegistry
from bot.features import (
    alerts,
    deploy,
    freeze,
    help,
    incident,
    incident_internal,
    incident_progress,
    incident_reports,
    incident_transcript,
    lock,
    outside,
    proposals,
    roles,
    runbooks,
    status,
    trust,
)


async def _owe_incident_rooms(requests: Requests) -> None:
    """Open incidents whose room was never made get it (the outbox makes each room once)."""
    owed = incident.rooms_owed(requests.view())
    requests.owe([(f"room:{room.key}", room) for room in owed])


FEATURES: tuple[Feature, ...] = (
    Feature("help", commands=help.COMMANDS),
    Feature("deploy", commands=(*deploy.COMMANDS, *proposals.COMMANDS)),
    Feature("freeze", commands=(*freeze.COMMANDS, *lock.COMMANDS)),
    Feature("status", commands=status.COMMANDS),
    Feature("access", commands=(*trust.COMMANDS, *roles.COMMANDS, *outside.COMMANDS)),
    Feature(
        "incidents",
        commands=(*incident.COMMANDS, *incident_progress.COMMANDS, *incident_reports.COMMANDS),
        requests=incident_internal.REQUESTS,
        observers=(incident_transcript.OBSERVER,),
        tasks=(Task("incident rooms owed", _owe_incident_rooms),),
    ),
    Feature("alerts", routes=alerts.ROUTES),
    Feature("runbooks", commands=runbooks.COMMANDS, requests=runbooks.REQUESTS),
)


def default_registry(features: Sequence[Feature] = FEATURES) -> CommandRegistry:
    return CommandRegistry([command for feature in features for command in feature.commands])


def request_kinds(features: Sequence[Feature] = FEATURES) -> list[RequestKind[Any]]:
    return [kind for feature in features for kind in feature.requests]
