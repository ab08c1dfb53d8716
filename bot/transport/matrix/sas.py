"""One interactive emoji verification (SAS, `m.sas.v1`) of the bot, as the answering side.

A person's client (Element) asks to verify the bot in a room: it sends the request, the bot
answers `ready`, the person's client starts SAS, the bot accepts with a commitment to its
ephemeral key, both send their keys, and both sides now show the same seven emojis (and three
numbers) if nobody is in between. Only once a human compared them does a side send its MAC,
which binds its long-term keys (the bot's device key and master key) to this exchange; a
matching MAC from each side, then `done` from each, and the person's client marks the bot
verified and signs its master key.

The bot cannot look at emojis, so `confirm` is called by whoever compared them (the operator on
the host, see verification.py); this module never confirms by itself and never sends a MAC
before `confirm`. Pure: contents in, contents out, the clock given; the key agreement and the
MACs are vodozemac's (nio's own `Sas` speaks only the to-device flow, computes the commitment
in hex where the spec and Element use base64, and MACs only the device key).

The strings that enter the key agreement and the MACs are the spec's ("Short Authentication
String (SAS) verification"); in a room, the transaction id is the request's event id.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

import vodozemac

from bot.core.text import escaped
from bot.transport.matrix.signed_json import canonical_json

REQUEST = "m.key.verification.request"
READY = "m.key.verification.ready"
START = "m.key.verification.start"
ACCEPT = "m.key.verification.accept"
KEY = "m.key.verification.key"
MAC = "m.key.verification.mac"
DONE = "m.key.verification.done"
CANCEL = "m.key.verification.cancel"
FLOW_EVENTS = (READY, START, ACCEPT, KEY, MAC, DONE, CANCEL)

METHOD = "m.sas.v1"
KEY_AGREEMENT = "curve25519-hkdf-sha256"  # the older "curve25519" is deprecated; Element drops it
HASH = "sha256"
# In order of preference; "hkdf-hmac-sha256" is the first version, with a base64 bug that both
# sides must reproduce (vodozemac keeps it as `calculate_mac_invalid_base64`).
MACS = ("hkdf-hmac-sha256.v2", "org.matrix.msc3783.hkdf-hmac-sha256", "hkdf-hmac-sha256")
STRINGS = ("decimal", "emoji")

MAX_AGE = 600.0  # seconds from the request to the end; a request older than that is stale
STEP_SECONDS = 60.0  # seconds between two steps of the other side, as Element waits for ours
# The operator's time to compare and decide. Element gives up 60 s after the bot's key reached
# it (it waits no longer for the next event), so waiting longer would only strand the person.
DECISION_SECONDS = 60.0
MAX_CODE, MAX_REASON = 64, 200  # characters kept of the code and reason of their cancel

# The spec's table (sas-emoji.json): index -> (emoji, name), named as Element's crypto names them.
EMOJI = [
    ("🐶", "Dog"),
    ("🐱", "Cat"),
    ("🦁", "Lion"),
    ("🐎", "Horse"),
    ("🦄", "Unicorn"),
    ("🐷", "Pig"),
    ("🐘", "Elephant"),
    ("🐰", "Rabbit"),
    ("🐼", "Panda"),
    ("🐓", "Rooster"),
    ("🐧", "Penguin"),
    ("🐢", "Turtle"),
    ("🐟", "Fish"),
    ("🐙", "Octopus"),
    ("🦋", "Butterfly"),
    ("🌷", "Flower"),
    ("🌳", "Tree"),
    ("🌵", "Cactus"),
    ("🍄", "Mushroom"),
    ("🌏", "Globe"),
    ("🌙", "Moon"),
    ("☁️", "Cloud"),
    ("🔥", "Fire"),
    ("🍌", "Banana"),
    ("🍎", "Apple"),
    ("🍓", "Strawberry"),
    ("🌽", "Corn"),
    ("🍕", "Pizza"),
    ("🎂", "Cake"),
    ("❤️", "Heart"),
    ("😀", "Smiley"),
    ("🤖", "Robot"),
    ("🎩", "Hat"),
    ("👓", "Glasses"),
    ("🔧", "Spanner"),
    ("🎅", "Santa"),
    ("👍", "Thumbs Up"),
    ("☂️", "Umbrella"),
    ("⌛", "Hourglass"),
    ("⏰", "Clock"),
    ("🎁", "Gift"),
    ("💡", "Light Bulb"),
    ("📕", "Book"),
    ("✏️", "Pencil"),
    ("📎", "Paperclip"),
    ("✂️", "Scissors"),
    ("🔒", "Lock"),
    ("🔑", "Key"),
    ("🔨", "Hammer"),
    ("☎️", "Telephone"),
    ("🏁", "Flag"),
    ("🚂", "Train"),
    ("🚲", "Bicycle"),
    ("✈️", "Aeroplane"),
    ("🚀", "Rocket"),
    ("🏆", "Trophy"),
    ("⚽", "Ball"),
    ("🎸", "Guitar"),
    ("🎺", "Trumpet"),
    ("🔔", "Bell"),
    ("⚓", "Anchor"),
    ("🎧", "Headphones"),
    ("📁", "Folder"),
    ("📌", "Pin"),
]

Outgoing = tuple[str, dict[str, Any]]  # (event type, content), sent in the flow's room


class Cancelled(Exception):
    """The flow ends: `code` and `reason` go to the other side in an `m.key.verification.cancel`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Party:
    user_id: str
    device_id: str


def commitment(public_key: str, start: Mapping[str, Any]) -> str:
    """What the accepting side commits to before it sees the other key: unpadded base64 of
    SHA-256 over its public key and the start event's content in canonical JSON."""
    digest = hashlib.sha256(public_key.encode() + canonical_json(start)).digest()
    return base64.b64encode(digest).decode().rstrip("=")


def sas_info(first: Party, first_key: str, second: Party, second_key: str, flow_id: str) -> str:
    """The key-agreement info (curve25519-hkdf-sha256): the starting side first."""
    return (
        f"MATRIX_KEY_VERIFICATION_SAS|{first.user_id}|{first.device_id}|{first_key}"
        f"|{second.user_id}|{second.device_id}|{second_key}|{flow_id}"
    )


def mac_info(sender: Party, receiver: Party, flow_id: str) -> str:
    return (
        f"MATRIX_KEY_VERIFICATION_MAC{sender.user_id}{sender.device_id}"
        f"{receiver.user_id}{receiver.device_id}{flow_id}"
    )


def emoji_of(indices: bytes | list[int]) -> list[tuple[str, str]]:
    return [EMOJI[i] for i in indices]


@dataclass
class SasFlow:
    """The bot's side of one verification, from the request it received on.

    States: "requested" (ready sent, waiting for start), "accepted" (waiting for their key),
    "deciding" (keys exchanged: the emojis are known, the operator decides), "confirmed" (our
    MAC sent, waiting for theirs), "verified" (both MACs good, our done sent), "cancelled"."""

    flow_id: str  # the request's event id
    room_id: str
    me: Party
    device_key: str  # our device's Ed25519 key, MAC'd once confirmed
    master: str | None  # our master key, MAC'd too: what makes the person trust the bot itself
    them: Party
    now: InitVar[float]
    state: str = "requested"
    emoji: list[tuple[str, str]] = field(default_factory=list)
    decimals: tuple[int, int, int] | None = None
    their_verified: list[str] = field(default_factory=list)  # key ids their MAC vouched for
    cancel_code: str | None = None
    cancel_reason: str | None = None
    started_at: float = 0.0
    last_at: float = 0.0
    _sas: Any = None
    _established: Any = None
    _commitment: str = ""
    _mac_method: str = ""
    _strings: list[str] = field(default_factory=list)
    _we_confirmed: bool = False

    def __post_init__(self, now: float) -> None:
        self.started_at = self.last_at = now

    # what we send

    def relation(self) -> dict[str, Any]:
        return {"m.relates_to": {"rel_type": "m.reference", "event_id": self.flow_id}}

    def ready(self) -> Outgoing:
        return READY, {"from_device": self.me.device_id, "methods": [METHOD], **self.relation()}

    def cancel(self, code: str, reason: str) -> Outgoing:
        """Ends the flow from our side (a rejection, a timeout, a protocol error)."""
        self.state = "cancelled"
        self.cancel_code, self.cancel_reason = code, reason
        return CANCEL, {"code": code, "reason": reason, **self.relation()}

    # what they send

    def receive(self, kind: str, sender: str, content: Mapping[str, Any], now: float) -> None:
        """Checks what any event of this flow must be; raises Cancelled if it is not."""
        if self.state in ("cancelled", "verified") and kind not in (DONE, CANCEL):
            raise Cancelled("m.unexpected_message", f"{kind} after the verification ended")
        if sender != self.them.user_id:
            raise Cancelled("m.user_mismatch", f"{kind} from {sender}, not {self.them.user_id}")
        self.last_at = now

    def on_start(self, content: Mapping[str, Any]) -> Outgoing:
        """Their start: we choose the protocols and commit to our ephemeral key."""
        if self.state != "requested":
            raise Cancelled("m.unexpected_message", f"a start in state {self.state}")
        if content.get("from_device") != self.them.device_id:
            raise Cancelled("m.unexpected_message", "a start from another device than asked")
        if content.get("method") != METHOD:
            raise Cancelled("m.unknown_method", f"only {METHOD} is supported")
        macs = [m for m in MACS if m in _strings_of(content, "message_authentication_codes")]
        strings = [s for s in STRINGS if s in _strings_of(content, "short_authentication_string")]
        if (
            KEY_AGREEMENT not in _strings_of(content, "key_agreement_protocols")
            or HASH not in _strings_of(content, "hashes")
            or not macs
            or not strings
        ):
            raise Cancelled("m.unknown_method", "no SAS protocols in common")
        self._mac_method, self._strings = macs[0], strings
        self._sas = vodozemac.Sas()
        self._commitment = commitment(self._public(), content)
        self.state = "accepted"
        return ACCEPT, {
            "key_agreement_protocol": KEY_AGREEMENT,
            "hash": HASH,
            "message_authentication_code": self._mac_method,
            "short_authentication_string": self._strings,
            "commitment": self._commitment,
            **self.relation(),
        }

    def on_key(self, content: Mapping[str, Any]) -> Outgoing:
        """Their key: the shared secret, the emojis, and our key for them to do the same."""
        if self.state != "accepted":
            raise Cancelled("m.unexpected_message", f"a key in state {self.state}")
        their_key = content.get("key")
        if not isinstance(their_key, str):
            raise Cancelled("m.invalid_message", "a key event without a key")
        ours = self._public()
        try:
            self._established = self._sas.diffie_hellman(
                vodozemac.Curve25519PublicKey.from_base64(their_key)
            )
        except Exception:  # vodozemac's errors for a malformed or weak key
            raise Cancelled("m.invalid_message", "their key is not a Curve25519 key") from None
        # They started the SAS, so their side comes first in the info.
        info = sas_info(self.them, their_key, self.me, ours, self.flow_id)
        generated = self._established.bytes(info)
        self.emoji = emoji_of(generated.emoji_indices)
        first, second, third = generated.decimals
        self.decimals = (first, second, third)
        self.state = "deciding"  # the decision window runs from this event (last_at)
        return KEY, {"key": ours, **self.relation()}

    def on_mac(
        self, content: Mapping[str, Any], their_device_key: str | None, their_master: str | None
    ) -> list[Outgoing]:
        """Their MAC over their keys. Checked against the keys the homeserver gave us for their
        device and identity; what it vouches for counts only because a human compared the
        emojis. Our done follows once we confirmed too."""
        if self.state not in ("deciding", "confirmed") or self.their_verified:
            raise Cancelled("m.unexpected_message", f"a MAC in state {self.state}")
        macs, keys = content.get("mac"), content.get("keys")
        if not isinstance(macs, dict) or not isinstance(keys, str) or not macs:
            raise Cancelled("m.invalid_message", "a MAC event without MACs")
        info = mac_info(self.them, self.me, self.flow_id)
        if not self._mac_matches(",".join(sorted(macs)), info + "KEY_IDS", keys):
            raise Cancelled("m.key_mismatch", "the MAC of the key ids does not match")
        known = {f"ed25519:{self.them.device_id}": their_device_key}
        if their_master is not None:
            known[f"ed25519:{their_master}"] = their_master
        verified = []
        for key_id, mac in macs.items():
            key = known.get(key_id)
            if key is None:
                continue  # a key we do not know of them: neither trusted nor a reason to stop
            if not isinstance(mac, str) or not self._mac_matches(key, info + key_id, mac):
                raise Cancelled("m.key_mismatch", f"the MAC of {key_id} does not match")
            verified.append(key_id)
        if f"ed25519:{self.them.device_id}" not in verified:
            raise Cancelled("m.key_mismatch", "their MAC does not cover the device that asked")
        self.their_verified = verified
        return self._done_if_finished()

    def on_done(self) -> None:
        """Their done: nothing is owed for it (ours went out when both MACs were good)."""

    def on_cancel(self, content: Mapping[str, Any]) -> None:
        """Their cancel. Its code and reason are theirs to write and are shown to the operator
        (and logged): kept escaped and short, so that no escape sequence in them reaches a
        terminal, now or when the journal is read later."""
        self.state = "cancelled"
        code, reason = content.get("code"), content.get("reason")
        self.cancel_code = escaped(code)[:MAX_CODE] if isinstance(code, str) else "m.user"
        self.cancel_reason = (
            escaped(reason)[:MAX_REASON] if isinstance(reason, str) else "cancelled"
        )

    # the human's decision

    def confirm(self) -> list[Outgoing]:
        """The emojis matched: our MAC over our device key (and master key, when the bot is
        cross-signed), then done if their MAC is in already."""
        if self.state != "deciding":
            raise Cancelled("m.unexpected_message", f"a confirmation in state {self.state}")
        info = mac_info(self.me, self.them, self.flow_id)
        keys = {f"ed25519:{self.me.device_id}": self.device_key}
        if self.master is not None:
            keys[f"ed25519:{self.master}"] = self.master
        macs = {key_id: self._mac(key, info + key_id) for key_id, key in keys.items()}
        self._we_confirmed = True
        self.state = "confirmed"
        sent: list[Outgoing] = [
            (
                MAC,
                {
                    "mac": macs,
                    "keys": self._mac(",".join(sorted(macs)), info + "KEY_IDS"),
                    **self.relation(),
                },
            ),
        ]
        return sent + self._done_if_finished()

    def reject(self) -> Outgoing:
        return self.cancel("m.mismatched_sas", "the bot's operator says the emojis do not match")

    def overdue(self, now: float, decision_seconds: float = DECISION_SECONDS) -> str | None:
        """Why the flow has waited too long, or None: a step of theirs, or our decision."""
        if self.state in ("cancelled", "verified"):
            return None
        if now - self.started_at > MAX_AGE:
            return "the verification took more than 10 minutes"
        if self.state == "deciding" and now - self.last_at > decision_seconds:
            return "nobody confirmed or rejected the emojis on the bot's host in time"
        if self.state in ("accepted", "confirmed") and now - self.last_at > STEP_SECONDS:
            return "the other side did not answer in time"
        return None

    # helpers

    def _done_if_finished(self) -> list[Outgoing]:
        if self._we_confirmed and self.their_verified and self.state == "confirmed":
            self.state = "verified"
            return [(DONE, self.relation())]
        return []

    def _public(self) -> str:
        return str(self._sas.public_key.to_base64())

    def _mac(self, text: str, info: str) -> str:
        if self._mac_method == "hkdf-hmac-sha256":
            return str(self._established.calculate_mac_invalid_base64(text, info))
        return str(self._established.calculate_mac(text, info))

    def _mac_matches(self, text: str, info: str, mac: str) -> bool:
        return hmac.compare_digest(self._mac(text, info).rstrip("="), mac.rstrip("="))


def _strings_of(content: Mapping[str, Any], key: str) -> list[str]:
    value = content.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
