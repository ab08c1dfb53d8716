"""Patterns from the repo and the redaction of secrets: a pattern never takes more than linear
time nor holds up the event loop, and a secret printed encoded, or in two writes, never reaches
the room. Each test is an attack from the security review."""

import asyncio
import json
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.core.effects import Edit
from bot.core.errors import InvalidRecord, UsageError
from bot.engine.types import Invocation
from bot.features.runbooks.binding import bind
from bot.features.runbooks.declaration import decode
from bot.features.runbooks.redact import Redactor
from tests.helpers.bot import ALICE, ROOM, Bot
from tests.helpers.host import Host, ended
from tests.helpers.policies import RUNBOOK_POLICY

# A hostname pattern as people write it: the optional '-' makes "aaaa" splittable in 2^n ways,
# which a backtracking matcher tries one by one before it says no.
HOSTNAME = r"^([a-z0-9]+(-?[a-z0-9]+)*\.)+[a-z]{2,}$"
ADVERSARIAL = "a" * 28 + "!"
LOOKUP = f"""
summary = "look a host up"
program = "lookup"
args = ["{{host}}"]
[params.host]
type = "regex"
pattern = '{HOSTNAME}'
"""
SECRET = 's3cr3t/Tök"en+=(1) x9'


async def _longest_stall(work: Awaitable[object]) -> tuple[object, float]:
    """What `work` gives, and the longest the event loop went without a turn meanwhile."""
    stalls: list[float] = []

    async def tick() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            stalls.append(time.monotonic() - before)

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.05)
    try:
        result = await work
        await asyncio.sleep(0.05)
    finally:
        ticker.cancel()
    return result, max(stalls)


def test_a_nested_quantifier_pattern_answers_a_long_value_at_once() -> None:
    runbook = decode("lookup", LOOKUP)
    for length in (28, 56, 112, 200 - 1):  # time linear in the value: each is as quick
        value = "a" * length + "!"
        started = time.monotonic()
        with pytest.raises(UsageError) as caught:
            bind(runbook, f"host={value}", {}, {})
        assert time.monotonic() - started < 2.0
        shown = value if len(value) <= 40 else value[:37] + "..."
        assert caught.value.message == f"host {shown!r} must match {HOSTNAME}"
    bound = bind(runbook, "host=db-1.eu-west.example.com", {}, {})
    assert bound.values == {"host": "db-1.eu-west.example.com"}


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ("[params.word]\ntype = \"regex\"\npattern = '(a+)\\1'\n", "params.word.pattern"),
        ("[params.word]\ntype = \"regex\"\npattern = '(?=[a-z])\\w+'\n", "params.word.pattern"),
        ("redact = ['(?<!user=)password=\\S+']\n", "redact"),
    ],
)
def test_a_pattern_that_needs_backtracking_is_refused_naming_its_file_and_key(
    table: str, field: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode("lookup", 'summary = "look"\nprogram = "lookup"\n' + table)
    assert caught.value.path == "runbooks/lookup.toml"
    assert caught.value.field == field
    assert "linear time" in caught.value.problem
    assert "no backreferences (\\1) and no lookaround" in caught.value.problem


async def test_the_event_loop_keeps_turning_while_a_value_is_matched(
    bot: Bot, tmp_path: Path
) -> None:
    bot.edit("policy.toml", RUNBOOK_POLICY)
    host = Host(bot, tmp_path)
    host.runbook("lookup", LOOKUP)
    invocation = Invocation(
        sender=ALICE,
        sender_name="Alice",
        text=f"!run lookup {ADVERSARIAL}",
        event_id=f"${uuid.uuid4().hex}",
        received_at=bot.clock(),
        room_id=ROOM,
        room_name="#ops",
        transport="matrix",
        answer=True,
    )
    reply, stall = await _longest_stall(bot.engine.handle(invocation))
    assert stall < 1.0
    assert reply is not None and not reply.ok
    assert f"host {ADVERSARIAL!r} must match" in reply.text


async def test_the_event_loop_keeps_turning_while_a_run_s_output_is_redacted(
    bot: Bot, tmp_path: Path
) -> None:
    bot.edit("policy.toml", RUNBOOK_POLICY)
    host = Host(bot, tmp_path)
    host.program("repeat", f"printf '{'x' * 25}\\n'; sleep 0.5\n")
    host.runbook("repeat", 'summary = "x"\nprogram = "repeat"\nredact = ["(x+x+)+y"]\n')
    _, event = host.say("!run repeat")
    text, stall = await _longest_stall(host.until(event, ended))
    assert stall < 1.0
    assert isinstance(text, str) and " exit 0 in " in text
    assert text.endswith("\n" + "x" * 25 + "\n")


def _php_json(secret: str) -> str:
    """As PHP's json_encode writes it: '/' escaped as '\\/', non-ASCII as \\uXXXX."""
    return json.dumps(secret).replace("/", "\\/")


@pytest.mark.parametrize(
    "encode",
    [
        str.upper,
        str.lower,
        urllib.parse.quote,  # '/' left as it is
        lambda s: urllib.parse.quote(s, safe="~()*!.'"),  # JavaScript's encodeURIComponent
        lambda s: urllib.parse.quote_plus(s, safe="/").lower(),
        lambda s: json.dumps(s)[1:-1],
        lambda s: _php_json(s)[1:-1],
        lambda s: s.encode().hex(),
        lambda s: s.encode().hex().upper(),
    ],
    ids=[
        "upper",
        "lower",
        "quote",
        "encodeURIComponent",
        "quote_plus-lower",
        "json.dumps",
        "json-slash",
        "hex",
        "HEX",
    ],
)
def test_a_secret_is_redacted_in_every_form_a_program_prints_it(
    encode: Callable[[str], str],
) -> None:
    printed = encode(SECRET)
    assert printed != SECRET
    redact = Redactor([], [SECRET])
    assert redact.text(f'{{"token": "{printed}", "ok": true}}\n'.encode()) == (
        '{"token": "[redacted]", "ok": true}\n'
    )


async def test_a_secret_printed_in_two_writes_never_shows_its_first_half_in_a_live_edit(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-token-0123456789"
    path = tmp_path / "api-token"
    path.write_text(secret + "\n")
    bot.edit("policy.toml", RUNBOOK_POLICY)
    host = Host(bot, tmp_path, {"api_token": path}, grants={"slow": ["api_token"]})
    url = "".join(f"%{b:02X}" for b in secret.encode())
    # Each write ends in the middle of the secret, once as itself, once URL-encoded.
    host.program(
        "slow",
        f"printf '%s' 'token: {secret[:11]}'; sleep 1\n"
        f"printf '%s\\nurl: %s' '{secret[11:]}' '{url[:30]}'; sleep 1\n"
        f"printf '%s\\ndone\\n' '{url[30:]}'\n",
    )
    host.runbook(
        "slow",
        'summary = "slow"\nprogram = "slow"\n[env]\nAPI_TOKEN = { secret = "api_token" }\n',
    )
    published: list[str] = []
    edit = bot.engine.ledger.edit

    def recording(made: Edit, identity: str) -> None:
        published.append(made.text)
        edit(made, identity)

    monkeypatch.setattr(bot.engine.ledger, "edit", recording)
    _, event = host.say("!run slow")
    text = await host.until(event, ended)
    assert text.endswith("\ntoken: [redacted]\nurl: [redacted]\ndone\n")
    live = [shown for shown in published if ": running, " in shown]
    for shown in live:
        assert secret[:4] not in shown
        assert "%73%33%63" not in shown  # nor the start of the secret URL-encoded
    assert any(shown.endswith("\ntoken: ") for shown in live)  # the first write, held back
    assert any(shown.endswith("\ntoken: [redacted]\nurl: ") for shown in live)
