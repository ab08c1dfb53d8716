"""What delivery contributes."""

from bot.engine.feature import Feature
from bot.features.delivery import deploy, freeze, kinds, lock, proposals, results, status

FEATURE = Feature(
    "delivery",
    commands=(
        *deploy.COMMANDS,
        *proposals.COMMANDS,
        *freeze.COMMANDS,
        *lock.COMMANDS,
        *status.COMMANDS,
    ),
    kinds=kinds.KINDS,
    on_outcome=results.on_outcome,
)
