"""What access contributes."""

from bot.engine.feature import Feature
from bot.features.access import kinds, outside, roles, trust
from bot.features.access.trust_policy import CONFIRM_KEYS

FEATURE = Feature(
    "access",
    commands=(*trust.COMMANDS, *roles.COMMANDS, *outside.COMMANDS),
    kinds=kinds.KINDS,
    policy=(CONFIRM_KEYS,),
)
