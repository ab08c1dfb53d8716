"""Who may run a command: roles from policy.toml, then the conditions a transport can vouch for.

Roles are checked twice: before parsing (may this person run the command at all? if not, the
usage of a command they cannot run is none of their business) and after, against the environment
the arguments name. The Matrix-only conditions (room power level, encryption, a device key the
team has pinned in Git) apply only when the transport reports them.
"""

from typing import Any

from bot.engine.registry import Command
from bot.engine.types import Invocation
from bot.errors import Forbidden
from bot.state.policy import Policy
from bot.state.view import StateView


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
    if policy.require_encryption and invocation.encrypted is False:
        raise Forbidden(
            "this room is not encrypted, and policy.toml requires encryption for commands",
            hint="use an encrypted room",
        )


def may_run_here(
    policy: Policy, command: Command, invocation: Invocation, args: dict[str, Any], state: StateView
) -> None:
    env = args.get(command.scope) if command.scope else None
    if env is not None and not policy.allows(invocation.sender, command.name, env):
        raise Forbidden(
            f"{invocation.sender} may not run !{command.name} in {env}",
            hint="ask an admin to extend your role's environments in policy.toml",
        )
    rule = policy.rule(command.name)
    level = invocation.power_level
    if rule.min_power_level is not None and level is not None and level < rule.min_power_level:
        raise Forbidden(
            f"!{command.name} needs power level {rule.min_power_level} in this room; "
            f"you have {level}",
            hint="ask a room admin to raise your power level",
        )
    environment = state.environments().get(env) if env else None
    needs_verified = rule.require_verified_device or bool(
        environment and environment.require_verified_device
    )
    if needs_verified and invocation.device_id is not None:
        pinned = policy.pinned_key(invocation.sender, invocation.device_id)
        if pinned is None or pinned != invocation.device_key:
            where = f" in {env}" if env else ""
            raise Forbidden(
                f"!{command.name}{where} needs a verified device, and the key of your device "
                f"{invocation.device_id} is not pinned in policy.toml",
                hint=f"ask an admin for !trust {invocation.sender} {invocation.device_id}",
            )
