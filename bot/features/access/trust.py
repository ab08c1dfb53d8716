"""!trust: pin a person's cross-signing identity, or one device's key, in policy.toml, so
"verified" means reviewed in Git."""

from bot.core.errors import Refused
from bot.core.ids import fingerprint, is_ed25519_key
from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.features.access.trust_policy import CONFIRM_KEYS
from bot.state.policy import PATH
from bot.state.policy_edit import pin_device, pin_identity


def trust(ctx: Context) -> Outcome:
    user, device = ctx.args["user"], ctx.args.get("device")
    key = ctx.args.get("key")
    if device is None or (key is None and is_ed25519_key(device)):
        # No device, or a key where the device would be: the person's identity.
        return _trust_identity(ctx, user, device)
    if key is None:
        seen = ctx.devices.key_of(user, device) if ctx.devices else None
        if seen is None:
            raise Refused(
                f"I have not seen device {device} of {user}",
                hint=f"give its key, as their client shows it: !trust {user} {device} <key>",
            )
        _refuse_unless_key(f"device {device} of {user}", seen, f"{user} {device}")
        _refuse_unconfirmed(ctx, f"device {device} of {user}", seen, f"{user} {device}")
        key = seen
    if ctx.policy.pinned_key(user, device) == key:
        raise Refused(
            f"device {device} of {user} is already trusted with this key", hint="nothing to do"
        )
    text = pin_device(ctx.state.text(PATH) or "", user, device, key)
    summary = f"{user} device {device} (ed25519 {key[:8]}...)"
    return Outcome(f"trust: {summary}", change=Change(summary, {PATH: text}))


def _trust_identity(ctx: Context, user: str, key: str | None) -> Outcome:
    """Pins the master key: given, or the one the transport last saw (trust on first use)."""
    seen = ctx.identities.master_of(user) if ctx.identities else None
    if key is None:
        if seen is None:
            raise Refused(
                f"I have seen no cross-signing identity for {user}",
                hint=f"they set up cross-signing in their client (Element does at login), or "
                f"give its master key: !trust {user} <key>; without one: !trust {user} <device>",
            )
        _refuse_unless_key(f"{user}'s identity", seen, user)
        _refuse_unconfirmed(ctx, f"{user}'s identity", seen, user, fingerprint(seen))
        key = seen
    if ctx.policy.pinned_identity(user) == key:
        raise Refused(f"{user} is already trusted with this identity", hint="nothing to do")
    text = pin_identity(ctx.state.text(PATH) or "", user, key)
    summary = f"{user} identity (master key {key[:8]}...)"
    reply = f"trust: {summary}; master key {fingerprint(key)}"
    if seen is not None and seen != key and is_ed25519_key(seen):
        reply += f" (note: the homeserver shows {fingerprint(seen)} for {user} now)"
    reply += (
        f". Every device {user} signs with this identity is a verified device. Compare the key "
        "with the one their client shows (Settings, Encryption) out of band."
    )
    return Outcome(reply, change=Change(summary, {PATH: text}))


def _refuse_unless_key(what: str, seen: str, target: str) -> None:
    """A key the homeserver passed on is the person's client's upload: pinned only if it is an
    Ed25519 key, spelt as Matrix spells one (policy.toml would not read anything else back)."""
    if not is_ed25519_key(seen):
        raise Refused(
            f"the key the homeserver shows for {what} is not an Ed25519 key in unpadded base64, "
            "so I will not pin it",
            hint=f"compare the key their client shows (Settings, Encryption), then type it: "
            f"!trust {target} <key>",
        )


def _refuse_unconfirmed(
    ctx: Context, what: str, seen: str, target: str, shown: str | None = None
) -> None:
    """Where the policy asks for it ([trust] confirm_keys), a key the bot has only seen is
    shown, not pinned: a person compares it with the one their client shows, then types it."""
    if ctx.policy.section(CONFIRM_KEYS):
        raise Refused(
            f"the key I see for {what} is {shown or seen}; policy.toml asks that it be confirmed",
            hint=f"compare it with the one their client shows, then: !trust {target} {seen}",
        )


COMMANDS = (
    Command(
        name="trust",
        usage="<user> [<device>] [<key>]",
        options=(REASON,),
        summary="pin a person's identity, or a device's key, in policy.toml (admins only)",
        details="!trust <user> pins the master cross-signing key the bot has seen for them: "
        "every device they sign with it is then a verified device. !trust <user> <key> pins a "
        "given master key (also how an admin re-trusts a person whose identity changed). "
        "!trust <user> <device> pins one device's key, for people without cross-signing. "
        "Compare the key with the one the person's client shows before trusting it.",
        examples=(
            "!trust @alice:example.org",
            "!trust @alice:example.org 9Kd0c3XqOoSbX2hNwV8yPp5m1FzR7tLgUjY4aHeBiCw",
            "!trust @bob:example.org BOBPHONE",
            "!trust @bob:example.org BOBPHONE xF7dQzv2kq0cZb8rY1mJH3nVt6LwPa9eUoSg5iRDfKc",
        ),
        handler=trust,
        writes=True,
        admin_only=True,  # who counts as verified decides who may act, as !grant does
    ),
)
