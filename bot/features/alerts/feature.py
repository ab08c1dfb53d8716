"""What alerts contribute."""

from bot.engine.feature import Feature
from bot.features.alerts import alertmanager

FEATURE = Feature("alerts", routes=alertmanager.ROUTES)
