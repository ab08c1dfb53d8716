"""The README's first command: the demo works from nothing but this repository, and behaves
at a terminal as a person expects."""

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from devtools.demo import PROMPT
from tests.helpers.paths import CHECKOUT


def demo_env() -> dict[str, str]:
    """The environment `scripts/demo` gives the demo: the checkout on the path, for devtools/."""
    path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "PYTHONPATH": path}


def test_the_demo_answers_commands_over_e2ee_and_cleans_up() -> None:
    script = (
        '!deploy web 1.4.2 to staging --reason "new login page"\n'
        "!freeze prod for 2h\n"
        "!deploy web 1.4.2 to prod\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devtools.demo"],
        input=script,
        capture_output=True,
        text=True,
        timeout=180,
        env=demo_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("opsbot: ")]
    assert any(r.startswith("opsbot: deploy: web 1.4.2 to staging · commit ") for r in replies)
    assert any(r.startswith("opsbot: freeze: prod until ") for r in replies)
    assert any(r.startswith("opsbot: refused: prod is frozen until ") for r in replies)
    assert "homeserver http://127.0.0.1:" in result.stdout
    assert "Traceback" not in result.stderr


class Terminal:
    """The demo on a pseudo-terminal, as a person at a prompt runs it."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.demo"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=demo_env(),
            close_fds=True,
            start_new_session=True,  # its own group: what it starts can be stopped with it
        )
        os.close(slave)
        self.screen = b""

    def until(self, text: str, timeout: float = 120) -> str:
        """The output so far, once `text` is in it."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.screen:
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.screen.decode()}"
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                with contextlib.suppress(OSError):  # EIO: the demo has exited
                    self.screen += os.read(self.master, 65536)
        return self.screen.decode()

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self) -> None:
        """Stops the demo as a person would (Ctrl-C), then whatever it left of its group: a
        test that ends early must not leave a homeserver and a bot running."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    at = Terminal()
    yield at
    at.close()


def test_ctrl_c_once_stops_everything_and_returns_at_once(terminal: Terminal) -> None:
    screen = terminal.until("Ctrl-C (or Ctrl-D) stops everything.")
    homeserver = re.search(r"homeserver (http://127\.0\.0\.1:\d+)", screen)
    assert homeserver
    terminal.until(PROMPT)
    started = time.monotonic()
    terminal.process.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
    assert terminal.process.wait(timeout=20) == 0
    assert time.monotonic() - started < 15
    screen = terminal.until("stopped.")
    assert "Traceback" not in screen
    with pytest.raises(OSError):  # the throwaway Synapse is gone with it
        urllib.request.urlopen(homeserver.group(1), timeout=5)


def test_a_reply_edited_later_is_printed_above_the_prompt(terminal: Terminal) -> None:
    terminal.until("Ctrl-C (or Ctrl-D) stops everything.")
    terminal.type("!deploy web 1.4.2 to staging")
    screen = terminal.until(" · applied in ")
    terminal.until(PROMPT, timeout=5)
    edit = next(line for line in screen.split("\n") if " · applied in " in line)
    # The prompt's line is cleared first ("\r", then erase the line), so the edit is what shows
    # on that line, from its start...
    before, cleared, shown = edit.rpartition("\r\x1b[K")
    assert cleared and before in ("", PROMPT)
    assert shown.startswith("opsbot: * deploy: web 1.4.2 to staging · commit ")
    # ...and the prompt is drawn again under it, ready for the next line.
    assert terminal.screen.decode().endswith("\n" + PROMPT)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_or_a_closed_terminal_stops_everything_as_ctrl_c_does(
    terminal: Terminal, stop: signal.Signals
) -> None:
    screen = terminal.until("Ctrl-C (or Ctrl-D) stops everything.")
    homeserver = re.search(r"homeserver (http://127\.0\.0\.1:\d+)", screen)
    assert homeserver
    terminal.until(PROMPT)
    terminal.process.send_signal(stop)
    assert terminal.process.wait(timeout=30) == 0
    assert "Traceback" not in terminal.until("stopped.")
    with pytest.raises(OSError):  # the throwaway Synapse is gone with it
        urllib.request.urlopen(homeserver.group(1), timeout=5)
    time.sleep(1)
    with pytest.raises(ProcessLookupError):  # and nothing else it started is left running
        os.killpg(terminal.process.pid, 0)
