"""The report's files: the same history gives the same bytes, CSV and JSON have a fixed shape,
and the HTML runs nothing and shows hostile text as text."""

import csv
import io
import json
from pathlib import Path

import pytest

from bot.features.governance import audit_formats, audit_html
from bot.features.governance.audit_history import FOUR_EYES, report
from bot.features.governance.audit_index import TABLE
from bot.state.index import Index
from tests.helpers.audit import SINCE, audit, commit, deployment, proposal, signers
from tests.helpers.bot import Bot

HOSTILE_APP = "<img src=x onerror=alert(1)>"
HOSTILE_REASON = "</td><script>alert(1)</script>"
RENDER = {
    "md": audit_formats.as_markdown,
    "csv": audit_formats.as_csv,
    "json": audit_formats.as_json,
    "html": audit_html.as_html,
}


@pytest.fixture
def history(bot: Bot) -> Bot:
    """A deploy, a violation and a role change."""
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    assert bot.say("!deploy web 1.0.0 to dev --reason 'first'").ok
    commit(bot, {"deployments/prod/web.toml": deployment("2.0.0")})
    assert bot.say("!grant @bob:example.org deployer").ok
    return bot


@pytest.mark.parametrize("form", sorted(RENDER))
def test_the_same_history_gives_the_same_bytes(history: Bot, tmp_path: Path, form: str) -> None:
    first = RENDER[form](audit(history))
    fresh = Index(tmp_path / "another.sqlite", (TABLE,))
    fresh.sync(history.engine.repo)
    again = RENDER[form](report(fresh, signers(history), SINCE))
    assert first == again


def test_the_csv_lists_the_exceptions_first_then_every_change(history: Bot) -> None:
    rows = list(csv.DictReader(io.StringIO(audit_formats.as_csv(audit(history)))))
    assert list(rows[0]) == list(audit_formats.CSV_HEADERS)
    assert [(r["section"], r["exception"]) for r in rows[:1]] == [("exception", FOUR_EYES)]
    changes = [r for r in rows if r["section"] == "change"]
    deploys = [
        (r["environment"], r["app"], r["to"], r["four_eyes"])
        for r in changes
        if r["kind"] == "deploy"
    ]
    assert deploys == [
        ("dev", "web", "1.0.0", "not required"),
        ("prod", "web", "2.0.0", "violated"),
    ]


def test_the_json_has_counts_exceptions_and_changes(history: Bot) -> None:
    data = json.loads(audit_formats.as_json(audit(history)))
    assert sorted(data) == [
        "changes",
        "counts",
        "environment",
        "exceptions",
        "main",
        "since",
        "until",
    ]
    assert data["counts"]["prod"] == {
        "changes": 1,
        "held": 0,
        "not_required": 0,
        "violated": 1,
        "hotfixes": 0,
        "exceptions": 1,
    }
    assert data["exceptions"][0]["exception"] == FOUR_EYES
    deploy = next(c for c in data["changes"] if c["kind"] == "deploy")
    assert {
        "environment",
        "app",
        "from_version",
        "to_version",
        "requester",
        "approvers",
        "four_eyes",
        "freeze",
        "lock",
        "hotfix",
        "review",
        "commit",
        "signature",
    } <= set(deploy)


def test_the_html_has_no_script_and_escapes_a_hostile_app_and_reason(bot: Bot) -> None:
    commit(bot, {f"deployments/dev/{HOSTILE_APP}.toml": deployment("1.0.0", reason=HOSTILE_REASON)})
    page = audit_html.as_html(audit(bot))
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_html_loads_nothing_and_prints(history: Bot) -> None:
    page = audit_html.as_html(audit(history))
    assert "src=" not in page and "href=" not in page and "@import" not in page
    assert "@media print" in page


def test_markdown_cells_cannot_break_the_table(bot: Bot) -> None:
    commit(bot, {"deployments/dev/web.toml": deployment("1.0.0", reason="a | b\\n<b>c</b>")})
    text = audit_formats.as_markdown(audit(bot))
    assert "a \\| b" in text and "<b>" not in text


def test_the_json_is_written_as_json_dumps_writes_it_keys_sorted(bot: Bot) -> None:
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    commit(bot, {"deployments/prod/web.toml": deployment("2.0.0", reason='say \\"ü\\" \\\\ <b>')})
    commit(bot, {"deployments/prod/web.toml": None})
    assert bot.say("!grant @bob:example.org deployer").ok
    text = audit_formats.as_json(audit(bot))
    lines = text.split('"changes": [\n', 1)[1].rsplit("\n ]", 1)[0].split(",\n")
    kinds = [json.loads(line)["kind"] for line in lines]
    assert kinds.count("deploy") == 2 and "role" in kinds
    for line in lines:
        assert json.dumps(json.loads(line), sort_keys=True) == line
    data = json.loads(text)
    del data["changes"]
    assert data["exceptions"]
    head = text.split(',\n "changes": [', 1)[0]
    assert head + "\n}" == json.dumps(data, indent=1, sort_keys=True)


def test_each_row_of_the_csv_is_written_as_the_csv_module_writes_it(bot: Bot) -> None:
    commit(bot, {"deployments/dev/web.toml": deployment("1.0.0", reason='a, \\"quoted\\" =1+1')})
    text = audit_formats.as_csv(audit(bot))
    rows = list(csv.reader(io.StringIO(text)))
    again = io.StringIO()
    csv.writer(again, lineterminator="\n").writerows(rows)
    assert again.getvalue() == text
    assert 'a, "quoted" =1+1' in [cell for row in rows for cell in row]


def test_markdown_and_html_escape_every_piece_of_an_exception_and_its_approvers(bot: Bot) -> None:
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    who = "@x|<i>:example.org"  # approves their own change
    files = {
        "deployments/prod/a|<b>.toml": deployment("2.0.0", by=who),
        "proposals/1.toml": proposal(1, who, [who], environment="prod"),
    }
    commit(bot, files)
    report = audit(bot)
    assert [e for e, _ in report.exceptions] == [FOUR_EYES]
    text = audit_formats.as_markdown(report)
    assert "deploy a\\|\\<b\\> - -\\> 2.0.0 in prod" in text
    assert "@x\\|\\<i\\>:example.org (proposal 1)" in text
    page = audit_html.as_html(report)
    assert "<b>" not in page and "<i>" not in page
    assert "@x|&lt;i&gt;:example.org (proposal 1)" in page
