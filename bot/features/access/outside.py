"""!adopt and !discard: an admin decides about what reached main without opsbot.

Anyone who can push to the state repo can write a commit, and its message can claim anything; a
push can even move main somewhere else entirely. What is in force stays the tip opsbot wrote
(bot/state/in_force.py); the rest is announced and waits, and commands refuse to write until an
admin, having read it (`git log`, `git show`), types one of:

- `!adopt <commit>`: that commit's tree is put in force, by a commit whose first parent is it.
  The admin names the commit reviewed, so a push made after the review is not adopted with it
  (it stays in history as a second parent, not in force). `--dry-run` lists the files it puts in
  force and says so loudly when they change who may do what or which programs run.
- `!discard`: the tree in force stays, by a commit whose first parent is the tip in force and
  whose second is main's tip: history keeps what was pushed, main's first parents (what the
  index, `!history` and `!rollback` read) never pass through it.
"""

from dulwich.objects import Commit

from bot.core.errors import Refused
from bot.core.text import clean
from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import DRY_RUN, REASON
from bot.engine.registry import Command
from bot.state.in_force import Trust

# Files whose change alters who may do what, or what the host runs: an adopt names them loudly.
SENSITIVE = (
    ("policy.toml", "who may run which command where, and whose keys are trusted"),
    ("runbooks/", "which programs the host runs, with which parameters"),
    ("apps/", "which hooks deploy and check each app"),
)


def _waiting(ctx: Context) -> Trust:
    trust = ctx.trust
    if trust is None or trust.clean:
        raise Refused(
            "every commit on main is one opsbot wrote or an admin adopted", hint="nothing to do"
        )
    return trust


def _short(commit: Commit) -> str:
    return commit.id.decode()[:7]


def _chosen(ctx: Context, trust: Trust) -> Commit:
    """The commit the admin named: one of those waiting on main."""
    prefix = str(ctx.args["commit"])
    found = [c for c in trust.outside if c.id.decode().startswith(prefix)]
    newest = f"{trust.head[:7]} (main's tip)" if trust.head else "the newest"
    if not found:
        raise Refused(
            f"{prefix} is not one of the {trust.count} commit(s) waiting on main",
            hint=f"git log shows them; adopt one by its id, e.g. !adopt {newest}",
        )
    if len(found) > 1:
        raise Refused(f"{prefix} names {len(found)} commits", hint="type more of the id")
    return found[0]


def _listing(ctx: Context, trust: Trust, chosen: Commit) -> tuple[list[str], list[str]]:
    """The files `chosen` puts in force (against the tree in force), and the loud warnings."""
    repo = ctx.state.snapshot.repo
    target = chosen.id.decode()
    if trust.commit is not None:
        paths = sorted(repo.changes_between(trust.commit, target))
    else:
        paths = sorted(repo.snapshot(target).files())
    warnings = [
        f"WARNING: this changes {what} ({', '.join(hit)})"
        for prefix, what in SENSITIVE
        if (hit := [clean(p) for p in paths if p == prefix or p.startswith(prefix)])
    ]
    return [clean(p) for p in paths], warnings


def adopt(ctx: Context) -> Outcome:
    trust = _waiting(ctx)
    chosen = _chosen(ctx, trust)
    target = chosen.id.decode()
    position = trust.outside.index(chosen)
    adopted, left = trust.outside[: position + 1], trust.outside[position + 1 :]
    paths, warnings = _listing(ctx, trust, chosen)
    what = f"{len(adopted)} commit{'s' if len(adopted) > 1 else ''} up to {target[:7]}"
    lines = [f"files put in force: {', '.join(paths) if paths else 'none'}", *warnings]
    if left or trust.more:
        later = ", ".join(_short(c) for c in left) or "more"
        lines.append(f"not adopted (pushed after it, kept in history, not in force): {later}")
    if ctx.args.get("dry_run"):
        return Outcome("\n".join([f"dry run: would adopt {what}", *lines]))
    problems = [
        p.message for p in ctx.state.at(ctx.state.snapshot.repo.snapshot(target)).problems()
    ]
    if problems:
        lines += ["These files fail validation and are not applied:", *problems]
    assert trust.head is not None
    # First parent: the adopted commit (in force from now on); main's tip and, after a
    # divergence, the tip that was in force stay reachable as further parents.
    kept = (trust.head, trust.commit if trust.diverged else None)
    others = [c for c in kept if c and c != target]
    trailers = tuple(("Adopted", c.id.decode()) for c in adopted)
    trailers += tuple(("Not-Adopted", c.id.decode()) for c in left)
    return Outcome(
        "\n".join([f"adopt: {what}, now in force", *lines]),
        change=Change(what, {}, trailers, base=target, merge=tuple(dict.fromkeys(others))),
    )


def discard(ctx: Context) -> Outcome:
    trust = _waiting(ctx)
    if trust.commit is None:
        raise Refused(
            "nothing opsbot wrote is on record to go back to",
            hint="adopt a commit after reviewing it (!adopt <commit>), or restore a backup",
        )
    assert trust.head is not None
    count = trust.count
    what = f"{count} outside commit{'s' if count > 1 else ''} (up to {trust.head[:7]})"
    if trust.diverged:
        what = f"main moved outside opsbot (to {trust.head[:7]})"
    trailers = tuple(("Discarded", c.id.decode()) for c in trust.outside)
    return Outcome(
        f"discard: {what}; main's files are again those of {trust.commit[:7]}",
        change=Change(what, {}, trailers, base=trust.commit, merge=(trust.head,)),
    )


COMMANDS = (
    Command(
        name="adopt",
        usage="<commit>",
        options=(REASON, DRY_RUN),
        summary="put a commit pushed to main in force, after reviewing it",
        details="Commits that reach main without opsbot (a push, a force-push) are not in force "
        "and nothing is written until an admin adopts or discards them. Name the commit you "
        "reviewed: commits pushed after it are not adopted. --dry-run lists the files it puts "
        "in force.",
        examples=("!adopt 1a2b3c4 --dry-run", '!adopt 1a2b3c4 --reason "reviewed: new staging"'),
        handler=adopt,
        writes=True,
        admin_only=True,
        outside=True,
    ),
    Command(
        name="discard",
        usage="",
        options=(REASON,),
        summary="keep main's files as opsbot last wrote them, leaving pushed commits out",
        examples=('!discard --reason "not ours"',),
        handler=discard,
        writes=True,
        admin_only=True,
        outside=True,
    ),
)
