"""!adopt and !discard: an admin decides about commits that reached main unsigned.

Anyone who can push to the state repo can write a commit, and its message can claim anything.
Such commits are announced and wait: the state in force stays that of main's newest commit a
trusted key signed, and commands refuse to write on top. An admin reviews them (`git log`,
`git show`) and either adopts them, a signed commit that changes nothing and puts their tree in
force, or discards them, a signed commit that restores the trusted tree. History keeps both.
"""

from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.errors import Refused
from bot.state.view import StateView


def _outside(ctx: Context) -> tuple[str, str]:
    if not ctx.outside:
        raise Refused("every commit on main is signed by a trusted key", hint="nothing to do")
    first, last = ctx.outside[0].id.decode(), ctx.outside[-1].id.decode()
    count = len(ctx.outside)
    what = f"{count} outside commit{'s' if count > 1 else ''} ({first[:7]}"
    return what + (f"..{last[:7]})" if count > 1 else ")"), last


def adopt(ctx: Context) -> Outcome:
    what, last = _outside(ctx)
    trailers = tuple(("Adopted", commit.id.decode()) for commit in ctx.outside)
    adopted = StateView(ctx.state.snapshot.repo.snapshot(last))
    problems = [p.message for p in adopted.problems()]
    text = f"adopt: {what}, now in force"
    if problems:
        text += "\nThese files fail validation and are not applied:\n" + "\n".join(problems)
    return Outcome(text, change=Change(what, {}, trailers))


def discard(ctx: Context) -> Outcome:
    what, last = _outside(ctx)
    assert ctx.state.commit is not None, "a repo with no signed commit has nothing to go back to"
    files = ctx.state.snapshot.repo.changes_between(last, ctx.state.commit)
    trailers = tuple(("Discarded", commit.id.decode()) for commit in ctx.outside)
    return Outcome(
        f"discard: {what}; main's files are again those of {ctx.state.commit[:7]}",
        change=Change(what, files, trailers),
    )


COMMANDS = (
    Command(
        name="adopt",
        usage="",
        options=(REASON,),
        summary="put the unsigned commits on top of main in force, after reviewing them",
        details="Commits pushed to the repo without a trusted signature wait until an admin "
        "adopts or discards them; until then nothing is written on top of them.",
        examples=('!adopt --reason "reviewed: the new staging environment"',),
        handler=adopt,
        writes=True,
        admin_only=True,
        outside=True,
    ),
    Command(
        name="discard",
        usage="",
        options=(REASON,),
        summary="undo the unsigned commits on top of main with a commit restoring the files",
        examples=('!discard --reason "not ours"',),
        handler=discard,
        writes=True,
        admin_only=True,
        outside=True,
    ),
)
