"""How long a person waits for opsbot's answer, against a plain matrix-nio echo bot.

    python -m bench.latency [--commands 200] [--warmup 10] [--pause 0.05] [--keep]

(from the top of the checkout, which holds `devtools/`, the development-only code the wheel
leaves out). One run starts a throwaway Synapse on 127.0.0.1 (devtools/devserver.py) in a
temporary directory and, on it, two bots as separate processes, each with its own E2EE device:

- opsbot, exactly as `opsbot run` runs in production (`python -m bot.cli run --config ...`, on a
  state repo made by `init_repo`), sent `!deploy web 1.0.<i> to dev`: each is a signed commit;
- bench/echo_bot.py, an ordinary nio bot with the same sync loop shape, which answers every
  message with an `m.notice` replying to it: the floor set by Synapse, nio and Megolm.

A person (devtools/devclient.py, its own E2EE device, syncing in the background) measures each
message from just before `room_send` until its client holds the decrypted reply. Goals:
opsbot's p50 within 1.08x the echo bot's, its p99 within 1.15x.

Everything lives in a temporary directory, removed at the end (--keep keeps it).
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bot.config import HostPaths
from bot.service.assemble import init_repo
from devtools.devclient import Person
from devtools.devserver import Homeserver

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
P50_GOAL = 1.08  # opsbot p50 / echo p50
P99_GOAL = 1.15  # opsbot p99 / echo p99
REPLY_TIMEOUT = 30.0  # s; a reply later than this is a failure, not a sample
READY_TIMEOUT = 60.0  # s, for a bot to log in and finish its first sync


class Child:
    """A process the bench starts, writing its output to a log file.

    Each runs in its own process group, like the homeserver: a Ctrl-C in the terminal reaches
    the bench only, which then stops its children itself (finally), bots before the server.
    """

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=PROJECT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )

    def wait_until(self, ready: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not get ready:\n{self.tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 30 s; safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def tail(self, count: int = 30) -> str:
        return "\n".join(self.lines()[-count:])


class Opsbot(Child):
    """The real bot, set up as the Matrix tests' BotProcess (tests/helpers/matrix.py) does it."""

    def __init__(
        self, homeserver: Homeserver, root: Path, admin: str = "", admins: list[str] | None = None
    ) -> None:
        root.mkdir(parents=True)
        password = secrets.token_urlsafe(12)
        self.user_id = homeserver.register("opsbot", password)
        (root / "password").write_text(password)
        paths = HostPaths(root / "state.git", root / "state")
        init_repo(paths, admins=admins or [admin], bot_id=self.user_id).close()
        # The reconciler does its real work after each deploy (hook run, git note, reply edit),
        # with hooks that apply instantly: the bench measures the bot, not a deploy.
        hooks = root / "hooks.d"
        hooks.mkdir()
        for name in ("deploy-web", "deploy-container", "health-http"):
            (hooks / name).write_text("#!/bin/sh\nexit 0\n")
            (hooks / name).chmod(0o755)
        config = root / "opsbot.toml"
        quoted = json.dumps  # a JSON string is a TOML basic string
        config.write_text(
            "[matrix]\n"
            f"homeserver = {quoted(homeserver.base_url)}\n"
            f"user_id = {quoted(self.user_id)}\n"
            f"password_file = {quoted(str(root / 'password'))}\n"
            # The default (30 a minute, bursts of 15) would refuse most of a benchmark's
            # back-to-back commands, and a refusal is answered without touching Git.
            "commands_per_minute = 1000000\n"
            "[paths]\n"
            f"state_dir = {quoted(str(paths.state_dir))}\n"
            f"repo = {quoted(str(paths.repo))}\n"
            f"hooks_dir = {quoted(str(hooks))}\n"
        )
        argv = [sys.executable, "-m", "bot.cli", "--log-format", "json", "run"]
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
        super().__init__("opsbot", [*argv, "--config", str(config)], root / "bot.log", env)

    def facts(self, msg: str) -> list[dict[str, Any]]:
        found = []
        for line in self.lines():
            with contextlib.suppress(ValueError):  # tracebacks, third-party noise
                fact = json.loads(line)
                if isinstance(fact, dict) and fact.get("msg") == msg:
                    found.append(fact)
        return found

    def ready(self) -> bool:
        return bool(self.facts("ready"))


class EchoBot(Child):
    def __init__(self, homeserver: Homeserver, root: Path) -> None:
        root.mkdir(parents=True)
        password = secrets.token_urlsafe(12)
        self.user_id = homeserver.register("echo", password)
        (root / "password").write_text(password)
        argv = [
            sys.executable,
            str(HERE / "echo_bot.py"),
            "--homeserver",
            homeserver.base_url,
            "--user-id",
            self.user_id,
            "--password-file",
            str(root / "password"),
            "--store",
            str(root / "store"),
        ]
        super().__init__("echo bot", argv, root / "echo.log")

    def ready(self) -> bool:
        return "ready" in self.lines()


# measuring


@dataclass
class Series:
    """The samples of one bot, in ms, warm-up excluded."""

    name: str
    room: str
    total: list[float] = field(default_factory=list)  # t0 (before room_send) to reply in hand
    send: list[float] = field(default_factory=list)  # the room_send round trip alone
    turnaround: list[float] = field(default_factory=list)  # reply ts - command ts, at the server


async def one(
    person: Person, series: Series, text: str, check: Callable[[dict[str, Any]], None]
) -> tuple[float, float, float]:
    """Sends `text` and waits for the reply; (total, send, server turnaround) in ms."""
    t0 = time.perf_counter()
    event_id = await person.send(series.room, text)
    sent = time.perf_counter()
    # Person.until wakes on every completed sync of the background loop. That loop long-polls
    # (timeout 1000 ms), and Synapse answers a long-poll the moment an event for the person
    # arrives, so the reply is seen one sync round trip after the homeserver has it; the
    # 1000 ms only bounds an idle poll, nothing here sleeps for a fixed time.
    content = await person.reply_to(event_id, timeout=REPLY_TIMEOUT)
    t1 = time.perf_counter()
    check(content)
    # The person's own message comes down its sync before the reply does (timeline order).
    sent_ts = [s["origin_server_ts"] for _, s in person.events if s.get("event_id") == event_id]
    turnaround = person.replies_to(event_id)[0]["origin_server_ts"] - sent_ts[0]
    return (t1 - t0) * 1000, (sent - t0) * 1000, float(turnaround)


def deploy_ok(content: dict[str, Any]) -> None:
    if not content.get("opsbot", {}).get("ok"):
        raise RuntimeError(f"opsbot did not deploy, so this is not the path measured: {content}")


def echo_ok(content: dict[str, Any]) -> None:
    if content.get("msgtype") != "m.notice":
        raise RuntimeError(f"unexpected echo reply: {content}")


async def measure(
    opsbot: Opsbot, echo: EchoBot, person: Person, args: argparse.Namespace
) -> tuple[Series, Series]:
    await person.login()
    await person.cross_sign()  # as Element does: the bot shares keys with signed devices
    person.start()
    ops = Series("opsbot", await person.create_room([opsbot.user_id], name="ops"))
    base = Series("echo bot", await person.create_room([echo.user_id], name="echo"))
    await person.until_joined(ops.room, opsbot.user_id)
    await person.until_joined(base.room, echo.user_id)

    # The two are interleaved, one message at a time: one person, one Synapse, one time window,
    # two rooms (so neither bot sees the other's traffic). Whatever drifts during the run (the
    # homeserver's database growing, CPU clocks, the page cache, the Megolm session rotation
    # every 100 messages on both sides) then weighs on both alike. The order within a round
    # alternates so that neither always follows the other. Never are two messages in flight,
    # and a short pause after each reply lets the bot that just answered finish its trailing
    # work (opsbot journals the sync position after replying) before the next message is timed,
    # so neither bot's leftovers land in the other's sample.
    checks = {"opsbot": deploy_ok, "echo bot": echo_ok}
    for i in range(args.warmup + args.commands):
        order = (ops, base) if i % 2 == 0 else (base, ops)
        for series in order:
            text = f"!deploy web 1.0.{i} to dev" if series is ops else f"echo {i}"
            total, send, turnaround = await one(person, series, text, checks[series.name])
            if i >= args.warmup:
                series.total.append(total)
                series.send.append(send)
                series.turnaround.append(turnaround)
            await asyncio.sleep(args.pause)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{args.warmup + args.commands} rounds", flush=True)
    return ops, base


# report


def stats(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "mean": statistics.fmean(values),
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": max(values),
    }


def machine() -> str:
    versions = "  ".join(
        f"{name} {version(name)}" for name in ("matrix-nio", "vodozemac", "matrix-synapse")
    )
    return (
        f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {versions}\n"
        f"platform: {platform.platform()}"
    )


def report(ops: Series, base: Series, args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.commands} messages per bot after {args.warmup} warm-up each, interleaved, "
        f"{args.pause * 1000:.0f} ms pause after each reply"
    )
    print(f"\n{'ms':<44}{'mean':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    rows = [
        ("opsbot: send to decrypted reply", ops.total),
        ("echo bot: send to decrypted reply", base.total),
        ("  opsbot: room_send round trip", ops.send),
        ("  echo bot: room_send round trip", base.send),
        ("  opsbot: turnaround at the server [1]", ops.turnaround),
        ("  echo bot: turnaround at the server [1]", base.turnaround),
    ]
    for name, values in rows:
        row = stats(values)
        print(
            f"{name:<44}" + "".join(f"{row[k]:8.1f}" for k in ("mean", "p50", "p95", "p99", "max"))
        )
    print("[1] origin_server_ts of the reply minus that of the message (1 ms resolution): the")
    print("    bot's sync wake-up, decryption, work and encrypted send, as Synapse saw them")

    o, e = stats(ops.total), stats(base.total)
    print()
    for name, goal in (("p50", P50_GOAL), ("p99", P99_GOAL)):
        ratio = o[name] / e[name]
        verdict = "PASS" if ratio <= goal else "MISS"
        print(f"opsbot / echo {name} = {ratio:5.3f}x   goal <= {goal:.2f}x   {verdict}")


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--commands", type=int, default=200, help="measured messages per bot")
    parser.add_argument("--warmup", type=int, default=10, help="messages per bot not measured")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds after each reply")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--dir", type=Path, help="where to make the temporary directory")
    args = parser.parse_args()
    if args.commands < 2 or args.warmup < 0 or args.pause < 0:
        parser.error("--commands must be at least 2, --warmup and --pause not negative")

    # nio warns while the person's first message sets up its Olm sessions: expected, not news.
    logging.getLogger("nio").setLevel(logging.ERROR)
    print(machine())
    root = Path(tempfile.mkdtemp(prefix="opsbot-latency-", dir=args.dir))
    homeserver = Homeserver(root / "synapse")
    bots: list[Child] = []
    try:
        homeserver.start()
        person_password = secrets.token_urlsafe(12)
        person_id = homeserver.register("alice", person_password, displayname="Alice")
        opsbot = Opsbot(homeserver, root / "opsbot", admin=person_id)
        echo = EchoBot(homeserver, root / "echo")
        bots += [opsbot, echo]
        for bot in bots:
            bot.start()
        opsbot.wait_until(opsbot.ready)
        echo.wait_until(echo.ready)
        print(f"synapse on {homeserver.base_url}, both bots ready; measuring", flush=True)

        async def session() -> tuple[Series, Series]:
            person = Person(homeserver.base_url, person_id, person_password, root / "alice")
            try:
                return await measure(opsbot, echo, person, args)
            finally:
                await person.close()

        ops, base = asyncio.run(session())
        answered = len(opsbot.facts("answered"))
        print(
            f"opsbot logged {answered} answered commands (expected {args.warmup + args.commands})"
        )
        report(ops, base, args)
    finally:
        for bot in bots:
            bot.stop()
        homeserver.stop()
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started has been stopped by then (finally)
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
