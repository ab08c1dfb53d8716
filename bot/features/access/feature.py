"""What access contributes."""

from bot.engine.feature import Feature
from bot.features.access import kinds, outside, roles, trust

FEATURE = Feature(
    "access",
    commands=(*trust.COMMANDS, *roles.COMMANDS, *outside.COMMANDS),
    kinds=kinds.KINDS,
)
