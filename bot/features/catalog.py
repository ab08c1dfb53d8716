"""Every command opsbot knows, collected into the registry the engine is built with."""

from bot.engine.registry import CommandRegistry
from bot.features import (
    deploy,
    freeze,
    help,
    incident,
    incident_internal,
    incident_progress,
    incident_reports,
    lock,
    outside,
    proposals,
    roles,
    status,
    trust,
)


def default_registry() -> CommandRegistry:
    return CommandRegistry(
        [
            *help.COMMANDS,
            *deploy.COMMANDS,
            *proposals.COMMANDS,
            *freeze.COMMANDS,
            *lock.COMMANDS,
            *status.COMMANDS,
            *trust.COMMANDS,
            *roles.COMMANDS,
            *outside.COMMANDS,
            *incident.COMMANDS,
            *incident_progress.COMMANDS,
            *incident_reports.COMMANDS,
            *incident_internal.COMMANDS,
        ]
    )
