"""What downloads contribute."""

from bot.engine.feature import Feature
from bot.features.downloads import expiry, links
from bot.features.downloads.host import LEDGER
from bot.features.downloads.pages import PAGES
from bot.features.downloads.settings import DOWNLOADS
from bot.state.journal_file import JournalFile

FEATURE = Feature(
    "downloads",
    pages=PAGES,
    tasks=expiry.TASKS,
    config=(DOWNLOADS,),
    journals=(JournalFile(LEDGER, links.SCHEMA, links.LinkBook),),
)
