"""What runbooks contribute."""

from bot.engine.feature import Feature
from bot.features.runbooks import commands, declaration

FEATURE = Feature(
    "runbooks",
    commands=commands.COMMANDS,
    requests=commands.REQUESTS,
    checks=(declaration.problems,),
)
