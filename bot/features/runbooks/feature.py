"""What runbooks contribute."""

from bot.engine.feature import Feature, HostParts
from bot.features.runbooks import commands, declaration
from bot.features.runbooks import journal as runs_journal
from bot.features.runbooks.host import RunbookHost


def host_view(parts: HostParts) -> RunbookHost:
    """The runs the host holds, and the secrets its config grants (None: no host config)."""
    grants = None if parts.config is None else parts.config.runbooks.grants
    return RunbookHost(parts.outbox, parts.state_dir / runs_journal.FILE, grants)


FEATURE = Feature(
    "runbooks",
    commands=commands.COMMANDS,
    requests=commands.REQUESTS,
    checks=(declaration.problems,),
    host_view=host_view,
)
