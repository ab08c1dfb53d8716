"""Upgrades: a state repo and a state directory made by an earlier release, moved forward.

Three kinds of migration, each safe to cut short and run again:

- **the journals** of the state directory (SQLite): each step a transaction that also sets the
  file's `PRAGMA user_version` (`bot.state.schema`), run when the file is opened;
- **the handled invocations' rows for history** (`seed_handled`): release 0.1.0 knew a command
  was done from its commit's `Matrix-Event` / `Opsbot-Invocation` trailer. This release asks
  the outbox's `handled` table, which 0.1.0 did not have, so without these rows a command
  redelivered after the upgrade would run a second time. One transaction, with the version
  (only the version where the `handled.sqlite` of 0.2/0.3, which the outbox copied, had them);
- **the repo's layout** (`bot.state.layout`): each step one commit signed with the bot's key,
  through the same locked compare-and-swap as every command. A kill before the ref moves leaves
  loose objects nobody names and the old layout; after, the new layout: either way the next
  run does what is left.

Data newer than this code (a downgrade) is refused before anything is written.
"""

import json
import sqlite3
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dulwich.objects import Commit, ObjectID
from dulwich.refs import Ref

from bot.config.paths import HostPaths
from bot.core.errors import OpsbotError
from bot.reconcile import journal as reconcile_journal
from bot.state import layout, outbox_file
from bot.state.allowed_signers import AllowedSigners
from bot.state.handled import legacy_seeded, remove_legacy
from bot.state.in_force import InForceRecord, Remembered, contains, seed
from bot.state.journal_file import JournalFile
from bot.state.message import Message, read_trailers, trailers_from
from bot.state.proposals import record_path
from bot.state.repo import MAIN, PROPOSALS, Identity, StateRepo, refuse_rewrites
from bot.state.schema import refuse_newer, version, version_of
from bot.state.signing import SigningKey, public_blob
from bot.transport.http import deliveries
from bot.transport.matrix import journal as matrix_journal

# Trailers release 0.1.0 read to tell which invocation made a commit, in its order of preference.
LEGACY_INVOCATION_TRAILERS = ("Matrix-Event", "Opsbot-Invocation")
SEEDED = outbox_file.SEEDED  # outbox.sqlite's version once the handled rows for history are in
CREDENTIALS = "matrix/credentials.json"  # the device's user id, device id and access token
OUTBOX = "outbox.sqlite"  # with the handled invocations, which every start needs


JOURNALS = (
    JournalFile("matrix/journal.sqlite", matrix_journal.SCHEMA, matrix_journal.MatrixJournal),
    JournalFile("reconcile.sqlite", reconcile_journal.SCHEMA, reconcile_journal.ReconcileJournal),
    JournalFile("webhooks.sqlite", deliveries.SCHEMA, deliveries.Deliveries),
    JournalFile(OUTBOX, outbox_file.SCHEMA, outbox_file.open_outbox),
)


class MigrationWaits(OpsbotError):
    """A repo migration cannot be written now; the message says what to do first."""

    code = "migration_waits"


@dataclass
class Report:
    done: list[str] = field(default_factory=list)  # one line per migration run
    notes: list[str] = field(default_factory=list)  # what the operator should know or do


@dataclass(frozen=True)
class Host:
    """What a migration touches, and the bot's key to sign the repo's migration commits.
    `refs`: those the features keep beside main (the runs ref), whose commits the bot signed
    and which are not main's."""

    paths: HostPaths
    bot_id: str
    key_file: Path
    extra_signers: Path | None = None
    refs: tuple[Ref, ...] = field(kw_only=True)
    journals: tuple[JournalFile, ...] = field(kw_only=True)
    """The features' journals, beside the core's (`JOURNALS`)."""

    def signers(self) -> AllowedSigners:
        extra = [self.extra_signers] if self.extra_signers else []
        return AllowedSigners.read(self.paths.allowed_signers, *extra)

    def reader(self) -> StateRepo:
        return StateRepo(
            self.paths.repo,
            committer=Identity("opsbot", self.bot_id),
            signer=None,
            signers=self.signers(),
            in_force=InForceRecord(self.paths.in_force),
            team=AllowedSigners.read(self.extra_signers) if self.extra_signers else None,
        )


class OtherBot(OpsbotError):
    """A state directory (or a backup) made for another Matrix user than the config's bot."""

    code = "other_bot"


def owner_of(state_dir: Path) -> str | None:
    """The Matrix user whose device the state directory holds, if it has logged in."""
    try:
        user = json.loads((state_dir / CREDENTIALS).read_text()).get("user_id")
    except (OSError, ValueError, AttributeError):
        return None
    return user if isinstance(user, str) else None


def check_versions(host: Host) -> None:
    """Refuses a repo or a journal written by a newer release, or a state directory that
    belongs to another bot, writing nothing."""
    owner = owner_of(host.paths.state_dir)
    if owner is not None and owner != host.bot_id:
        raise OtherBot(
            f"{host.paths.state_dir} holds the Matrix device of {owner}, not of {host.bot_id}: "
            "point [paths] state_dir at this bot's own state directory"
        )
    repo = host.reader()
    try:
        layout.refuse_newer(layout.version_of(repo.snapshot()))
    finally:
        repo.close()
    for journal in (*JOURNALS, *host.journals):
        path = host.paths.state_dir / journal.path
        refuse_newer(path, version_of(path), journal.schema)


def migrate(host: Host, *, repo_may_wait: bool = False) -> Report:
    """Runs every migration the repo and the state directory lack, journals first.

    With `repo_may_wait` (at start), a repo migration that cannot be written now (unsigned
    commits on top of main, which a signed commit would put in force) is reported in `notes`
    instead of raised: this release reads the previous layout as it is."""
    check_versions(host)
    report = Report()
    for journal in (*JOURNALS, *host.journals):
        path = host.paths.state_dir / journal.path
        before = version_of(path)
        if before is None and journal.path != OUTBOX:
            continue  # made at its current version by whoever first needs it
        journal.open(path).close()
        after = version_of(path)
        if before is not None and after != before:
            report.done.append(f"{journal.path}: schema {before} -> {after}")
    report.done += _seed_if_needed(host)
    report.done += guard_repo(host)
    try:
        report.done += _migrate_repo(host, report)
    except MigrationWaits as e:
        if not repo_may_wait:
            raise
        report.notes.append(e.message)
    return report


def guard_repo(host: Host) -> list[str]:
    """What earlier releases did not set up against pushes: the repo refuses force-pushes and
    deleting main, and opsbot remembers the tip of main it wrote (without that record, nothing
    would be in force). The tip is taken as the newest commit on main that the bot's key signed
    and that is not one of a proposal branch or of the runs ref."""
    done = []
    repo = host.reader()
    try:
        config = repo.git.get_config()
        if not config.get_boolean((b"receive",), b"denyNonFastForwards", False) or not (
            config.get_boolean((b"receive",), b"denyDeletes", False)
        ):
            refuse_rewrites(config)
            config.write_to_path()
            done.append("state repo: pushes may no longer rewrite or delete branches")
        if InForceRecord(host.paths.in_force).read() is None:
            done += remember_own_tip(host, repo)
    finally:
        repo.close()
    return done


def remember_own_tip(host: Host, repo: StateRepo) -> list[str]:
    """Records as in force the newest commit on main the bot's key signed that is not one of a
    proposal branch or of the runs ref, where nothing is recorded yet or it descends from what
    is (a restore, whose clone may hold the bot's commits made after the backup). Only ever run
    by the operator's commands: at run time, main moves forward only by what opsbot writes."""
    if not host.key_file.exists():
        return []
    record = InForceRecord(host.paths.in_force)
    remembered = record.read()
    # The bot's keys, past and present: the state directory's allowed-signers file keeps every
    # key the bot has had (the host config's file, a team's keys, is not read here).
    own = {public_blob(SigningKey.load(host.key_file).public_line())}
    own |= AllowedSigners.read(host.paths.allowed_signers).keys
    elsewhere = _elsewhere(repo, host.refs)
    tip = seed(repo.get, repo.head(), own - {None}, elsewhere)  # type: ignore[arg-type]
    if tip is None or (remembered is not None and remembered.tip == tip):
        return []
    went_elsewhere = (
        remembered is not None
        and remembered.tip is not None
        and not contains(repo.get, tip, remembered.tip)  # type: ignore[arg-type]
    )
    if went_elsewhere:
        return []  # an admin decides, as for any outside change
    record.write(Remembered(tip), durable=True)
    return [f"state repo: the tip in force is {tip[:7]}, the bot's last commit on main"]


def _elsewhere(repo: StateRepo, refs: Iterable[Ref]) -> set[str]:
    """The commits the bot signed that are not main's: those of each proposal branch (back to
    the commit it started from) and of the refs features keep beside main (`refs`)."""
    found: set[str] = set()
    for name, tip in repo.refs_under(PROPOSALS).items():
        record = repo.snapshot(tip).text(f"proposals/{name}.toml") or ""
        try:
            base = tomllib.loads(record).get("base")
        except tomllib.TOMLDecodeError:
            base = None
        sha: bytes | None = tip.encode()
        while sha is not None and sha.decode() != base and len(found) < 1_000_000:
            found.add(sha.decode())
            parents = repo.get(sha).parents  # type: ignore[attr-defined]
            sha = parents[0] if parents else None
    for ref in refs:
        beside = repo.tip(ref)
        if beside is not None:
            for entry in repo.git.get_walker(include=[ObjectID(beside.encode())]):
                found.add(entry.commit.id.decode())
    return found


def _seed_if_needed(host: Host) -> list[str]:
    conn = outbox_file.open_outbox(host.paths.outbox)
    try:
        if version(conn) >= SEEDED:
            return []
        if legacy_seeded(host.paths.handled):  # its rows copied by the outbox's schema step
            seed_handled(None, conn, [], SEEDED)
            remove_legacy(host.paths.handled)
            return [f"handled.sqlite: moved into {OUTBOX}"]
        repo = host.reader()
        try:
            count = seed_handled(repo, conn, invocations_in_trailers(repo, host.signers()), SEEDED)
        finally:
            repo.close()
        remove_legacy(host.paths.handled)
        # A new file for a new repo has nothing to learn: no news for the operator.
        return [f"{OUTBOX}: {count} earlier commands remembered as handled"][: 1 if count else 0]
    finally:
        conn.close()


def invocations_in_trailers(
    repo: StateRepo, signers: AllowedSigners, exclude: Iterable[str] = ()
) -> list[tuple[str, str, int]]:
    """(invocation, commit, time) for every commit on main and the proposal branches that a
    trusted key signed and whose trailers name its invocation, oldest first; without the
    commits reachable from `exclude`.

    Read from messages, which this release otherwise never does: a display name or a reason
    holding U+2028 could make release 0.1.0's trailer parser (this one) read a trailer nobody
    wrote. That is safe enough here because these rows only ever answer "already done" for an
    invocation id that comes back, and ids cannot be chosen in advance: a Matrix event id is a
    hash the homeserver computes over the event, a console id a random UUID. A forged trailer
    can only name an event that already exists, whose command 0.1.0 believed done for the same
    reason: these rows give the upgraded bot exactly the answers 0.1.0 would have given. Only
    signed commits count: anyone can push an unsigned commit with any trailer."""
    tips = [sha for sha in [repo.tip(MAIN), *repo.refs_under(PROPOSALS).values()] if sha]
    if not tips:
        return []
    found: list[tuple[str, str, int]] = []
    walker = repo.git.get_walker(
        include=[ObjectID(t.encode()) for t in tips],
        exclude=[ObjectID(e.encode()) for e in exclude],
    )
    for entry in walker:
        commit: Commit = entry.commit
        if not signers.verifies(commit):
            continue
        trailers = read_trailers(commit.message)
        invocation = next((trailers[t] for t in LEGACY_INVOCATION_TRAILERS if t in trailers), "")
        if 0 < len(invocation) <= 255 and not any(c.isspace() for c in invocation):
            found.append((invocation, commit.id.decode(), commit.commit_time))
    found.sort(key=lambda row: row[2])
    return found


def seed_handled(
    repo: StateRepo | None,
    conn: sqlite3.Connection,
    rows: list[tuple[str, str, int]],
    new_version: int | None = None,
) -> int:
    """Adds `rows` to the handled table in one transaction; a row already there wins (the journal
    is the better witness), and so does the oldest commit claiming an invocation, as 0.1.0
    answered. Returns how many rows were added."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if new_version is not None and version(conn) >= new_version:
            conn.execute("COMMIT")  # another process did it while we waited for the lock
            return 0
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO handled VALUES (?, ?, ?)", rows)
        added = conn.total_changes - before
        if new_version is not None:
            conn.execute(f"PRAGMA user_version = {new_version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return added


# The repo's layout steps: layout N -> N + 1, each returning the files to change and why.
RepoStep = Callable[[StateRepo, Report], tuple[dict[str, bytes | None], tuple[str, ...]]]


def _to_layout_2(
    repo: StateRepo, report: Report
) -> tuple[dict[str, bytes | None], tuple[str, ...]]:
    """Layout 2 keeps each proposal's rules in `proposals/<n>.toml` on its branch.

    Open proposals of 0.1.0 are not converted: their rules (approvals required and given, who
    rejected) are in trailers, which are exactly what a reason or a display name could forge
    in that release; writing them into a signed record would put a forged approval in force.
    They are listed instead, to be proposed again (one command each)."""
    main = repo.tip(MAIN)
    merged = _ancestors(repo, main) if main else set()
    legacy = [
        f"proposals/{name}"
        for name, tip in sorted(repo.refs_under(PROPOSALS).items())
        if name.isascii()
        and name.isdigit()
        and repo.snapshot(tip).text(record_path(int(name))) is None
        and tip not in merged
    ]
    body = ["Proposals are now files (proposals/<n>.toml on each branch)."]
    if legacy:
        note = (
            f"{len(legacy)} proposal(s) of the previous layout were not merged and are not read "
            f"any more: {', '.join(legacy)}. If still wanted, propose them again."
        )
        body.append(note)
        report.notes.append(note)
    return {layout.FILE: layout.render(2).encode()}, tuple(body)


REPO_STEPS: dict[int, RepoStep] = {2: _to_layout_2}
assert sorted(REPO_STEPS) == list(range(2, layout.CURRENT + 1))


def _migrate_repo(host: Host, report: Report) -> list[str]:
    from bot.state.signing import SigningKey  # only needed when there is something to sign

    done: list[str] = []
    repo = host.reader()
    try:
        if layout.version_of(repo.snapshot()) >= layout.CURRENT:
            return []
        if not host.key_file.exists():
            raise OpsbotError(
                f"the state repo needs migrating, signed with the bot's key, and {host.key_file} "
                "does not exist: give the key (--key, or [signing] key_file)"
            )
        repo.signer = SigningKey.load(host.key_file)
        with repo.locked():
            trust = repo.trust()
            if not trust.clean:
                raise MigrationWaits(
                    f"the state repo's layout needs migrating, and main has {trust.count} "
                    "commit(s) opsbot did not write on top: a migration commit would put them "
                    "in force. Have an admin !adopt or !discard them, then run opsbot migrate"
                )
            current = layout.version_of(repo.snapshot())
            while current < layout.CURRENT:
                changes, body = REPO_STEPS[current + 1](repo, report)
                message = Message(
                    summary=f"migrate: state repo layout {current} to {current + 1}",
                    body=body,
                    trailers=trailers_from([("Opsbot-Command", "opsbot migrate")]),
                )
                me = Identity("opsbot", host.bot_id)
                sha = repo.commit(changes, message, me, datetime.now(UTC), parent=repo.head())
                done.append(f"state repo: layout {current} -> {current + 1} (commit {sha[:7]})")
                current += 1
    finally:
        repo.close()
    return done


def _ancestors(repo: StateRepo, tip: str) -> set[str]:
    return {
        entry.commit.id.decode() for entry in repo.git.get_walker(include=[ObjectID(tip.encode())])
    }
