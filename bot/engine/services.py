"""What routes and tasks may ask of the engine (`bot.engine.feature.Requests`), on an event
loop: requests run in a worker thread, effects are owed in the outbox."""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.effects import Effect, Request
from bot.engine.dispatch import Engine
from bot.engine.requests import Counters
from bot.engine.types import Invocation, Reply
from bot.state.view import StateView

if TYPE_CHECKING:
    from bot.config.host import Config


class Services:
    def __init__(self, engine: Engine, config: "Config | None" = None) -> None:
        self.engine = engine
        self.config = config
        self.media_limit: int | None = None  # set by the Matrix transport once it knows

    async def request(
        self,
        request: Request,
        source: str,
        room: str | None = None,
        name: str | None = None,
        event_id: str | None = None,
    ) -> Reply:
        invocation = Invocation(
            sender=self.engine.repo.committer.user_id,
            sender_name=name or source,
            text=f"({request.name}, from {source})",
            event_id=event_id or f"{source}:{uuid.uuid4().hex}",
            received_at=datetime.now(UTC),
            room_id=room,
            transport=source,
        )
        return await asyncio.to_thread(self.engine.request, request, invocation)

    def owe(self, effects: Sequence[tuple[str, Effect]]) -> None:
        self.engine.ledger.enqueue(effects)

    def view(self) -> StateView:
        return self.engine.view()

    def upload_limit(self) -> int | None:
        return self.media_limit

    def host_config(self) -> "Config | None":
        return self.config

    def counters(self) -> Counters:
        return Counters(dict(self.engine.counted), self.engine.ledger.counts())
