"""Every feature opsbot has, collected: the assembly builds the engine, the transports' routes,
observers and tasks from this list, the command line its subcommands and checks, and nothing
registers itself by being imported."""

from collections.abc import Sequence
from typing import Any

from dulwich.refs import Ref

from bot.config.section import ConfigSection
from bot.engine.context import Addendum, Gate
from bot.engine.feature import Feature
from bot.engine.host import CliCommand, HostCheck, HostParts
from bot.engine.registry import CommandRegistry
from bot.engine.requests import RequestKind
from bot.features import help
from bot.features.access.feature import FEATURE as ACCESS
from bot.features.alerts.feature import FEATURE as ALERTS
from bot.features.delivery.feature import FEATURE as DELIVERY
from bot.features.downloads.feature import FEATURE as DOWNLOADS
from bot.features.gitops.feature import FEATURE as GITOPS
from bot.features.governance.feature import FEATURE as GOVERNANCE
from bot.features.incidents.feature import FEATURE as INCIDENTS
from bot.features.metrics.feature import FEATURE as METRICS
from bot.features.runbooks.feature import FEATURE as RUNBOOKS
from bot.state.index_tables import IndexTable
from bot.state.journal_file import JournalFile
from bot.state.policy_section import PolicySection
from bot.state.view import Check

FEATURES: tuple[Feature, ...] = (
    Feature("help", commands=help.COMMANDS),
    DELIVERY,
    GITOPS,
    ACCESS,
    INCIDENTS,
    ALERTS,
    RUNBOOKS,
    METRICS,
    DOWNLOADS,
    GOVERNANCE,
)


def default_registry(features: Sequence[Feature] = FEATURES) -> CommandRegistry:
    return CommandRegistry(
        [command for feature in features for command in feature.commands],
        [kind for feature in features for kind in feature.kinds],
        [option for feature in features for option in feature.options],
    )


def gates(features: Sequence[Feature] = FEATURES) -> tuple[Gate, ...]:
    return tuple(gate for feature in features for gate in feature.gates)


def addenda(features: Sequence[Feature] = FEATURES) -> tuple[Addendum, ...]:
    return tuple(addendum for feature in features for addendum in feature.addenda)


def request_kinds(features: Sequence[Feature] = FEATURES) -> list[RequestKind[Any]]:
    return [kind for feature in features for kind in feature.requests]


def checks(features: Sequence[Feature] = FEATURES) -> tuple[Check, ...]:
    return tuple(check for feature in features for check in feature.checks)


def policy_sections(features: Sequence[Feature] = FEATURES) -> tuple[PolicySection[Any], ...]:
    """The features' sections of policy.toml, for whoever reads the policy (`StateView`)."""
    return tuple(section for feature in features for section in feature.policy)


def index_tables(features: Sequence[Feature] = FEATURES) -> tuple[IndexTable, ...]:
    return tuple(table for feature in features for table in feature.index)


def host_views(parts: HostParts, features: Sequence[Feature] = FEATURES) -> dict[str, object]:
    return {f.name: f.host_view(parts) for f in features if f.host_view is not None}


def kept_refs(features: Sequence[Feature] = FEATURES) -> tuple[Ref, ...]:
    """The refs features keep beside main (the runs ref)."""
    return tuple(ref for feature in features for ref in feature.refs)


def host_checks(features: Sequence[Feature] = FEATURES) -> list[HostCheck]:
    return [check for feature in features for check in feature.host_checks]


def cli_commands(features: Sequence[Feature] = FEATURES) -> list[CliCommand]:
    return [command for feature in features for command in feature.cli]


def sections(features: Sequence[Feature] = FEATURES) -> list[ConfigSection[Any]]:
    """The features' sections of the host config, for `bot.config.host.load`."""
    return [section for feature in features for section in feature.config]


def journals(features: Sequence[Feature] = FEATURES) -> tuple[JournalFile, ...]:
    return tuple(journal for feature in features for journal in feature.journals)
