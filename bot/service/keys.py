"""`opsbot keys`: the bot's identity as people verify it, and its explicit reset.

What `opsbot keys` prints comes from the state directory (the bot records it at every start),
so it works while the bot runs and without the homeserver. `opsbot keys reset` talks to the
homeserver with the bot's saved session, and owes the rooms an announcement: people who
verified the old identity must hear that a new one replaced it, from the bot, not a rumour.
"""

import asyncio
import json
import logging
import time
import uuid
from datetime import datetime

import aiohttp
from nio import AsyncClient, AsyncClientConfig

from bot.config.host import Config
from bot.core.effects import Notify
from bot.core.ids import fingerprint
from bot.core.logs import fact
from bot.core.text import escaped
from bot.service.assemble import open_ledger
from bot.transport.matrix.cross_signing import IDENTITY_FILE, Identity, reset
from bot.transport.matrix.cross_signing_keys import KEYS_FILE, CrossSigningError, CrossSigningKeys
from bot.transport.matrix.decisions import (
    CONFIRMED,
    FILE,
    REJECTED,
    SENT,
    WAITING,
    DecisionJournal,
    Verification,
)

log = logging.getLogger("opsbot.keys")

OUTCOME_SECONDS = 10.0  # how long `confirm` waits to say what the bot made of it


class KeysError(Exception):
    """What `opsbot keys` cannot do, with what to do instead."""


def show(config: Config) -> list[str]:
    """The lines `opsbot keys` prints."""
    matrix = config.paths.state_dir / "matrix"
    identity = Identity.load(matrix / IDENTITY_FILE)
    keys = CrossSigningKeys.load(matrix / KEYS_FILE)
    lines = [f"bot: {config.bot_id}"]
    if identity is not None and identity.master is not None:
        lines.append(f"master key: {fingerprint(identity.master)}")
    elif keys is not None:
        note = f" ({identity.note})" if identity is not None and identity.note else ""
        lines.append(f"master key: {fingerprint(keys.master_public)}, not in force{note}")
    else:
        note = identity.note if identity is not None else "the bot makes its keys when it starts"
        lines.append(f"master key: none, not cross-signed ({note})")
    if identity is not None:
        key = fingerprint(identity.device_key) if identity.device_key else "unknown"
        lines.append(f"device: {escaped(identity.device_id)}, ed25519 key {key}")
    else:
        lines.append("device: none yet (opsbot run logs in once)")
    return lines


def reset_identity(config: Config) -> list[str]:
    """New cross-signing keys for the bot, uploaded, its device signed, and the rooms told."""
    assert config.matrix is not None
    if config.matrix.cross_signing_key_file is not None:
        raise KeysError(
            f"the keys come from {config.matrix.cross_signing_key_file} ([matrix] "
            "cross_signing_key_file), which opsbot only reads: take that key out of the config, "
            "reset, and make the credential anew from the state directory's cross_signing.json"
        )
    saved = config.paths.state_dir / "matrix" / "credentials.json"
    try:
        session = json.loads(saved.read_text())
    except (OSError, ValueError):
        raise KeysError(f"no saved session in {saved}: start the bot once (opsbot run)") from None
    password = None
    if config.matrix.password_file is not None:
        try:
            password = config.matrix.password_file.read_text().strip()
        except OSError as e:
            raise KeysError(f"cannot read {config.matrix.password_file}: {e.strerror}") from None
    try:
        identity, signed = asyncio.run(_reset(config, session, password))
    except CrossSigningError as e:
        raise KeysError(str(e)) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise KeysError(
            f"cannot reach the homeserver at {config.matrix.homeserver} ({e})"
        ) from None
    assert identity.master is not None
    shown = fingerprint(identity.master)
    ledger = open_ledger(config.paths)
    try:
        text = (
            f"My identity was reset: my new master key is {shown}. If you verified me before, "
            "verify me again (compare this with what an operator reads from opsbot keys on "
            "the host)."
        )
        ledger.enqueue(
            [(f"announce:identity-reset:{uuid.uuid4().hex}", Notify(text, announce=True))]
        )
    finally:
        ledger.close()
    fact(log, "cross-signing identity reset", master=shown)
    return [
        f"new master key: {shown}",
        f"device: {identity.device_id}, signed now"
        if signed
        else "device: signed by the bot at its next start",
        "the rooms are told once the bot runs; restart it so !whoami shows the new key",
    ]


async def _reset(
    config: Config, session: dict[str, str], password: str | None
) -> tuple[Identity, bool]:
    assert config.matrix is not None
    # No crypto store here: the running bot holds it. The device's key is checked against the
    # one the bot recorded instead (see cross_signing.reset).
    client = AsyncClient(
        config.matrix.homeserver,
        session["user_id"],
        device_id=session["device_id"],
        config=AsyncClientConfig(encryption_enabled=False, request_timeout=60, max_timeouts=2),
    )
    # What a login would have set (nio's restore_login also wants the crypto store).
    client.user_id, client.access_token = session["user_id"], session["access_token"]
    try:
        return await reset(client, config.paths.state_dir, password)
    finally:
        await client.close()


def verifications(config: Config) -> list[str]:
    """The lines `opsbot keys verifications` prints: the emoji verifications waiting for the
    operator, with what to compare, then the last few that ended."""
    journal = _journal(config)
    try:
        waiting, recent = journal.waiting(), journal.recent()
    finally:
        journal.close()
    if not waiting:
        lines = ["no verification is waiting (start one in Element: the bot's profile, Verify)"]
    else:
        lines = [
            "waiting for you: compare with what the person's Element shows, then "
            "opsbot keys confirm ID (they match) or opsbot keys reject ID"
        ]
        for v in waiting:
            lines += [
                f"{v.id}: {_who(v)}, since {_when(v.created)}",
                f"   emoji: {v.shown()}",
                f"   numbers: {' '.join(str(d) for d in v.decimals)}",
            ]
    if recent:
        lines.append("recent:")
        lines += [f"{v.id}: {_who(v)}: {_outcome(v)}" for v in recent]
    return lines


def decide(config: Config, number: int, action: str, wait: float = OUTCOME_SECONDS) -> list[str]:
    """`opsbot keys confirm|reject ID`: the operator's decision, and what the bot made of it
    (it polls for decisions; a few seconds at most while it runs)."""
    decision = CONFIRMED if action == "confirm" else REJECTED
    journal = _journal(config)
    try:
        found = journal.decide(number, decision)
        if found is None:
            raise KeysError(f"no verification {number}: opsbot keys verifications lists them")
        if found.state != decision:
            raise KeysError(f"verification {number} is not waiting: {_outcome(found)}")
        fact(log, f"verification {decision} on the host", id=number, user=found.user_id)
        deadline = time.monotonic() + wait
        while (now := journal.get(number)) is not None and now.state in (decision, SENT):
            if time.monotonic() > deadline:
                if now.state == SENT:
                    return [f"{number}: {_who(now)}: {_outcome(now)}"]
                return [f"{action}ed {number}; the bot has not acted on it yet (is it running?)"]
            time.sleep(0.2)
    finally:
        journal.close()
    assert now is not None
    return [f"{number}: {_who(now)}: {_outcome(now)}"]


def _journal(config: Config) -> DecisionJournal:
    return DecisionJournal(config.paths.state_dir / "matrix" / FILE)


def _who(v: Verification) -> str:
    """Who asked, on one line: the device id is the person's client's to choose, and a line
    break or a terminal escape in it must not draw a second, false emoji line."""
    return f"{escaped(v.user_id)} (device {escaped(v.device_id)})"


def _outcome(v: Verification) -> str:
    if v.state == "verified":
        shown = f"; their master key {fingerprint(v.their_master)}" if v.their_master else ""
        return f"verified: their client now trusts the bot{shown}"
    if v.state == WAITING:
        return "waiting"
    if v.state == SENT:
        return (
            'confirmed, the bot\'s MAC is sent: verified once they press "They match" too '
            "(within the minute)"
        )
    # The reason says who ended it, and why; a person's client wrote part of it, and an escape
    # sequence in it must not paint other emojis over a verification listed above it.
    return escaped(v.reason or v.state)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M:%S")
