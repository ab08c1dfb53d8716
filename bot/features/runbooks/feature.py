"""What runbooks contribute."""

from bot.engine.feature import Feature
from bot.features.runbooks import commands

FEATURE = Feature("runbooks", commands=commands.COMMANDS, requests=commands.REQUESTS)
