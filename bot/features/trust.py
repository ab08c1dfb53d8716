"""!trust: pin a person's device key in policy.toml, so "verified" means reviewed in Git."""

from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.errors import Refused
from bot.state.policy import PATH, pin_device


def trust(ctx: Context) -> Outcome:
    user, device = ctx.args["user"], ctx.args["device"]
    key = ctx.args.get("key")
    if key is None:
        seen = ctx.devices.key_of(user, device) if ctx.devices else None
        if seen is None:
            raise Refused(
                f"I have not seen device {device} of {user}",
                hint=f"give its key, as their client shows it: !trust {user} {device} <key>",
            )
        key = seen
    if ctx.policy.pinned_key(user, device) == key:
        raise Refused(
            f"device {device} of {user} is already trusted with this key", hint="nothing to do"
        )
    text = pin_device(ctx.state.text(PATH) or "", user, device, key)
    summary = f"{user} device {device} (ed25519 {key[:8]}...)"
    return Outcome(f"trust: {summary}", change=Change(summary, {PATH: text}))


COMMANDS = (
    Command(
        name="trust",
        usage="<user> <device> [<key>]",
        options=(REASON,),
        summary="pin a device's key in policy.toml, making it a verified device",
        details="Without <key>, pins the key the bot has seen for that device. Compare it with "
        "the key the person's client shows before trusting it.",
        examples=(
            "!trust @bob:example.org BOBPHONE",
            "!trust @bob:example.org BOBPHONE xF7dQzv2kq0cZb8rY1mJH3nVt6LwPa9eUoSg5iRDfKc",
        ),
        handler=trust,
        writes=True,
    ),
)
