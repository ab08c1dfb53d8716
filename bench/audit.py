"""How fast the audit report of a year is, with a warm index: a state repo of --commits commits
(deploys of 10 apps to dev, staging and prod over --days days; prod's merged with an approved
proposal, a few hotfixes with their reviews, freezes, role changes), then `opsbot audit`'s work
timed in-process for each format.

    python bench/audit.py [--commits 100000] [--days 365] [--runs 5] [--quick]
                          [--repo DIR [--warm-only]]

The repo is built with dulwich directly (signed commits, as bench/metrics.py builds its own):
that is set-up, not measured. Measured:

- cold: the index built from nothing (as `opsbot reindex` does), which checks each change's
  signature once;
- warm: the report of the whole period read from the index and judged (every signature
  against the allowed-signers file at its commit's time), then written as md, csv, json and
  html. Goal: under 2 s each.
"""

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.metrics import Builder, Dir, blob, reuse
from bot.config import HostPaths
from bot.features.catalog import index_tables
from bot.features.governance.audit import RENDER
from bot.features.governance.audit_formats import summary
from bot.features.governance.audit_history import report
from bot.service.assemble import bot_identity, init_repo
from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index
from bot.state.repo import MAIN, StateRepo
from bot.state.signing import SigningKey

ALICE = "@alice:example.org"
PEOPLE = tuple(f"@dev{n}:example.org" for n in range(8))
APPS = tuple(f"app{n}" for n in range(10))
ENVS = ("dev", "staging", "prod")
GOAL = 2.0  # seconds, warm
READER = bot_identity(ALICE)
FREEZE = "freezes/prod.toml"
PROD = (
    'order = 3\napprovals = 1\n\n[[windows]]\nname = "sunday"\nreason = "nobody watches"\n'
    'timezone = "Europe/Berlin"\nevery = "sun 00:00 - mon 00:00"\n'
)


def _deployment(version: str, by: str, at: datetime, hotfix: str | None) -> str:
    text = (
        f'version = "{version}"\nrequested_by = "{by}"\n'
        f'requested_at = {at:%Y-%m-%dT%H:%M:%SZ}\ncommand = "deploy"\n'
    )
    return text + (f'hotfix = "{hotfix}"\n' if hotfix else "")


def _proposal(number: int, by: str, approver: str, **more: str) -> str:
    extra = "".join(f'{key} = "{value}"\n' for key, value in more.items())
    return (
        f'number = {number}\nsummary = "a change"\nrequested_by = "{by}"\n'
        f'environment = "prod"\napprovals_required = 1\nbase = "{"0" * 40}"\n'
        f'status = "merged"\napproved_by = ["{approver}"]\n' + extra
    )


def _policy(members: list[str]) -> str:
    names = ", ".join(f'"{m}"' for m in members)
    return (
        f'[roles.admin]\nmembers = ["{ALICE}"]\n\n[roles.deployer]\nmembers = [{names}]\n'
        'commands = ["deploy", "approve"]\n'
    )


def build(root: Path, commits: int, days: int, seed: int = 23) -> HostPaths:
    rng = random.Random(seed)
    paths = HostPaths.beside(root / "state.git")
    repo = init_repo(paths, admins=[ALICE])
    builder = Builder(repo, SigningKey.load(paths.signing_key))
    head = repo.head()
    assert head is not None
    base = repo.snapshot(head)
    files = Dir()
    for path in base.files():
        files.set(path, blob(builder, base.text(path) or ""))
    files.set("environments/prod.toml", blob(builder, PROD))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    step = timedelta(days=days) / commits
    parent: bytes | None = head.encode()
    versions = dict.fromkeys(((e, a) for e in ENVS for a in APPS), 0)
    members = list(PEOPLE[:4])
    proposal = 0
    frozen = False
    for i in range(commits - 1):
        at = start + step * i
        roll = rng.random()
        if roll < 0.002:  # a role change
            who = rng.choice(PEOPLE)
            members = [m for m in members if m != who] if who in members else [*members, who]
            files.set("policy.toml", blob(builder, _policy(members)))
            summary_line = "grant"
        elif roll < 0.004:  # a freeze, or its end
            text = f'by = "{ALICE}"\nsince = {at:%Y-%m-%dT%H:%M:%SZ}\nreason = "release"\n'
            if frozen:
                _unset(files, FREEZE)
            else:
                files.set(FREEZE, blob(builder, text))
            frozen = not frozen
            summary_line = "freeze"
        else:
            env, app = rng.choice(ENVS), rng.choice(APPS)
            versions[env, app] += 1
            by = rng.choice(PEOPLE)
            hotfix = f"INC-{i}" if env == "prod" and rng.random() < 0.01 else None
            record = _deployment(f"1.{versions[env, app]}", by, at, hotfix)
            files.set(f"deployments/{env}/{app}.toml", blob(builder, record))
            if env == "prod" and hotfix is None:
                proposal += 1
                approver = rng.choice([p for p in PEOPLE if p != by])
                text = _proposal(proposal, by, approver)
                files.set(f"proposals/{proposal % 50 + 1}.toml", blob(builder, text))
            summary_line = f"deploy: {app} to {env}"
        parent = builder.commit(builder.tree(files), parent, summary_line, at)
        if i % 2000 == 0:
            builder.flush()
    builder.flush()
    assert parent is not None
    repo.git.refs[MAIN] = parent
    repo.close()
    return paths


def _unset(files: Dir, path: str) -> None:
    *dirs, name = path.split("/")
    node = files
    node.id = None
    for part in dirs:
        child = node.children[part]
        assert isinstance(child, Dir)
        node = child
        node.id = None
    node.children.pop(name)


def timed(index: Index, signers: AllowedSigners, since: datetime, form: str) -> float:
    began = time.perf_counter()
    RENDER[form](report(index, signers, since))
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="300 commits, 1 run: does it run")
    parser.add_argument("--repo", type=Path, help="build the repo here once, reuse it after")
    parser.add_argument("--warm-only", action="store_true", help="with --repo: keep its index")
    args = parser.parse_args()
    if args.quick:
        args.commits, args.days, args.runs = 300, 10, 1
    root = args.repo or Path(tempfile.mkdtemp(prefix="opsbot-bench-audit-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        paths = reuse(root, args.commits, args.days) if args.repo else None
        if paths is None:
            began = time.perf_counter()
            paths = build(root, args.commits, args.days)
            print(f"built {args.commits} commits in {time.perf_counter() - began:.1f} s")
            (root / "built").write_text(f"{args.commits} {args.days}\n")
        repo = StateRepo(paths.repo, committer=READER, signer=None)
        index = Index(paths.index, index_tables())
        if not args.warm_only:
            began = time.perf_counter()
            count = index.rebuild(repo)
            print(f"cold index: {count} commits in {time.perf_counter() - began:.1f} s")
        signers = AllowedSigners.read(paths.allowed_signers)
        since = datetime.now(UTC) - timedelta(days=args.days + 1)
        print(summary(report(index, signers, since)))
        for form in RENDER:
            runs = [timed(index, signers, since, form) for _ in range(args.runs)]
            print(
                f"warm report, {form}: median {statistics.median(runs) * 1000:.0f} ms over "
                f"{args.runs} runs, max {max(runs) * 1000:.0f} ms (goal < {GOAL * 1000:.0f} ms)"
            )
        index.close()
        repo.close()
    finally:
        if args.repo:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
