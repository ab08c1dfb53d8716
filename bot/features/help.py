"""!help and !whoami: what this person may do, generated from the command declarations."""

import html

from bot.core.errors import NotFound
from bot.engine.context import Commands, Context, Outcome
from bot.engine.registry import Command
from bot.state.policy import Policy
from bot.state.roles import ADMIN


def runnable(registry: Commands, policy: Policy, user_id: str) -> list[Command]:
    return [
        c
        for c in registry
        if policy.allows_somewhere(user_id, c.name)
        and (not c.admin_only or policy.is_admin(user_id))
    ]


def not_yours(command: Command) -> str:
    """What help says of a command one may not run: that, and whom to ask; not how to run it
    (help shows only what one may run, as authorize.py promises)."""
    return (
        f"!{command.name}: your roles do not allow it; ask an admin for a role with it "
        "(!whoami shows yours, !roles who has which)"
    )


def describe(command: Command) -> str:
    lines = [command.usage_line(), f"  {command.summary}"]
    if command.details:
        lines.append(f"  {command.details}")
    for option in command.options:
        lines.append(f"  {option.usage()[1:-1]}: {option.help}")
    if command.examples:
        lines.append("  examples: " + "   ".join(command.examples))
    return "\n".join(lines)


def help_(ctx: Context) -> Outcome:
    name = ctx.args.get("command")
    mine = runnable(ctx.registry, ctx.policy, ctx.sender)
    if name is not None:
        # Internal commands (run by a transport) are not for people: unknown, like a typo.
        command = next((c for c in ctx.registry if c.name == name), None)
        family = [c for c in ctx.registry if c.name.startswith(f"{name} ")]
        if command is None and name.startswith("run ") and ctx.registry.get("run") in mine:
            # A runbook's usage comes from its declaration in the repo, like a command's.
            from bot.features.runbooks.commands import usage_of

            text = usage_of(ctx, name.removeprefix("run ").strip())
            return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")
        if command is None and family:
            return _family(family, mine)
        if command is None:
            _, hint = ctx.registry.unknown(name)
            raise NotFound(f"no command !{name}", hint=hint)
        text = describe(command) if command in mine else not_yours(command)
    else:
        width = max(len(c.usage_line()) for c in mine)
        text = "\n".join(f"{c.usage_line():<{width}}  {c.summary}" for c in mine)
        text += "\n!help <command> shows one in full."
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def _family(family: list[Command], mine: list[Command]) -> Outcome:
    """`!help incident`: every command whose name starts with that word, in full."""
    text = "\n".join(describe(c) if c in mine else not_yours(c) for c in family)
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def whoami(ctx: Context) -> Outcome:
    # The bot's identity too: the fingerprint a person compares with `opsbot keys` out of band.
    me = f"\nopsbot: {ctx.identity or 'not cross-signed (console)'}"
    roles = ctx.policy.roles_of(ctx.sender)
    if not roles:
        return Outcome(f"{ctx.sender}: no roles in policy.toml{me}")
    parts = []
    for role in roles:
        if role.name == ADMIN:
            parts.append("admin (every command, everywhere)")
            continue
        where = "everywhere" if role.environments is None else "in " + ", ".join(role.environments)
        parts.append(f"{role.name} ({', '.join(role.commands) or 'no commands'}; {where})")
    return Outcome(f"{ctx.sender}: " + "; ".join(parts) + me)


COMMANDS = (
    Command(
        name="help",
        usage="[<command...>]",
        summary="the commands you may run, or one command in full",
        examples=("!help", "!help deploy"),
        handler=help_,
    ),
    Command(
        name="whoami",
        usage="",
        summary="your roles, from policy.toml, and the bot's identity",
        examples=("!whoami",),
        handler=whoami,
    ),
)
