"""What is to happen after a commit, as data: replies, notices, rooms, and the requests that
record what they became.

A handler does no I/O. It returns effects in `Outcome.effects`; the engine writes them to the
outbox (bot/state/outbox.py) in the same step that records the command as handled, and a
deliverer carries them out once the client can: in order per room, retried, each at most once.
Everything here therefore serialises to JSON and back (`dump`, `load`).

A room named by `room_key` is one a `CreateRoom` effect makes (or made): the deliverer knows
which room that became. So a command can notify an incident's room in the same breath as the
command that asks for the room, and it works out once the room exists.
"""

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar


class Request:
    """A typed internal request: a transport or a deliverer asking a feature to record
    something (the room it made, what was said in an incident's room, an alert group). Never
    reachable from chat. Subclasses are frozen dataclasses, registered with a feature."""

    name: ClassVar[str]  # shown in the commit summary and logs, like a command's name


@dataclass(frozen=True)
class Answer:
    """The reply to a command, in reply to the event that asked for it."""

    room: str
    in_reply_to: str
    sender: str
    ok: bool
    command: str | None
    text: str
    html: str
    commit: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Amend:
    """Later news about the work a commit started ("deploying…" becomes the result): appended
    to the answer that announced the commit, by an edit, or in the answer itself if it is not
    sent yet."""

    commit: str
    text: str


@dataclass(frozen=True)
class Notify:
    """A notice to rooms, mentioning people (real Matrix mentions: `m.mentions` and pills)."""

    text: str
    rooms: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    announce: bool = False  # also to the announcement rooms of policy.toml ([rooms] announce)
    room_key: str | None = None  # also to the room a `CreateRoom` with this key made


@dataclass(frozen=True)
class CreateRoom:
    """A new end-to-end-encrypted room. `then` is filled in with the new room's id (its `room`
    field) and run, so that the repo records it; `link_in` is told where the room is."""

    key: str
    name: str
    topic: str
    invite: tuple[str, ...]
    link_in: str | None = None
    link_text: str = ""
    then: dict[str, Any] | None = None  # a Request, as `dump_request` writes it


@dataclass(frozen=True)
class Upload:
    """A file or an image sent to a room: encrypted (the `file` object of the spec) where the
    room is, in reply to `in_reply_to` when given.

    The bytes are either `data` (base64, for what is small and made in memory: a chart) or the
    file at `path` on the host, read when it is sent, which whoever owes the effect keeps until
    then. A file larger than the homeserver's upload limit is not delivered (recorded as
    failed): who owes it checks `Requests.upload_limit()` first and offers it another way."""

    room: str
    name: str
    mimetype: str
    data: str = ""
    path: str = ""
    msgtype: str = "m.file"  # or "m.image"
    caption: str = ""  # the body clients show when they cannot show the file
    in_reply_to: str | None = None
    width: int | None = None  # an image's size in pixels, which clients use to lay it out
    height: int | None = None


@dataclass(frozen=True)
class Edit:
    """Replaces the text of an answer, for work that outlives its command (a runbook's output
    so far, then its result). `answer` is the answer's identity in the outbox (`answer_id` of
    the event it answers). Unlike `Amend`, nothing is appended: the newest edit is the whole
    text, so an edit owed but not sent yet is superseded by the next one."""

    answer: str
    text: str
    html: str
    ok: bool = True
    error: str | None = None


@dataclass(frozen=True)
class Job:
    """Work for a host-side executor that a feature owns (start a runbook, cancel one), not
    for the deliverer: owed in the outbox like any effect, so a crash between the command and
    the start loses nothing; the executor named `executor` takes it and marks it done. `data`
    is the feature's typed job in its JSON form, which the feature alone writes and reads: the
    outbox and the deliverer never need its type."""

    executor: str
    data: dict[str, Any]


Effect = Answer | Amend | Notify | CreateRoom | Upload | Edit | Job
KINDS: dict[str, type[Effect]] = {
    cls.__name__: cls for cls in (Answer, Amend, Notify, CreateRoom, Upload, Edit, Job)
}


def dump(effect: Effect) -> str:
    return json.dumps({"kind": type(effect).__name__, **dataclasses.asdict(effect)})


def load(text: str) -> Effect:
    data = json.loads(text)
    cls = KINDS[data.pop("kind")]
    return cls(**_tuples(cls, data))


def dump_request(request: Request) -> dict[str, Any]:
    assert dataclasses.is_dataclass(request), "a request is a dataclass"
    return {"kind": type(request).__name__, **dataclasses.asdict(request)}


def _tuples(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """JSON has lists where the dataclasses have tuples."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
