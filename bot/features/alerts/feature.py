"""What alerts contribute."""

from bot.engine.feature import Feature
from bot.features.alerts import alertmanager
from bot.features.alerts.settings import ALERTS

FEATURE = Feature("alerts", routes=alertmanager.ROUTES, config=(ALERTS,))
