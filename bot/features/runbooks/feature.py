"""What runbooks contribute."""

from bot.config.host import Config
from bot.engine.feature import Feature
from bot.engine.host import HostParts
from bot.features.runbooks import commands, declaration, kinds
from bot.features.runbooks import journal as runs_journal
from bot.features.runbooks.host import RunbookHost
from bot.features.runbooks.record import RUNS_REF
from bot.features.runbooks.settings import RUNBOOKS
from bot.features.runbooks.worker import WORKER
from bot.state.view import StateView


def host_view(parts: HostParts) -> RunbookHost:
    """The runs the host holds, and the secrets its config grants (None: no host config)."""
    grants = None if parts.config is None else parts.config.section(RUNBOOKS).grants
    return RunbookHost(parts.outbox, parts.state_dir / runs_journal.FILE, grants)


def ungranted_secrets(config: Config, view: StateView) -> list[str]:
    """Each host secret a runbook asks for that the host config does not grant it."""
    held = config.section(RUNBOOKS)
    return [p.message for p in declaration.ungranted(view, held.secrets, held.grants)]


FEATURE = Feature(
    "runbooks",
    commands=commands.COMMANDS,
    kinds=kinds.KINDS,
    requests=commands.REQUESTS,
    config=(RUNBOOKS,),
    checks=(declaration.problems,),
    host_view=host_view,
    refs=(RUNS_REF,),
    host_checks=(ungranted_secrets,),
    journals=(runs_journal.JOURNAL,),
    workers=(WORKER,),
)
