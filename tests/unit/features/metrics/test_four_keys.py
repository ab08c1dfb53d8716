"""The four keys from Git and the notes alone, on histories whose answers are worked out by hand
in each test (times in minutes after the first command, 2026-11-26 12:00 UTC)."""

import base64
import json
from dataclasses import asdict
from datetime import timedelta

import pytest

from bot.cli import main
from bot.core.effects import Upload
from bot.engine.services import Services
from bot.features.catalog import index_tables
from bot.features.incidents.alert_rules import Alert
from bot.features.incidents.internal import AlertGroup
from bot.features.metrics.facts import Scope
from bot.state.index import Index
from tests.helpers.bot import Bot
from tests.helpers.metrics import START, M, deploy, outcome, report


def test_no_deploys_is_not_enough_data_not_a_number(bot: Bot) -> None:
    r = report(bot)
    assert (r.deploys, r.changes, r.failed) == (0, 0, 0)
    assert r.bucket == "not enough data" and r.frequency_level is None
    assert r.failure_rate is None and r.lead_time.n == 0 and r.lead_time.median is None
    table = bot.say("!metrics").text
    assert "change failure rate          not enough data (n=0)" in table
    assert "lead time for changes        not enough data (n=0)" in table


def test_deploys_not_applied_yet_are_named_rather_than_silently_zero(bot: Bot) -> None:
    # As in `opsbot shell`: deploys committed, and no reconciler to apply them.
    bot.say("!deploy web 1.0 to dev")
    bot.say("!deploy api 2.0 to dev")
    table = bot.say("!metrics").text
    assert report(bot).deploys == 0
    assert "(2 deploys asked for in this window not applied yet" in table
    assert "opsbot shell does not run the reconciler" in table


def test_applied_deploys_leave_nothing_pending(bot: Bot) -> None:
    deploy(bot, "!deploy web 1.0 to dev", at=0, applied=10)
    assert report(bot).pending == 0
    assert "not applied yet" not in bot.say("!metrics").text


def test_one_app_in_three_environments(bot: Bot) -> None:
    # Asked for at 0 in dev; promoted at 60 and 120; each applied 10 minutes after its request.
    deploy(bot, "!deploy web 1.0 to dev", at=0, applied=10)
    deploy(bot, "!promote web from dev to staging", at=60, applied=70)
    deploy(bot, "!promote web from staging to prod", at=120, applied=130)
    r = report(bot)
    # Lead times from the first request of 1.0 (minute 0): 10, 70 and 130 minutes.
    assert r.deploys == 3 and r.lead_time.n == 3
    assert r.lead_time.median == 70 * M and r.lead_time.level == "elite"
    assert r.lead_sources == {"commit": 0, "build": 0, "request": 3}
    assert (r.changes, r.failed, r.failure_rate, r.failure_level) == (3, 0, 0.0, "elite")
    prod = report(bot, Scope(env="prod"))
    assert prod.deploys == 1 and prod.lead_time.median == 130 * M
    assert report(bot, Scope(app="web")).deploys == 3
    assert report(bot, Scope(app="api")).deploys == 0


def test_a_rollback_of_a_rollback(bot: Bot) -> None:
    # 1.0, 1.1, 1.2 an hour apart, then two rollbacks (to 1.1, then to 1.0); each applied after
    # 10 minutes. 1.2 is followed by a rollback, and so is the first rollback: 2 failures in 5.
    for n, command in enumerate(
        [
            "!deploy web 1.0 to prod",
            "!deploy web 1.1 to prod",
            "!deploy web 1.2 to prod",
            "!rollback web in prod",
            "!rollback web in prod",
        ]
    ):
        deploy(bot, command, at=60 * n, applied=60 * n + 10)
    assert 'version = "1.0"' in bot.show("deployments/prod/web.toml")
    assert 'command = "rollback"' in bot.show("deployments/prod/web.toml")
    r = report(bot)
    assert (r.changes, r.failed) == (5, 2)
    assert r.failure_rate == 0.4 and r.failure_level == "low"
    # Each failure is restored by the next apply, an hour later.
    assert (r.deploy_restore.n, r.deploy_restore.median) == (2, 3600.0)
    assert r.deploy_restore.level == "high"
    # Rollbacks bring back old versions: no lead time of their own.
    assert r.lead_time.n == 3


def test_a_failed_apply_retried_to_success_is_no_failure(bot: Bot) -> None:
    sha = deploy(bot, "!deploy web 1.0 to prod", at=0)
    outcome(bot, sha, "failed", at=5, attempt=1, final=False)
    outcome(bot, sha, "ok", at=15, attempt=2)
    r = report(bot)
    assert (r.deploys, r.changes, r.failed) == (1, 1, 0)
    assert r.lead_time.median == 15 * M


def test_a_final_failure_then_redeploy_counts_once_and_is_restored(bot: Bot) -> None:
    sha = deploy(bot, "!deploy web 1.1 to prod", at=0)
    outcome(bot, sha, "failed", at=5, attempt=3, final=True)
    deploy(bot, "!redeploy web in prod", at=60, applied=70)
    r = report(bot)
    # 1.1 gave up (and was redeployed): one failure; the redeploy applied: one deploy.
    assert (r.deploys, r.changes, r.failed) == (1, 2, 1)
    assert r.deploy_restore.median == 65 * M  # from the failure (5) to the redeploy's apply (70)
    assert r.lead_time.n == 0  # a redeploy is no new change


def test_incidents_with_and_without_a_cause(bot: Bot) -> None:
    first = deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    deploy(bot, "!deploy api 2.0 to prod", at=20, applied=30)
    bot.clock.now = START + timedelta(minutes=40)
    assert bot.say("!incident open sev2 Login fails").ok
    caused = bot.say(f"!incident cause INC-1 {first[:7]}")
    assert caused.ok, caused.text
    assert f'cause = "{first}"' in bot.show("incidents/INC-1/incident.toml")
    assert bot.say("!incident open sev3 Slow pages").ok
    bot.clock.now = START + timedelta(minutes=100)
    assert bot.say("!incident resolve INC-1").ok
    bot.clock.now = START + timedelta(minutes=160)
    assert bot.say("!incident resolve INC-2").ok
    r = report(bot)
    assert (r.changes, r.failed) == (2, 1)
    # Opened at 40, resolved at 100 and 160: 60 and 120 minutes.
    assert r.incident_restore.n == 2 and r.incident_restore.median == 90 * M
    # For the app, only the incident its deploy caused.
    assert report(bot, Scope(app="web")).incident_restore.n == 1
    assert report(bot, Scope(app="api")).incident_restore.n == 0


def test_two_incidents_citing_one_deploy_count_it_once(bot: Bot) -> None:
    deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    bot.clock.now = START + timedelta(minutes=30)
    for title in ("Login fails", "Checkout fails"):
        assert bot.say(f"!incident open {title}").ok
    assert bot.say("!incident cause INC-1 web prod").ok
    assert bot.say("!incident cause INC-2 web prod").ok
    r = report(bot)
    assert (r.changes, r.failed) == (1, 1)


def test_the_window_includes_its_start_and_excludes_its_end(bot: Bot) -> None:
    deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    deploy(bot, "!deploy web 1.1 to prod", at=20, applied=30)
    deploy(bot, "!deploy web 1.2 to prod", at=40, applied=50)
    # A window of one day ending at minute 30 + 1 day: it starts exactly at the second apply.
    r = report(bot, days=1, until_minute=30 + 24 * 60)
    assert r.deploys == 2  # 1.1 (at its start) and 1.2; not 1.0 (before it)
    r = report(bot, days=1, until_minute=50)
    assert r.deploys == 2  # 1.0 and 1.1; 1.2, applied at its end, is not in it


def test_an_incident_cause_must_be_a_deploy(bot: Bot) -> None:
    assert bot.say("!incident open Login fails").ok
    not_deploy = bot.say(f"!incident cause INC-1 {bot.head()[:7]}")
    assert not not_deploy.ok and "is not a deploy" in not_deploy.text
    nothing = bot.say("!incident cause INC-1 web prod")
    assert not nothing.ok and "web had no deploy in prod before the incident" in nothing.text


def test_reindex_from_git_gives_the_same_numbers(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    first = deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    deploy(bot, "!deploy web 1.1 to prod", at=20, applied=30)
    deploy(bot, "!rollback web in prod", at=40, applied=50)
    bot.clock.now = START + timedelta(minutes=60)
    assert bot.say("!incident open Login fails").ok
    assert (
        bot.say(
            f"!incident cause {first[:8]}",
        ).ok
        is False
    )  # which incident? refused
    assert bot.say(f"!incident cause INC-1 {first[:8]}").ok
    before = asdict(report(bot))
    bot.engine.index.close()
    assert main(["reindex", "--repo", str(bot.repo)]) == 0
    bot.engine.index = Index(bot.paths.index, index_tables())
    assert asdict(report(bot)) == before
    capsys.readouterr()


def test_metrics_in_the_room_is_a_table_and_a_png_chart(bot: Bot) -> None:
    deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    reply = bot.say("!metrics prod --since 30d")
    assert reply.ok
    assert reply.text.startswith("metrics for prod, 2026-10-27 to 2026-11-26 (30 days)")
    uploads = [o.effect for o in bot.engine.ledger.due() if isinstance(o.effect, Upload)]
    assert len(uploads) == 1
    image = uploads[0]
    assert image.msgtype == "m.image" and image.mimetype == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")
    assert (image.width, image.height) == (800, 500)


def test_without_matplotlib_the_table_comes_with_a_hint(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    reply = bot.say("!metrics")
    assert reply.ok and "install opsbot with the `charts` extra" in reply.text
    assert not [o for o in bot.engine.ledger.due() if isinstance(o.effect, Upload)]


def test_metrics_refuses_what_is_neither_an_app_nor_an_environment(bot: Bot) -> None:
    reply = bot.say("!metrics nowhere")
    assert not reply.ok and "no environment or app 'nowhere'" in reply.text
    assert "environments: dev, staging, prod" in reply.text
    bad = bot.say("!metrics --since 3y")
    assert not bad.ok and "like 30d, 90d or 12w" in bad.text


def test_the_command_line_prints_json_and_csv(bot: Bot, capsys: pytest.CaptureFixture[str]) -> None:
    deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    capsys.readouterr()
    assert main(["metrics", "--repo", str(bot.repo), "--since", "3650d", "--json"]) == 2
    assert "from 1d to 730d" in capsys.readouterr().err
    assert main(["metrics", "--repo", str(bot.repo), "prod", "--since", "730d", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scope"] == "prod" and data["change_failure_rate"]["n"] == 1
    assert data["lead_time"]["sources"]["request"] == 1
    assert main(["metrics", "--repo", str(bot.repo), "--since", "730d", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "figure,n,value,unit,level"
    assert "change_failure_rate,1,0.0000,ratio,elite" in lines


async def test_an_alert_rule_can_name_the_deploy_in_force_as_the_cause(bot: Bot) -> None:
    sha = deploy(bot, "!deploy web 1.0 to prod", at=0, applied=10)
    bot.edit(
        "alerts/rules.toml",
        '[[rule]]\nmatch = { severity = "critical" }\nincident_severity = "sev2"\n'
        'cause_labels = ["app", "env"]\n',
    )
    labels = {"alertname": "Errors", "severity": "critical", "app": "web", "env": "prod"}
    alert = Alert("firing", labels, "ab12", "2026-11-26T12:00:00Z")
    reply = await Services(bot.engine).request(AlertGroup("g1", "Errors", (alert,)), "alerts")
    assert reply.ok and reply.extra.get("opened"), reply.text
    assert f'cause = "{sha}"' in bot.show("incidents/INC-1/incident.toml")
    assert report(bot).failed == 1
