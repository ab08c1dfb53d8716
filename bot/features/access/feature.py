"""What access contributes."""

from bot.engine.feature import Feature
from bot.features.access import outside, roles, trust

FEATURE = Feature("access", commands=(*trust.COMMANDS, *roles.COMMANDS, *outside.COMMANDS))
