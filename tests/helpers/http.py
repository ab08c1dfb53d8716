"""The HTTP listener as the service builds it, and what its routes leave owed in the outbox."""

from bot.config import Config
from bot.core.effects import Notify
from bot.engine.services import Services
from bot.features.catalog import FEATURES
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot


def http_listener(bot: Bot, host_config: Config) -> HttpListener:
    """The HTTP listener as the service builds it: every feature's routes and pages, effects
    owed."""
    routes = [route for feature in FEATURES for route in feature.routes]
    pages = [page for feature in FEATURES for page in feature.pages]
    readers = [reader for feature in FEATURES for reader in feature.readers]
    return HttpListener(
        host_config, Services(bot.engine, host_config), routes, pages=pages, readers=readers
    )


def owed_notices(bot: Bot, source: str) -> list[tuple[str, str]]:
    """The notices owed in the outbox by `source` (a route, the webhooks): (room, or
    "announcement rooms", text), in order; what the deliverer will send."""
    return [
        (owed.effect.rooms[0] if owed.effect.rooms else "announcement rooms", owed.effect.text)
        for owed in bot.engine.ledger.due()
        if isinstance(owed.effect, Notify)
        and owed.identity.startswith(f"{source}:")
        and "#" not in owed.identity
    ]
