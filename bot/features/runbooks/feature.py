"""What runbooks contribute."""

from bot.config import Config
from bot.engine.feature import Feature
from bot.features.runbooks import commands, declaration
from bot.features.runbooks.record import RUNS_REF
from bot.state.view import StateView


def ungranted_secrets(config: Config, view: StateView) -> list[str]:
    """Each host secret a runbook asks for that the host config does not grant it."""
    held = config.runbooks
    return [p.message for p in declaration.ungranted(view, held.secrets, held.grants)]


FEATURE = Feature(
    "runbooks",
    commands=commands.COMMANDS,
    requests=commands.REQUESTS,
    refs=(RUNS_REF,),
    host_checks=(ungranted_secrets,),
)
