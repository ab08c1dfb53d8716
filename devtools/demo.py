"""The local demo: a throwaway homeserver, the bot, and a prompt that talks to it over E2EE.

    python -m devtools.demo          (what `scripts/demo` runs)

It starts Synapse on 127.0.0.1, registers the bot and a demo user, creates a state repo and an
encrypted room, starts `opsbot run` as its own process, and then sends each line typed at the
prompt into the room as the demo user, printing the bot's decrypted replies as they arrive.
With standard input not a terminal, it sends the lines one by one, waiting for each reply, and
exits: that makes it scriptable, and testable. Ctrl-C, once, stops everything it started and
returns to the shell.
"""

import asyncio
import contextlib
import logging
import secrets
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any, TextIO

try:
    import readline  # line editing at the prompt, and the line typed so far, to redraw it
except ImportError:  # pragma: no cover - Python built without it
    readline = None  # type: ignore[assignment]

from bot.config import HostPaths
from bot.service.assemble import init_repo
from devtools.devclient import Person
from devtools.devserver import Homeserver

PASSWORD_BYTES = 9
PROMPT = "> "

# The demo's host: deploying is pretending, but through the real reconciler and real hooks,
# so the replies show what a team would see ("deploying…", then "applied in 1.0s").
DEMO_HOOK = """#!/bin/sh
# A demo deploy hook: opsbot runs it as <hook> -- <app> <version> <env>, with no shell.
[ "$1" = -- ] && shift
echo "deploying $1 $2 to $3"
sleep 1
echo "$1 $2 is running in $3"
"""
HEALTH_HOOK = """#!/bin/sh
exit 0
"""


def _hooks(root: Path) -> Path:
    hooks = root / "hooks.d"
    hooks.mkdir()
    for name, script in (
        ("deploy-web", DEMO_HOOK),
        ("deploy-container", DEMO_HOOK),
        ("health-http", HEALTH_HOOK),
    ):
        (hooks / name).write_text(script)
        (hooks / name).chmod(0o755)
    return hooks


def _start_bot(
    root: Path, homeserver: Homeserver, user_id: str, password: str
) -> subprocess.Popen[bytes]:
    (root / "bot-password").write_text(password)
    paths = HostPaths(root / "state.git", root / "state")
    config = root / "opsbot.toml"
    config.write_text(
        f'[matrix]\nhomeserver = "{homeserver.base_url}"\nuser_id = "{user_id}"\n'
        f'password_file = "{root / "bot-password"}"\n'
        f'[paths]\nstate_dir = "{paths.state_dir}"\nrepo = "{paths.repo}"\n'
        f'hooks_dir = "{_hooks(root)}"\n'
    )
    log = (root / "opsbot.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
        stdout=log,
        stderr=log,
        process_group=0,
    )
    deadline = time.monotonic() + 60
    while b"msg=ready" not in (root / "opsbot.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not start; see {root / 'opsbot.log'}")
        time.sleep(0.1)
    return process


class Prompt:
    """The demo's terminal: lines typed at the prompt, and the bot's messages printed above the
    line being typed, which is drawn again under them. So a message that arrives while you type
    (the edit saying a deploy was applied) does not land in the middle of your line.

    Lines are read by a thread of its own, not by the event loop's executor: asyncio.run waits
    for its executor on the way out, and a thread blocked in a read would keep the demo alive
    until Enter. This one is a daemon: on Ctrl-C it is simply left behind."""

    def __init__(self, interactive: bool, stdin: TextIO = sys.stdin) -> None:
        self.interactive = interactive
        self.stdin = stdin
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reading = threading.Event()  # the prompt is on screen, waiting for a line

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(loop,), name="prompt", daemon=True).start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            line: str | None
            if self.interactive:
                self._reading.set()
                try:
                    line = input(PROMPT)
                except EOFError:  # Ctrl-D
                    line = None
                finally:
                    self._reading.clear()
            else:
                line = self.stdin.readline() or None
            loop.call_soon_threadsafe(self.lines.put_nowait, line)
            if line is None:
                return

    def show(self, text: str) -> None:
        if not (self.interactive and self._reading.is_set()):
            print(text, flush=True)
            return
        typed = readline.get_line_buffer() if readline is not None else ""
        # Back to the start of the prompt's line, clear it, print, and draw the prompt again.
        sys.stdout.write(f"\r\033[K{text}\n{PROMPT}{typed}")
        sys.stdout.flush()


async def _talk(alice: Person, room: str, bot: str, prompt: Prompt) -> None:
    printed: set[str] = set()

    def show_new() -> None:
        for room_id, source in alice.events:
            if room_id != room or source.get("sender") != bot or source["event_id"] in printed:
                continue
            printed.add(source["event_id"])
            if source.get("type") == "m.room.message":
                prompt.show(f"opsbot: {source['content'].get('body', '')}")
            elif source.get("type") == "m.room.encrypted":
                prompt.show("opsbot: (a message this client could not decrypt)")

    async def keep_showing() -> None:
        # Replies are edited later ("deploying…" becomes the result): print those as they come.
        while True:
            await asyncio.sleep(0.5)
            show_new()

    alice.start()
    printer = asyncio.ensure_future(keep_showing())
    prompt.start()
    try:
        while (line := await prompt.lines.get()) is not None:
            line = line.strip()
            if not line:
                continue
            event = await alice.send(room, line)
            if not prompt.interactive or line.startswith("!"):
                with contextlib.suppress(TimeoutError):
                    await alice.reply_to(event, timeout=30)
            show_new()
        if not prompt.interactive:
            await asyncio.sleep(3)  # long enough for a demo deploy's result to arrive
            show_new()
    finally:
        printer.cancel()


async def _main(root: Path) -> int:
    interactive = sys.stdin.isatty()
    # A stop from the service manager or a closed terminal ends the demo as Ctrl-C does (asyncio
    # cancels the main task on SIGINT): the bot and the homeserver stopped below, the directory
    # holding the passwords removed by the caller.
    main_task, loop = asyncio.current_task(), asyncio.get_running_loop()
    assert main_task is not None
    for asked in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(asked, main_task.cancel)
    print("starting a throwaway Synapse on 127.0.0.1 ...", flush=True)
    homeserver = Homeserver(root / "homeserver")
    homeserver.start()
    bot_process = None
    alice = None
    try:
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        alice_id = homeserver.register("alice", password, displayname="Alice")
        bot_password = secrets.token_urlsafe(PASSWORD_BYTES)
        bot_id = homeserver.register("opsbot", bot_password, displayname="opsbot")
        init_repo(HostPaths(root / "state.git", root / "state"), admins=[alice_id], bot_id=bot_id)
        print("starting opsbot ...", flush=True)
        bot_process = _start_bot(root, homeserver, bot_id, bot_password)
        alice = Person(homeserver.base_url, alice_id, password, root / "alice")
        await alice.login()
        await alice.cross_sign()  # as Element does: the bot shares keys with signed devices
        room = await alice.create_room(invite=[bot_id], name="ops")
        await alice.until_joined(room, bot_id)
        print(
            f"""
An encrypted room "ops" is ready, with {bot_id} in it. You are {alice_id}, an admin.
Each line you type is sent into the room over E2EE; the bot's replies are printed here.
Try:  !help    !deploy web 1.4.2 to staging --reason "new login page"    !status

To use a Matrix client (such as Element) instead: homeserver {homeserver.base_url},
user alice, password {password}. The state repo: git -C {root / "state.git"} log
Ctrl-C (or Ctrl-D) stops everything.
""",
            flush=True,
        )
        await _talk(alice, room, bot_id, Prompt(interactive))
        return 0
    finally:
        # Whatever brought us here (the end of input, Ctrl-C, an error), everything is stopped,
        # and a Ctrl-C pressed again meanwhile cannot cut that short and leave Synapse running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if bot_process is not None:
            bot_process.send_signal(signal.SIGTERM)  # it stops while the rest is closed
        if alice is not None:
            await alice.close()
        if bot_process is not None:
            bot_process.wait(timeout=30)
        homeserver.stop()


def main() -> int:
    terminal = _terminal_settings()
    with tempfile.TemporaryDirectory(prefix="opsbot-demo-") as tmp:
        try:
            return asyncio.run(_main(Path(tmp)))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("\nstopped.", flush=True)
            return 0
        finally:
            _restore_terminal(terminal)


def _terminal_settings() -> list[Any] | None:
    """The terminal's modes, if standard input is one: the prompt's thread may be stopped in
    the middle of a read that changed them (line editing turns echo off)."""
    try:
        return termios.tcgetattr(sys.stdin.fileno())
    except (OSError, ValueError, termios.error):
        return None


def _restore_terminal(settings: list[Any] | None) -> None:
    if settings is not None:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, settings)


if __name__ == "__main__":
    # nio narrates key sharing on the demo user's side; the prompt is for the conversation.
    logging.getLogger("nio").setLevel(logging.ERROR)
    sys.exit(main())
