"""How fast `!metrics` answers on a big history: a state repo of --commits commits (deploys,
rollbacks and redeploys of 10 apps in 3 environments, incidents opened, acknowledged, resolved
and given causes, and the reconciler's notes), spread over --days days up to now.

    python bench/metrics.py [--commits 100000] [--days 180] [--runs 10] [--keep]
                            [--repo DIR [--warm-only]]

With --repo, the repo is built in DIR the first time and reused by later runs with the same
--commits and --days (building it takes minutes; comparing two versions of the code is fairer
on one repo, run back to back). --warm-only then keeps the index DIR already has (built by an
earlier run) and measures only the warm commands.

The repo is built with dulwich directly (signed commits, objects written in packs), not through
the engine one command at a time: that is set-up, not measured. It has the layout the engine
writes, so the index reads it as it reads any repo. The reconciler's notes (one outcome per
deploy) are written in commits of 5,000 notes each, under the fan-out `ab/cdef...` paths Git
uses. Measured:

- cold: the index built from nothing (as `opsbot reindex` does), then the first `!metrics`;
- warm: `!metrics` (all apps, 90 days) and `!metrics prod --since 30d` once the index is warm,
  chart included where matplotlib is installed. Goal: <= 1 s.
"""

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dulwich.objects import Blob, Commit, ShaFile, Tree

from bot.config import HostPaths
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation
from bot.features.catalog import index_tables
from bot.service.assemble import bot_identity, init_repo, open_engine
from bot.state.index import Index
from bot.state.notes import NOTES
from bot.state.repo import MAIN, StateRepo
from bot.state.signing import SigningKey, sign_commit
from bot.transport import console

ALICE = "@alice:example.org"
APPS = tuple(f"app{n}" for n in range(10))
ENVS = ("dev", "staging", "prod")
GOAL = 1.0  # seconds, warm
READER = bot_identity(ALICE)
NOTES_PER_COMMIT = 5000


class Dir:
    def __init__(self) -> None:
        self.children: dict[str, Dir | bytes] = {}
        self.id: bytes | None = None

    def set(self, path: str, blob: bytes) -> None:
        node = self
        *dirs, name = path.split("/")
        node.id = None
        for part in dirs:
            child = node.children.setdefault(part, Dir())
            assert isinstance(child, Dir)
            node = child
            node.id = None
        node.children[name] = blob


class Builder:
    """Writes commits on top of a ref from nested dicts of path -> blob id."""

    def __init__(self, repo: StateRepo, key: SigningKey) -> None:
        self.repo = repo
        self.key = key
        self.pending: list[ShaFile] = []
        self.written = 0

    def add(self, obj: ShaFile) -> bytes:
        self.pending.append(obj)
        return obj.id

    def tree(self, node: "Dir") -> bytes:
        """The tree of `node`, writing only the directories that changed since last asked."""
        if node.id is None:
            tree = Tree()
            for name, value in node.children.items():
                if isinstance(value, Dir):
                    tree.add(name.encode(), 0o040000, self.tree(value))
                else:
                    tree.add(name.encode(), 0o100644, value)
            node.id = self.add(tree)
        return node.id

    def commit(self, tree: bytes, parent: bytes | None, summary: str, at: datetime) -> bytes:
        commit = Commit()
        commit.tree = tree
        commit.parents = [parent] if parent else []
        who = f"Alice <{ALICE}>".encode()
        commit.author = commit.committer = who
        commit.author_time = commit.commit_time = int(at.timestamp())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = f"{summary}\n".encode()
        sign_commit(commit, self.key)
        return self.add(commit)

    def flush(self) -> None:
        if self.pending:
            self.repo.git.object_store.add_objects([(o, None) for o in self.pending])
            self.written += len(self.pending)
            self.pending = []


def blob(builder: Builder, text: str) -> bytes:
    return builder.add(Blob.from_string(text.encode()))


def build(root: Path, commits: int, days: int, seed: int = 14) -> tuple[HostPaths, int, int]:
    """(paths, commits on main, notes commits)."""
    rng = random.Random(seed)
    paths = HostPaths.beside(root / "state.git")
    repo = init_repo(paths, admins=[ALICE])
    key = SigningKey.load(paths.signing_key)
    builder = Builder(repo, key)
    head = repo.head()
    assert head is not None
    base = repo.snapshot(head)
    files = Dir()
    for path in base.files():
        files.set(path, blob(builder, base.text(path) or ""))
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    step = timedelta(days=days) / commits
    parent: bytes | None = head.encode()
    notes = Dir()
    notes_parent: bytes | None = None
    unnoted: list[tuple[str, str, str, str, datetime, bool]] = []
    versions = {(env, app): 0 for env in ENVS for app in APPS}
    last: dict[tuple[str, str], str] = {}
    open_incidents: list[tuple[int, datetime, str]] = []
    incident_number = 0
    main_commits = notes_commits = 0
    total_notes_commits = max(1, commits // 20 // NOTES_PER_COMMIT)
    for i in range(commits - total_notes_commits - 1):
        at = start + step * i
        roll = rng.random()
        if roll < 0.98 or not last:
            env, app = rng.choice(ENVS), rng.choice(APPS)
            kind = rng.choices(("deploy", "rollback", "redeploy"), (90, 7, 3))[0]
            if kind == "deploy" or (env, app) not in last:
                versions[env, app] += 1
                kind = "deploy"
            version = f"1.{versions[env, app]}"
            text = (
                f'version = "{version}"\nrequested_by = "{ALICE}"\n'
                f'requested_at = {at:%Y-%m-%dT%H:%M:%SZ}\ncommand = "{kind}"\n'
            )
            files.set(f"deployments/{env}/{app}.toml", blob(builder, text))
            parent = builder.commit(
                builder.tree(files), parent, f"{kind}: {app} {version} to {env}", at
            )
            last[env, app] = parent.decode()
            unnoted.append((parent.decode(), env, app, version, at, rng.random() < 0.96))
        else:
            if open_incidents and rng.random() < 0.5:
                number, opened, sev = open_incidents.pop(0)
                cause = rng.choice(list(last.values())) if rng.random() < 0.4 else None
                text = incident_toml(number, sev, opened, at, cause)
                summary = f"incident resolve: INC-{number}"
            else:
                incident_number += 1
                number, sev = incident_number, rng.choice(("sev1", "sev2", "sev3"))
                open_incidents.append((number, at, sev))
                text = incident_toml(number, sev, at, None, None)
                summary = f"incident open: INC-{number}"
            files.set(f"incidents/INC-{number}/incident.toml", blob(builder, text))
            parent = builder.commit(builder.tree(files), parent, summary, at)
        main_commits += 1
        if len(unnoted) >= NOTES_PER_COMMIT:
            notes_parent = note_batch(builder, notes, unnoted, notes_parent, at)
            notes_commits += 1
        if i % 2000 == 0:
            builder.flush()
    if unnoted:
        notes_parent = note_batch(builder, notes, unnoted, notes_parent, now)
        notes_commits += 1
    builder.flush()
    assert parent is not None
    repo.git.refs[MAIN] = parent
    if notes_parent is not None:
        repo.git.refs[NOTES] = notes_parent
    repo.close()
    return paths, main_commits + 1, notes_commits


def incident_toml(
    number: int, sev: str, opened: datetime, resolved: datetime | None, cause: str | None
) -> str:
    lines = [
        f'title = "Incident {number}"',
        f'severity = "{sev}"',
        f'status = "{"resolved" if resolved else "investigating"}"',
        f'reporter = "{ALICE}"',
        f"opened_at = {opened:%Y-%m-%dT%H:%M:%SZ}",
    ]
    if resolved:
        lines += [
            f"acknowledged_at = {opened + (resolved - opened) / 4:%Y-%m-%dT%H:%M:%SZ}",
            f"resolved_at = {resolved:%Y-%m-%dT%H:%M:%SZ}",
        ]
    if cause:
        lines.append(f'cause = "{cause}"')
    return "\n".join(lines) + "\n"


def note_batch(
    builder: Builder,
    notes: Dir,
    unnoted: list[tuple[str, str, str, str, datetime, bool]],
    parent: bytes | None,
    at: datetime,
) -> bytes:
    for sha, env, app, version, asked, ok in unnoted:
        done = asked + timedelta(minutes=3)
        status = "ok" if ok else "failed"
        machine = (
            f'{{"app": "{app}", "env": "{env}", "version": "{version}", "status": "{status}", '
            f'"attempt": 1, "final": true, "at": "{done.isoformat()}", "detail": "", '
            f'"hook": "deploy", "exit_code": {0 if ok else 1}, "duration": 1.0, "error": null}}'
        )
        text = f"deploy {app} {version} to {env}: {status}\nOpsbot-Run: {machine}\n"
        notes.set(f"{sha[:2]}/{sha[2:]}", blob(builder, text))
    unnoted.clear()
    return builder.commit(builder.tree(notes), parent, "notes: a batch of outcomes", at)


def reuse(root: Path, commits: int, days: int) -> HostPaths | None:
    """The repo an earlier run built in `root` with the same parameters, if there is one."""
    marker = root / "built"
    if not marker.exists() or marker.read_text().split() != [str(commits), str(days)]:
        if (root / "state.git").exists():
            raise SystemExit(f"{root} holds a repo built with other parameters (or unfinished)")
        return None
    return HostPaths.beside(root / "state.git")


def in_room(text: str) -> Invocation:
    """A command typed in a room (not the console), so that the chart is drawn too."""
    return replace(console.invocation(ALICE, text), room_id="!ops:example.org", room_name="#ops")


def timed(engine: Engine, text: str) -> float:
    began = time.perf_counter()
    reply = engine.run(in_room(text))
    elapsed = time.perf_counter() - began
    assert reply is not None and reply.ok, reply
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--repo", type=Path, help="build the repo here once, reuse it after")
    parser.add_argument(
        "--warm-only", action="store_true", help="with --repo: keep its index, time warm runs"
    )
    args = parser.parse_args()
    if args.warm_only and args.repo is None:
        parser.error("--warm-only needs --repo")
    root = args.repo or Path(tempfile.mkdtemp(prefix="opsbot-bench-metrics-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        paths = reuse(root, args.commits, args.days) if args.repo else None
        if paths is None:
            began = time.perf_counter()
            paths, main_commits, notes_commits = build(root, args.commits, args.days)
            print(
                f"built {main_commits} commits on main and {notes_commits} notes commits "
                f"in {time.perf_counter() - began:.1f} s"
            )
            (root / "built").write_text(f"{args.commits} {args.days}\n")
        else:
            print(f"reusing the repo built in {root}")
        if not args.warm_only:
            began = time.perf_counter()
            index = Index(paths.index, index_tables())
            count = index.rebuild(StateRepo(paths.repo, committer=READER, signer=None))
            index.close()
            print(
                f"cold index: {count} commits and the notes indexed from nothing in "
                f"{time.perf_counter() - began:.1f} s (what `opsbot reindex` does)"
            )
        engine = open_engine(paths)
        try:
            cold = timed(engine, "!metrics")
            print(f"first !metrics after the index is built: {cold:.2f} s")
            for text in ("!metrics", "!metrics prod --since 30d"):
                runs = [timed(engine, text) for _ in range(args.runs)]
                median = statistics.median(runs)
                print(
                    f"warm {text!r}: median {median * 1000:.0f} ms over {args.runs} runs, "
                    f"max {max(runs) * 1000:.0f} ms (goal <= {GOAL * 1000:.0f} ms)"
                )
                reply = engine.run(in_room(text))
                assert reply is not None
                print("  " + reply.text.replace("\n", "\n  "))
        finally:
            engine.repo.close()
    finally:
        if args.keep or args.repo:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
