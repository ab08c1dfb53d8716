"""The operator's terminal draws only what opsbot means it to: text from outside (a verifying
client's cancel, a homeserver's answer, a pushed file's name, another process's command line)
reaches it, and the log, escaped. Each test is an attack from the security review, and looks at
the bytes a terminal would get."""

import ast
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bot.core.logs import JsonFormatter, LogfmtFormatter
from bot.core.text import BIDI_CONTROLS
from bot.transport.matrix.decisions import CANCELLED, FILE, DecisionJournal
from bot.transport.matrix.sas import Party, SasFlow
from tests.helpers.bot import Bot
from tests.helpers.config import live_config
from tests.helpers.paths import CHECKOUT
from tests.helpers.sas import EMOJI

BOT = CHECKOUT / "bot"
# Cursor up and erase the line, a new emoji line, the title, a carriage return, a C1 CSI (a
# terminal in 8-bit mode reads 0x9b as ESC [), and an RTL override.
PAINT = "\x1b[3A\x1b[2K   emoji: 🐶 Dog\x1b]0;owned\x07\r\x9b2J\u202e"
SHOWN = r"\x1b[3A\x1b[2K   emoji: 🐶 Dog\x1b]0;owned\x07\r\x9b2J\u202e"  # what the operator reads


def terminal_safe(out: bytes) -> None:
    """What a terminal would act on rather than show: none of it."""
    text = out.decode()
    assert b"\x1b" not in out
    assert not re.search("[\x80-\x9f]", text), "a C1 control"
    assert "\r" not in text
    assert not BIDI_CONTROLS & set(text)


def opsbot(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The real CLI, its output as the bytes a terminal would get."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        check=False,
        timeout=120,
        cwd=CHECKOUT,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    )


# `opsbot keys verifications`


@pytest.fixture
def keys_config(tmp_path: Path) -> Path:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:1"\nuser_id = "@opsbot:example.org"\n'
        f'password_file = "{tmp_path / "password"}"\n'
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\nrepo = "{tmp_path / "state.git"}"\n'
    )
    return path


def test_a_cancel_reason_cannot_paint_emojis_over_another_person_s_verification(
    keys_config: Path, tmp_path: Path
) -> None:
    journal = DecisionJournal(tmp_path / "state" / "matrix" / FILE)
    bob = journal.offer("$bob", "@bob:example.org", "BOBPHONE", "!dm", EMOJI, (1, 2, 3), None)
    eve = journal.offer("$eve", "@eve:example.org", "EVEPHONE", "!dm2", EMOJI, (4, 5, 6), None)
    # As an earlier release stored it: the reason as the person's client wrote it.
    journal.conn.execute(
        "UPDATE verifications SET state = ?, reason = ? WHERE id = ?",
        [CANCELLED, f"cancelled by @eve:example.org: {PAINT} (m.user)", eve],
    )

    out = opsbot("keys", "verifications", "--config", str(keys_config)).stdout

    terminal_safe(out)
    lines = out.decode().splitlines()
    assert [line for line in lines if line.startswith("   emoji:")] == [
        "   emoji: 🐶 Dog  🐱 Cat  🦁 Lion  🐎 Horse  🦄 Unicorn  🐷 Pig  🐘 Elephant"
    ]
    assert f"{bob}: @bob:example.org (device BOBPHONE), since " in out.decode()
    assert lines[-1] == (
        f"{eve}: @eve:example.org (device EVEPHONE): cancelled by @eve:example.org: "
        "\\x1b[3A\\x1b[2K   emoji: 🐶 Dog\\x1b]0;owned\\x07\\r\\x9b2J\\u202e (m.user)"
    )


def test_a_cancel_s_code_and_reason_are_kept_escaped_and_short() -> None:
    flow = SasFlow(
        "$req",
        "!dm",
        Party("@opsbot:example.org", "BOT"),
        "b" * 43,
        None,
        Party("@eve:example.org", "EVEPHONE"),
        0.0,
    )
    flow.on_cancel({"code": "m.user\x1b[2J" + "x" * 100, "reason": PAINT + "x" * 10_000})
    assert flow.cancel_code == "m.user\\x1b[2J" + "x" * 51
    assert flow.cancel_reason is not None and flow.cancel_reason.startswith(SHOWN)
    assert len(flow.cancel_reason) == 200


def test_the_journal_stores_a_cancel_reason_escaped(tmp_path: Path) -> None:
    journal = DecisionJournal(tmp_path / FILE)
    number = journal.offer("$eve", "@eve:example.org", "EVEPHONE", "!dm", EMOJI, (4, 5, 6), None)
    journal.finish(number, CANCELLED, f"cancelled by @eve:example.org: {PAINT} (m.user)")
    row = journal.get(number)
    assert row is not None and row.reason == (f"cancelled by @eve:example.org: {SHOWN} (m.user)")


# `opsbot check`


def test_check_shows_a_pushed_file_s_name_escaped(bot: Bot) -> None:
    bot.push({f"apps/web{PAINT}.toml": "description = 1\n"}, "add web")

    done = opsbot("check", "--repo", str(bot.repo))

    terminal_safe(done.stdout)
    problems = done.stdout.decode().splitlines()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{bot.repo}: apps/web\\x1b[3A\\x1b[2K   emoji: 🐶 Dog")


class _Whoami(BaseHTTPRequestHandler):
    """A homeserver that answers whoami with a user id painting a line of its own."""

    def do_GET(self) -> None:
        user = f"@opsbot:localhost{PAINT}\nok keys: nothing to see"
        body = json.dumps({"user_id": user, "device_id": "DEV\x1b[2J"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lying_homeserver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Whoami)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_check_live_shows_the_homeserver_s_answer_escaped_on_one_line(
    bot: Bot, tmp_path: Path, lying_homeserver: str
) -> None:
    path = live_config(bot, tmp_path, homeserver=lying_homeserver)
    saved = bot.paths.state_dir / "matrix" / "credentials.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(
        json.dumps({"user_id": "@opsbot:localhost", "device_id": "DEV", "access_token": "token"})
    )
    saved.chmod(0o600)

    out = opsbot("check", "--config", str(path), "--live").stdout

    terminal_safe(out)
    lines = out.decode().splitlines()
    assert [line for line in lines if line.startswith("ok keys")] == [
        "ok keys: the signing key and secret files are readable by their owner alone"
    ]
    login = [line for line in lines if " login:" in line]
    assert login == [
        "fail login: the token is @opsbot:localhost\\x1b[3A\\x1b[2K   emoji: 🐶 Dog\\x1b]0;owned"
        "\\x07\\r\\x9b2J\\u202e\\nok keys: nothing to see's, not @opsbot:localhost's - check "
        "[matrix] user_id and the state directory"
    ]


# `opsbot check --live`: who holds the port

LISTEN = """
import os, socket, sys, time
keep = [open(f) for f in os.environ.get("HOLD", "").split(":") if f]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
"""
Listen = Callable[[list[str], list[Path]], int]


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Listen]:
    """Starts a process listening on a port: `start(its arguments, files it holds open)`
    returns the port."""
    script = tmp_path / "listen.py"
    script.write_text(LISTEN)
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], hold: list[Path]) -> int:
        process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOLD": ":".join(str(p) for p in hold)},
        )
        started.append(process)
        assert process.stdout is not None
        return int(process.stdout.readline())

    yield start
    for process in started:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def listener_line(bot: Bot, tmp_path: Path, port: int) -> bytes:
    path = live_config(bot, tmp_path, f'[http]\nlisten = "127.0.0.1:{port}"\n')
    out = opsbot("check", "--config", str(path), "--live").stdout
    terminal_safe(out)
    return next(line for line in out.splitlines() if b" listener:" in line)


def test_a_program_that_calls_itself_opsbot_run_is_not_taken_for_the_bot(
    bot: Bot, tmp_path: Path, listening: Listen
) -> None:
    port = listening(["opsbot", "run", "--config", "opsbot.toml", PAINT], [])

    line = listener_line(bot, tmp_path, port).decode()

    assert line.startswith(f"fail listener: 127.0.0.1:{port} is in use by another program (pid ")
    assert "opsbot run --config" in line and "\\x1b[3A\\x1b[2K" in line
    assert line.endswith("- stop it, or change [http] listen")


def test_the_process_holding_the_bot_s_state_directory_open_is_the_bot(
    bot: Bot, tmp_path: Path, listening: Listen
) -> None:
    port = listening([], [bot.paths.state_dir / "allowed_signers"])

    line = listener_line(bot, tmp_path, port).decode()

    assert line.startswith(f"ok listener: 127.0.0.1:{port} is held by opsbot itself (pid ")


# the log


def record(**fields: object) -> logging.LogRecord:
    """What `fact` hands the formatter."""
    logger = logging.getLogger("opsbot.verification")
    extra = {"fields": fields}
    return logger.makeRecord(
        logger.name, logging.INFO, "f", 1, "verification requested", (), None, extra=extra
    )


def test_a_logged_field_cannot_carry_a_terminal_escape() -> None:
    line = LogfmtFormatter().format(record(device="EVE\x1b[1A\x1b[2K\u202e"))
    assert line == 'level=info msg="verification requested" device=EVE\\x1b[1A\\x1b[2K\\u202e'


def test_a_logged_json_field_decodes_to_no_control_character() -> None:
    line = JsonFormatter().format(record(reason=f"no{PAINT}\nlevel=info", count=3))
    data = json.loads(line)
    assert data["reason"] == "no" + SHOWN + "\\nlevel=info"
    assert data["count"] == 3


def test_an_exception_s_message_cannot_forge_a_log_line() -> None:
    try:
        raise ValueError(f"bad event\nlevel=info msg=verified user=@eve:example.org{PAINT}")
    except ValueError:
        logger = logging.getLogger("opsbot.test-terminal")
        made = logger.makeRecord(logger.name, logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    lines = LogfmtFormatter().format(made).splitlines()
    assert lines[0] == "level=error msg=failed"
    assert all(line.startswith("  ") for line in lines[1:])
    assert "\x1b" not in "".join(lines)


# the class: one way to the terminal


def writes_to_a_terminal(path: Path) -> list[str]:
    """Each print() and each write to sys.stdout or sys.stderr in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            found.append(f"{path.name}:{node.lineno} print()")
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "write"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr in ("stdout", "stderr")
        ):
            found.append(f"{path.name}:{node.lineno} {func.value.attr}.write()")
    return found


def test_opsbot_writes_to_a_terminal_only_through_the_sanitiser() -> None:
    paths = [p for p in sorted(BOT.rglob("*.py")) if p != BOT / "text.py"]
    assert [w for p in paths for w in writes_to_a_terminal(p)] == []


def test_the_terminal_check_sees_a_print(tmp_path: Path) -> None:
    """A test that cannot fail is a defect: this one fails on a bare print."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nprint(x)\nsys.stderr.write(y)\n")
    assert writes_to_a_terminal(bad) == ["bad.py:2 print()", "bad.py:3 stderr.write()"]
