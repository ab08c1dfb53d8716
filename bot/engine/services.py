"""What routes and tasks may ask of the engine (`bot.engine.feature.Requests`), on an event
loop: requests run in a worker thread, effects are owed in the outbox."""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.engine.dispatch import Engine
from bot.engine.effects import Effect, Request
from bot.engine.types import Invocation, Reply
from bot.state.view import StateView


class Services:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def request(
        self, request: Request, source: str, room: str | None = None, name: str | None = None
    ) -> Reply:
        invocation = Invocation(
            sender=self.engine.repo.committer.user_id, sender_name=name or source,
            text=f"({request.name}, from {source})", event_id=f"{source}:{uuid.uuid4().hex}",
            received_at=datetime.now(UTC), room_id=room, transport=source,
        )  # fmt: skip
        return await asyncio.to_thread(self.engine.request, request, invocation)

    def owe(self, effects: Sequence[tuple[str, Effect]]) -> None:
        self.engine.ledger.enqueue(effects)

    def view(self) -> StateView:
        return self.engine.view()
