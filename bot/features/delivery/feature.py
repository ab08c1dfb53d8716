"""What delivery contributes."""

from bot.engine.feature import Feature
from bot.features.delivery import deploy, freeze, lock, proposals, status

FEATURE = Feature(
    "delivery",
    commands=(
        *deploy.COMMANDS,
        *proposals.COMMANDS,
        *freeze.COMMANDS,
        *lock.COMMANDS,
        *status.COMMANDS,
    ),
)
