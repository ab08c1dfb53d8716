"""`!audit` in the chat and `opsbot audit` on the host."""

import base64
import json
from pathlib import Path

from bot.core.effects import Upload
from tests.helpers.audit import commit, deployment
from tests.helpers.bot import ALICE, MALLORY, Bot
from tests.helpers.cli import opsbot

AUDITOR_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.auditor]
members = ["{MALLORY}"]
commands = ["audit"]
"""


def test_audit_answers_with_a_summary_and_the_report_as_a_file(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0.0 to prod").ok
    reply = bot.say("!audit prod --since 2026-10-01")
    assert reply.ok, reply.text
    assert "1 change(s) to environments (prod 1), 0 with an exception" in reply.text
    [upload] = reply.effects
    assert isinstance(upload, Upload)
    assert (upload.mimetype, upload.in_reply_to) == ("text/html", reply.effects[0].in_reply_to)
    assert upload.name.startswith("audit-prod-20261001-") and upload.name.endswith(".html")
    assert b"<h1>Change audit</h1>" in base64.b64decode(upload.data)


def test_audit_in_csv_sends_a_csv(bot: Bot) -> None:
    reply = bot.say("!audit --since 2026-10-01 --until 2026-12-31 --format csv")
    [upload] = reply.effects
    assert isinstance(upload, Upload)
    assert upload.mimetype == "text/csv" and upload.name == "audit-20261001-20270101.csv"


def test_a_bad_since_is_refused_with_what_to_type(bot: Bot) -> None:
    reply = bot.say("!audit --since yesterday")
    assert not reply.ok and reply.error == "refused"
    assert "--since 'yesterday' is not a date" in reply.text
    assert "--since 2026-10-01" in reply.text


def test_an_until_before_the_since_is_refused(bot: Bot) -> None:
    reply = bot.say("!audit --since 2026-10-01 --until 2026-09-01")
    assert not reply.ok and "is not after --since" in reply.text


def test_an_unknown_format_is_refused_with_the_known_ones(bot: Bot) -> None:
    reply = bot.say("!audit --since 2026-10-01 --format pdf")
    assert not reply.ok and "md, csv, json, html" in reply.text


def test_only_admins_and_a_role_given_audit_may_run_it(bot: Bot) -> None:
    assert not bot.say("!audit", sender=MALLORY).ok
    bot.edit("policy.toml", AUDITOR_POLICY)
    assert bot.say("!audit", sender=MALLORY).ok


def test_opsbot_audit_writes_the_report_to_a_file(bot: Bot, tmp_path: Path) -> None:
    commit(bot, {"deployments/prod/web.toml": deployment("2.0.0")})
    out = tmp_path / "q4.json"
    run = opsbot(
        "audit", "--repo", str(bot.repo), "--state-dir", str(bot.paths.state_dir),
        "--since", "2026-10-01", "--format", "json", "--output", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "1 change(s) to environments (prod 1)" in run.stdout
    data = json.loads(out.read_text())
    assert [c["signature"] for c in data["changes"] if c["kind"] == "deploy"] == ["verified"]


def test_opsbot_audit_refuses_a_bad_date_with_what_to_type(bot: Bot) -> None:
    run = opsbot("audit", "--repo", str(bot.repo), "--since", "10/01/2026")
    assert run.returncode == 2
    assert "opsbot audit: --since '10/01/2026' is not a date" in run.stderr
    assert "--since 2026-10-01" in run.stderr


def test_an_unknown_environment_is_refused_with_the_known_ones(bot: Bot) -> None:
    reply = bot.say("!audit qa")
    assert not reply.ok
    assert "unknown environment 'qa'" in reply.text
    assert "known environments: dev, staging, prod" in reply.text


def test_opsbot_audit_refuses_an_unknown_environment_with_the_known_ones(bot: Bot) -> None:
    run = opsbot("audit", "--repo", str(bot.repo), "--since", "2026-10-01", "--env", "qa")
    assert run.returncode == 2
    assert "unknown environment 'qa'; known environments: dev, staging, prod" in run.stderr
