"""What downloads contribute."""

from bot.engine.feature import Feature
from bot.features.downloads import expiry
from bot.features.downloads.pages import PAGES
from bot.features.downloads.settings import DOWNLOADS

FEATURE = Feature("downloads", pages=PAGES, tasks=expiry.TASKS, config=(DOWNLOADS,))
