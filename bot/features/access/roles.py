"""!grant, !revoke and !roles: who may do what, changed by admins in signed commits.

policy.toml is data in Git like everything else, but a hand edit pushed to the repo is not in
force until an admin adopts it (see `bot.state.in_force`). These commands make the common change,
a person joining or leaving a role, one signed commit with who asked and why.
"""

from bot.core.errors import NotFound, Refused
from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.state.policy import PATH
from bot.state.policy_edit import add_member, remove_member
from bot.state.roles import ADMIN, EVERYONE


def _role(ctx: Context) -> str:
    name = ctx.args["role"]
    if not any(role.name == name for role in ctx.policy.roles):
        known = ", ".join(role.name for role in ctx.policy.roles) or "none"
        raise NotFound(f"no role {name} in policy.toml", hint=f"roles: {known}")
    return str(name)


def grant(ctx: Context) -> Outcome:
    role, user = _role(ctx), ctx.args["user"]
    if any(r.name == role and user in r.members for r in ctx.policy.roles):
        raise Refused(f"{user} already has the role {role}", hint="nothing to do")
    text = add_member(ctx.state.text(PATH) or "", role, user)
    summary = f"{user} {role}"
    return Outcome(f"grant: {summary}", change=Change(summary, {PATH: text}))


def revoke(ctx: Context) -> Outcome:
    role, user = _role(ctx), ctx.args["user"]
    if not any(r.name == role and user in r.members for r in ctx.policy.roles):
        raise Refused(f"{user} does not have the role {role}", hint="!roles lists who has which")
    admins = next((r.members for r in ctx.policy.roles if r.name == ADMIN), ())
    # People, not entries: a person listed twice is still one admin.
    if role == ADMIN and not set(admins) - {EVERYONE, user}:
        raise Refused(
            f"{user} is the last admin; nobody could change the policy after this",
            hint=f"!grant another person {ADMIN} first",
        )
    text = remove_member(ctx.state.text(PATH) or "", role, user)
    summary = f"{user} {role}"
    return Outcome(f"revoke: {summary}", change=Change(summary, {PATH: text}))


def roles(ctx: Context) -> Outcome:
    lines = []
    for role in ctx.policy.roles:
        members = ", ".join(role.members) or "nobody"
        if role.name == ADMIN:
            may = "every command, everywhere"
        else:
            where = ", ".join(role.environments) if role.environments is not None else "everywhere"
            may = f"{', '.join(role.commands) or 'nothing'} ({where})"
        lines.append(f"{role.name}: {members}; may run {may}")
    return Outcome("\n".join(lines) or "policy.toml defines no roles")


COMMANDS = (
    Command(
        name="grant",
        usage="<user> <role>",
        options=(REASON,),
        summary="give a person a role of policy.toml (admins only)",
        examples=('!grant @bob:example.org deployer --reason "joins the platform team"',),
        handler=grant,
        writes=True,
        admin_only=True,
    ),
    Command(
        name="revoke",
        usage="<user> <role>",
        options=(REASON,),
        summary="take a role of policy.toml away from a person (admins only)",
        details="The last admin cannot be revoked.",
        examples=("!revoke @bob:example.org deployer",),
        handler=revoke,
        writes=True,
        admin_only=True,
    ),
    Command(
        name="roles",
        usage="",
        summary="the roles of policy.toml: who has each, and what it may run where",
        examples=("!roles",),
        handler=roles,
    ),
)
