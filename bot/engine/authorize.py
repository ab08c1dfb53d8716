"""Who may run a command: roles from policy.toml, then the conditions a transport can vouch for.

Roles are checked twice: before parsing (may this person run the command at all? if not, the
usage of a command they cannot run is none of their business) and after, against the environment
the arguments name. The Matrix-only conditions (room power level, encryption, a device key the
team has pinned in Git) apply only when the transport reports them.
"""

import logging
from typing import Any

from bot.core.effects import Notify
from bot.core.errors import Forbidden
from bot.core.ids import fingerprint
from bot.core.logs import fact
from bot.engine.registry import Command
from bot.engine.types import Invocation
from bot.state.policy import Policy
from bot.state.view import StateView

log = logging.getLogger("opsbot.engine")


def may_run(policy: Policy, command: Command, invocation: Invocation) -> None:
    if command.admin_only and not policy.is_admin(invocation.sender):
        raise Forbidden(
            f"only admins may run !{command.name}",
            hint="ask an admin (!roles lists them)",
        )
    if not policy.allows_somewhere(invocation.sender, command.name):
        raise Forbidden(
            f"{invocation.sender} may not run !{command.name}",
            hint="ask an admin to give you a role for it in policy.toml (!whoami shows yours)",
        )
    unreadable = policy.rule(command.name).unreadable
    if unreadable is not None and not policy.is_admin(invocation.sender):
        raise Forbidden(
            f"policy.toml's conditions for !{command.name} cannot be read ({unreadable}), so "
            "only admins may run it until the file is repaired",
            hint="ask an admin to fix policy.toml (opsbot check lists what is wrong)",
        )
    if policy.require_encryption and invocation.encrypted is False:
        raise Forbidden(
            "this room is not encrypted, and policy.toml requires encryption for commands",
            hint="use an encrypted room",
        )


def environments_of(command: Command, target: str | None, state: StateView) -> list[str]:
    """The environments a command acts in, for policy.toml's `environments`: the one its scope
    argument names, or, for a `<target>` that names an app (`!suspend web`), every environment,
    since the app is paused in all of them."""
    if target is None:
        return []
    envs = state.environments()
    if command.scope == "target" and target not in envs and target in state.apps():
        return list(envs)
    return [target]


def may_run_here(
    policy: Policy, command: Command, invocation: Invocation, args: dict[str, Any], state: StateView
) -> None:
    target = args.get(command.scope) if command.scope else None
    envs = environments_of(command, target, state)
    _allowed_in(policy, command.name, invocation, envs, target)
    rule = policy.rule(command.name)
    level = invocation.power_level
    if rule.min_power_level is not None and level is not None and level < rule.min_power_level:
        raise Forbidden(
            f"!{command.name} needs power level {rule.min_power_level} in this room; "
            f"you have {level}",
            hint="ask a room admin to raise your power level",
        )
    strict = _strict(envs, state)
    needs_verified = rule.require_verified_device or rule.unreadable is not None or bool(strict)
    if needs_verified and invocation.device_id is not None:
        where = f" in {strict[0]}" if strict else ""
        verified_device(policy, f"!{command.name}{where}", invocation)


def may_act_in(
    policy: Policy, command: str, invocation: Invocation, envs: list[str], state: StateView
) -> None:
    """The environments a handler finds its command acts in beyond its scope argument (the
    environment of the deploy an incident names, the environments whose files a render
    writes), checked as `may_run_here` checks the one the arguments name: the role's
    environments, and each environment's demand for a verified device."""
    _allowed_in(policy, command, invocation, envs, None)
    strict = _strict(envs, state)
    if strict and invocation.device_id is not None:
        verified_device(policy, f"!{command} in {strict[0]}", invocation)


def _allowed_in(
    policy: Policy, command: str, invocation: Invocation, envs: list[str], target: str | None
) -> None:
    for env in envs:
        if not policy.allows(invocation.sender, command, env):
            where = (
                f"{target}: it applies in {env} too" if target not in (None, env) else f"in {env}"
            )
            raise Forbidden(
                f"{invocation.sender} may not run !{command} {where}",
                hint="ask an admin to extend your role's environments in policy.toml",
            )


def _strict(envs: list[str], state: StateView) -> list[str]:
    """Those of `envs` that accept commands only from verified devices."""
    known = state.environments()
    return [e for e in envs if e in known and known[e].require_verified_device]


def identity_changed(policy: Policy, invocation: Invocation) -> str | None:
    """The master key the sender has now, where it is not the one pinned for them."""
    pinned = policy.pinned_identity(invocation.sender)
    seen = invocation.master_key
    return seen if pinned is not None and seen is not None and seen != pinned else None


def identity_notice(policy: Policy, user_id: str, seen: str | None) -> tuple[str, Notify] | None:
    """The announcement that `user_id`'s master key is now `seen`, not the one pinned, with its
    identity in the outbox (announced once per new key); None while it is the pinned one."""
    pinned = policy.pinned_identity(user_id)
    if pinned is None or seen is None or seen == pinned:
        return None
    fact(
        log,
        "cross-signing identity changed",
        logging.WARNING,
        user=user_id,
        pinned=fingerprint(pinned),
        seen=fingerprint(seen),
    )
    text = (
        f"The cross-signing identity of {user_id} changed: the master key pinned in "
        f"policy.toml is {fingerprint(pinned)}, the homeserver now has "
        f"{fingerprint(seen)}. Until an admin confirms the new key with the person "
        f"and types !trust {user_id} {seen}, their commands that need a verified "
        "device are refused."
    )
    return f"identity-changed:{user_id}:{seen}", Notify(text, announce=True)


def verified_device(policy: Policy, what: str, invocation: Invocation) -> None:
    """A device is verified when its own key is pinned, or when the sender's identity (master
    key) is pinned and that identity signed the device (cross-signing)."""
    sender, device = invocation.sender, invocation.device_id
    pinned = policy.pinned_key(sender, device or "")
    if pinned is not None and pinned == invocation.device_key:
        return
    identity = policy.pinned_identity(sender)
    if identity is None:
        raise Forbidden(
            f"{what} needs a verified device, and the key of your device {device} is not "
            "pinned in policy.toml",
            hint=f"ask an admin for !trust {sender} (your identity) or !trust {sender} {device}",
        )
    new = identity_changed(policy, invocation)
    if new is not None:
        raise Forbidden(
            f"{what} needs a verified device, and your cross-signing identity changed: the "
            f"master key pinned in policy.toml is {fingerprint(identity)}, yours is now "
            f"{fingerprint(new)} (a reset of your identity, or someone else's)",
            hint=f"once you confirmed the new key with the person, an admin re-trusts it: "
            f"!trust {sender} {new}",
        )
    if invocation.master_key is None:
        raise Forbidden(
            f"{what} needs a verified device, and I see no cross-signing identity for you "
            f"(pinned: {fingerprint(identity)})",
            hint="set up cross-signing again in your client, or ask an admin to "
            f"!trust {sender} {device}",
        )
    if not invocation.device_cross_signed:
        raise Forbidden(
            f"{what} needs a verified device, and your device {device} is not signed by your "
            "cross-signing identity",
            hint="verify this device from one of your other sessions (your client offers it)",
        )
