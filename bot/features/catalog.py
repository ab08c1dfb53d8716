"""Every feature opsbot has, collected: the assembly builds the engine, the transports' routes,
observers and tasks from this list, and nothing registers itself by being imported."""

from collections.abc import Sequence
from typing import Any

from bot.config.section import ConfigSection
from bot.engine.feature import Feature, RequestKind
from bot.engine.registry import CommandRegistry
from bot.features import help
from bot.features.access.feature import FEATURE as ACCESS
from bot.features.alerts.feature import FEATURE as ALERTS
from bot.features.delivery.feature import FEATURE as DELIVERY
from bot.features.downloads.feature import FEATURE as DOWNLOADS
from bot.features.incidents.feature import FEATURE as INCIDENTS
from bot.features.metrics.feature import FEATURE as METRICS
from bot.features.runbooks.feature import FEATURE as RUNBOOKS

FEATURES: tuple[Feature, ...] = (
    Feature("help", commands=help.COMMANDS),
    DELIVERY,
    ACCESS,
    INCIDENTS,
    ALERTS,
    RUNBOOKS,
    METRICS,
    DOWNLOADS,
)


def default_registry(features: Sequence[Feature] = FEATURES) -> CommandRegistry:
    return CommandRegistry([command for feature in features for command in feature.commands])


def request_kinds(features: Sequence[Feature] = FEATURES) -> list[RequestKind[Any]]:
    return [kind for feature in features for kind in feature.requests]


def sections(features: Sequence[Feature] = FEATURES) -> list[ConfigSection[Any]]:
    """The features' sections of the host config, for `bot.config.host.load`."""
    return [section for feature in features for section in feature.config]
