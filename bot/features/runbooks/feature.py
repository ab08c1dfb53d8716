"""What runbooks contribute."""

from bot.engine.feature import Feature
from bot.features.runbooks import commands
from bot.features.runbooks.settings import RUNBOOKS

FEATURE = Feature(
    "runbooks", commands=commands.COMMANDS, requests=commands.REQUESTS, config=(RUNBOOKS,)
)
