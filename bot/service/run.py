"""`opsbot run`: the bot as a long-running service on Matrix.

Wires the layers (config -> state -> engine -> transport, with the reconciler and the watcher
beside them), runs until SIGTERM or SIGINT, and exits with a status systemd can act on: 0 on a
requested stop, 1 when the bot cannot go on (a revoked token, a failed login, a repo it cannot
read), 2 for a config that does not validate.

Under systemd (`Type=notify`) it says where it is: STATUS= lines while it starts, READY=1 only
once it has checked the repo, logged in and synced, watchdog pings from the event loop, and
STOPPING=1 as soon as a stop is asked for. A stop never cuts a command in half: the command being
handled finishes (commit and reply), the others wait for the next start, and the transcript
lines still pending are committed before the process exits.
"""

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Callable, Sequence

from bot.config.host import Config
from bot.config.problems import ConfigError
from bot.core import sdnotify
from bot.core.effects import Notify
from bot.core.errors import OpsbotError
from bot.core.logs import fact
from bot.core.tasks import unless_stopped
from bot.engine.dispatch import Engine
from bot.engine.host import WorkerParts
from bot.engine.services import Services
from bot.features.catalog import (
    FEATURES,
    checks,
    index_tables,
    journals,
    kept_refs,
    policy_sections,
)
from bot.reconcile.reconciler import Reconciler
from bot.reconcile.recorder import OnOutcome
from bot.service import upgrade
from bot.service.assemble import open_engine, open_ledger, open_repo
from bot.service.beside import (
    DRAIN_SECONDS,
    first_failure,
    keep_status,
    learn_upload_limit,
    run_task,
    serving,
    wind_down,
)
from bot.service.mirror import Mirrors
from bot.service.watch import Watcher
from bot.state.outbox import Outbox
from bot.state.outcome import RunOutcome
from bot.state.repo import StateRepo
from bot.state.view import StateView
from bot.transport.http import HttpListener
from bot.transport.matrix import cross_signing
from bot.transport.matrix.deliverer import Deliverer
from bot.transport.matrix.journal import MatrixJournal
from bot.transport.matrix.people import People
from bot.transport.matrix.sending import Fatal
from bot.transport.matrix.session import LoginFailed, Session
from bot.transport.matrix.transport import MatrixTransport
from bot.transport.matrix.verification import Verifier
from bot.transport.ratelimit import RateLimit

log = logging.getLogger("opsbot.service")


def repo_problems(repo: StateRepo) -> list[str]:
    """Reads every record at HEAD, the policy first; raises if the repo cannot be read at all.
    HEAD, not the state in force: the problems `opsbot check` lists, pushed commits included."""
    return [
        problem.message
        for problem in StateView(repo.snapshot(), checks(), policy_sections()).problems()
    ]


def outcome_listener(ledger: Outbox, engines: Sequence[Engine]) -> OnOutcome:
    """What the reconciler's outcome of a deploy does, once its note is written: what each
    feature owes for it (the result, into the command's answer), and the index catching up
    with the note now, rather than the next command doing it first."""

    async def on_outcome(outcome: RunOutcome) -> None:
        for feature in FEATURES:
            for effect in feature.on_outcome(outcome) if feature.on_outcome else ():
                ledger.owe(f"outcome:{uuid.uuid4().hex}", effect)
        for engine in engines:
            engine.catch_up_later(0)

    return on_outcome


async def serve(
    config: Config, stop: asyncio.Event, on_ready: Callable[[], None] | None = None
) -> int:
    assert config.matrix is not None
    if not (config.paths.repo / "HEAD").exists():
        fact(
            log, "no state repo; create it with: opsbot init", logging.ERROR, repo=config.paths.repo
        )
        return 2
    async with contextlib.AsyncExitStack() as stack:
        return await _serve(config, stop, on_ready, stack)
    raise AssertionError("unreachable")  # pragma: no cover - for mypy: `async with` may swallow


async def _serve(
    config: Config,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None,
    stack: contextlib.AsyncExitStack,
) -> int:
    assert config.matrix is not None
    sdnotify.status("checking the state repo")
    refused = await _migrate(config)
    if refused is not None:
        return refused
    journal = MatrixJournal(config.paths.state_dir / "matrix" / "journal.sqlite")
    stack.callback(journal.close)
    try:
        repo = open_repo(
            config.paths,
            config.bot_id,
            key_file=config.signing_key,
            extra_signers=config.extra_signers,
        )
        problems = await asyncio.to_thread(repo_problems, repo)
    except Exception as e:  # whatever it is, the bot cannot serve a repo it cannot read
        fact(
            log,
            "cannot read the state repo",
            logging.ERROR,
            repo=config.paths.repo,
            error=f"{type(e).__name__}: {e}",
        )
        return 1
    for problem in problems:
        fact(log, "state repo problem", logging.WARNING, problem=problem)

    sdnotify.status("logging in")
    try:
        opened = await unless_stopped(Session(config.matrix, config.paths.state_dir).open(), stop)
    except LoginFailed as e:
        fact(log, "cannot log in", logging.ERROR, error=str(e))
        return 1
    if opened is None:
        fact(log, "stopped")
        return 0
    client = opened[0]
    stack.push_async_callback(client.close)
    # Before ready: a person's client that only trusts cross-signed devices must find the
    # bot's device signed by the time the bot answers.
    sdnotify.status("cross-signing")
    identified = await unless_stopped(
        cross_signing.identify(
            client,
            config.paths.state_dir,
            _password(config),
            config.matrix.cross_signing_key_file,
        ),
        stop,
    )
    if identified is None:
        fact(log, "stopped")
        return 0
    identity = identified[0]

    # The reconciler, the mirrors and the watcher are told of commits and report back through
    # the outbox; the engine is built with them, complete.
    ledger = open_ledger(config.paths)
    stack.callback(ledger.close)

    def announce_now(text: str) -> None:
        ledger.enqueue([(f"announce:{uuid.uuid4().hex}", Notify(text, announce=True))])

    async def announce(text: str) -> None:
        announce_now(text)

    engines: list[Engine] = []  # told of outcomes and identities; the engine is built below

    reconciler = Reconciler(
        repo,
        config.paths.state_dir,
        config.reconcile.hooks_dir,
        interval=config.reconcile.interval,
        timeout=config.reconcile.timeout,
        retries=config.reconcile.retries,
        on_outcome=outcome_listener(ledger, engines),
        announcing=ledger.being_announced,
        index_tables=index_tables(),
    )
    stack.callback(reconciler.close)
    ledger.on_progress = reconciler.progress
    mirrors = Mirrors(repo, config.mirrors, announce, refs=kept_refs())

    def committed(sha: str) -> None:
        reconciler.trigger(sha)
        mirrors.trigger()

    async def identity_seen(user_id: str, master: str | None) -> None:
        for engine in engines:
            await asyncio.to_thread(engine.identity_seen, user_id, master)

    people = People(client, config.matrix.share_keys_with, identity_seen)
    engine = open_engine(
        config.paths,
        repo=repo,
        devices=journal,
        identities=people,
        runtime=reconciler,
        config=config,
        on_commit=committed,
        ledger=ledger,
        identity=identity.describe(),
        index_in_background=True,
    )
    engines.append(engine)
    services = Services(engine, config)

    verifier = Verifier(client, config.paths.state_dir, identity.master, people)
    stack.callback(verifier.close)
    transport = MatrixTransport(
        client,
        engine,
        journal,
        rate_limit=RateLimit(config.matrix.commands_per_minute),
        observers=[o for feature in FEATURES for o in feature.observers],
        people=people,
        room_found=ledger.room_found,
        heard=ledger.heard,
        verifier=verifier,
    )
    deliverer = Deliverer(client, engine, ledger, people=people)
    listener_url: str | None = None
    if config.http is not None:
        listener = HttpListener(
            config,
            services,
            [r for f in FEATURES for r in f.routes],
            pages=[p for f in FEATURES for p in f.pages],
            readers=[r for f in FEATURES for r in f.readers],
        )
        try:
            await listener.start()
        except (ConfigError, OSError) as e:
            fact(log, "cannot start the HTTP listener", logging.ERROR, error=str(e))
            return 2 if isinstance(e, ConfigError) else 1
        stack.push_async_callback(listener.stop)
        listener_url = listener.url  # the port it bound (0 in the config: any)
    # The features' host side (the runbooks executor): takes the jobs their commands owe.
    parts = WorkerParts(repo, ledger, services, config, listener_url)
    watcher = Watcher(
        repo,
        config.paths.state_dir / "watched_head",
        announce,
        reconciler.trigger,
        problems=len(problems),
    )
    fact(
        log,
        "started",
        user=client.user_id,
        device=client.device_id,
        repo=config.paths.repo,
        identity=identity.describe(),
    )
    ready = asyncio.Event()

    def now_ready() -> None:
        fact(log, "ready", rooms=len(client.rooms))
        if on_ready:
            on_ready()
        sdnotify.notify("READY=1", f"STATUS={serving(len(client.rooms), len(problems))}")
        ready.set()

    halt = asyncio.Event()  # the transport's own stop, set once the command in flight is done
    sdnotify.status("syncing")
    winding = asyncio.ensure_future(wind_down(transport, stop, halt))
    delivering = asyncio.ensure_future(deliverer.run(ready, halt))
    tasks = [
        asyncio.ensure_future(reconciler.run(stop)),
        asyncio.ensure_future(watcher.run(stop)),
        asyncio.ensure_future(transport.observations.run(stop)),
        asyncio.ensure_future(keep_status(watcher, client, ready, stop)),
        asyncio.ensure_future(mirrors.run(stop)),
        asyncio.ensure_future(verifier.run(stop)),
        *(asyncio.ensure_future(w.run(parts, stop)) for f in FEATURES for w in f.workers),
        *(
            asyncio.ensure_future(run_task(t, services, ready, stop))
            for f in FEATURES
            for t in f.tasks
        ),
    ]
    tasks.append(asyncio.ensure_future(learn_upload_limit(client, services, ready, stop)))
    try:
        await first_failure(transport.run(halt, now_ready), delivering)
    except Fatal as e:
        fact(log, "stopping: cannot go on", logging.ERROR, error=str(e))
        sdnotify.notify("STOPPING=1", f"STATUS=stopping: cannot go on: {e}")
        return 1
    finally:
        winding.cancel()  # done already after a requested stop; not wanted after a fatal one
        stop.set()
        halt.set()
        await asyncio.gather(winding, *tasks, return_exceptions=True)
        if journal.pending():
            sdnotify.status("stopping: committing the incident transcripts")
        await transport.observations.flush()  # a clean stop leaves nothing only in the journal
        # What the last command owes goes out before the exit, if the homeserver takes it now.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DRAIN_SECONDS / 3):
                await deliverer.drain()
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        sdnotify.status("stopping: closing")
    fact(log, "stopped")
    return 0


def _password(config: Config) -> str | None:
    """The bot's password, for the homeserver's interactive auth; None with a token only."""
    assert config.matrix is not None
    if config.matrix.password_file is None:
        return None
    try:
        return config.matrix.password_file.read_text().strip()
    except OSError:
        return None  # the login read it a moment ago; cross-signing says what it misses


async def _migrate(config: Config) -> int | None:
    """Runs the migrations an upgrade brought, before anything else opens the state. An exit
    code when the bot must not start: 2 for what a restart would not mend (data of a newer
    release, another bot's state dir), 1 for a repo it cannot read."""
    host = upgrade.Host(
        config.paths,
        config.bot_id,
        config.signing_key,
        config.extra_signers,
        refs=kept_refs(),
        journals=journals(),
    )
    try:
        report = await asyncio.to_thread(upgrade.migrate, host, repo_may_wait=True)
    except OpsbotError as e:
        fact(log, "cannot start", logging.ERROR, error=e.message)
        return 2
    except Exception as e:  # an unreadable repo or state dir: as the checks below would say
        fact(
            log,
            "cannot read the state repo",
            logging.ERROR,
            repo=config.paths.repo,
            error=f"{type(e).__name__}: {e}",
        )
        return 1
    for line in report.done:
        fact(log, "migrated", step=line)
    for note in report.notes:
        fact(log, "migration", logging.WARNING, note=note)
    return None


def run(config: Config) -> int:
    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def asked(sig: signal.Signals) -> None:
            if not stop.is_set():
                fact(log, "stop requested", signal=sig.name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, asked, sig)
        interval = sdnotify.watchdog_interval()
        pings = asyncio.ensure_future(sdnotify.watchdog(interval)) if interval else None
        try:
            return await serve(config, stop)
        finally:
            if pings is not None:
                pings.cancel()
                await asyncio.gather(pings, return_exceptions=True)

    return asyncio.run(main())
