"""What downloads contribute."""

from bot.engine.feature import Feature
from bot.features.downloads import expiry
from bot.features.downloads.pages import PAGES

FEATURE = Feature("downloads", pages=PAGES, tasks=expiry.TASKS)
