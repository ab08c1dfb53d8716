"""The answer to a command, and what changes it afterwards.

An answer is a reply to its command, in the command's room. An `Edit` (a worker reporting
progress) or an `Amend` (the reconciler's result for a commit) replaces its text once it is
sent, so each waits behind its answer, in its answer's room.
"""

from bot.core.effects import Amend, Answer, Edit
from bot.engine.types import Reply
from bot.state.outbox import Outbox
from bot.state.outbox_answers import amended, edited
from bot.transport.matrix.content import edit_content, reply_content
from bot.transport.matrix.sending import NotYet, Sender


def answer_reply(answer: Answer) -> Reply:
    return Reply(answer.ok, answer.command, answer.text, answer.html, answer.commit, answer.error)


class AnswerSender:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def order_key(self, answer: Answer) -> str:
        return answer.room

    async def send(self, answer: Answer, identity: str) -> str | None:
        content = reply_content(
            answer_reply(answer), in_reply_to=answer.in_reply_to, sender=answer.sender
        )
        return await self.sender.send(answer.room, content, identity)


class EditSender:
    def __init__(self, ledger: Outbox, sender: Sender) -> None:
        self.ledger = ledger
        self.sender = sender

    def order_key(self, edit: Edit) -> str:
        found = self.ledger.answer_by_identity(edit.answer)
        return found[1].room if found else f"answer:{edit.answer}"

    async def send(self, edit: Edit, identity: str) -> str | None:
        found = self.ledger.answer_by_identity(edit.answer)
        if found is None:
            # Owed right after the work that edits it (an executor may be quicker): wait.
            raise NotYet("the answer it edits is not owed yet")
        state, answer = found
        reply_id = self.ledger.sent_event(edit.answer)
        if reply_id is None:
            if state in ("prepared", "ready"):
                raise NotYet("the answer it edits is not sent yet")
            return None  # the answer could never be sent: an edit of it cannot be either
        shown = answer_reply(edited(answer, edit))
        return await self.sender.send(answer.room, edit_content(shown, original=reply_id), identity)


class AmendSender:
    def __init__(self, ledger: Outbox, sender: Sender) -> None:
        self.ledger = ledger
        self.sender = sender

    def order_key(self, amend: Amend) -> str:
        found = self.ledger.answer_of(amend.commit)
        return found.room if found else f"commit:{amend.commit}"

    async def send(self, amend: Amend, identity: str) -> str | None:
        sent = self.ledger.answer_event(amend.commit)
        if sent is None:
            if self.ledger.answer_of(amend.commit) is not None:
                raise NotYet("the answer it amends is not sent yet")
            return None  # nothing announced the commit in a room (the console, a route)
        room, reply_id, answer = sent
        shown = answer_reply(amended(answer, amend.text))
        return await self.sender.send(room, edit_content(shown, original=reply_id), identity)
