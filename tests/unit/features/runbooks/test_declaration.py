"""Runbook declarations and their parameters: what a person may type, and what becomes argv."""

import pytest

from bot import cli
from bot.core.errors import InvalidRecord, UsageError
from bot.features.runbooks.binding import argv, bind
from bot.features.runbooks.declaration import decode
from tests.helpers.bot import Bot

QUERY = """
summary = "orders per status"
program = "sql-query"
args = ["--db", "{db}", "--limit", "{limit}", "--", "SELECT 1 -- {since}"]

[params.db]
type = "enum"
values = ["orders", "users"]

[params.limit]
type = "integer"
min = 1
max = 1000
default = 100

[params.since]
type = "duration"
min = "1m"
max = "24h"
default = "1h"

[params.ticket]
type = "regex"
pattern = "OPS-[0-9]{1,6}"
default = "OPS-1"
"""
APPS = {"web": object(), "api": object()}
ENVS = {"dev": object(), "prod": object()}


def values(raw: str) -> dict[str, str]:
    return bind(decode("q", QUERY), raw, APPS, ENVS).values


def refusal(raw: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        values(raw)
    return caught.value


def test_named_values_defaults_and_the_exact_argv() -> None:
    runbook = decode("q", QUERY)
    bound = bind(runbook, "db=orders limit=20 since=2h", APPS, ENVS)
    assert argv(runbook, bound.values) == [
        "--db",
        "orders",
        "--limit",
        "20",
        "--",
        "SELECT 1 -- 7200",
    ]


def test_values_may_come_in_declared_order() -> None:
    assert values("users 5") == {"db": "users", "limit": "5", "since": "3600", "ticket": "OPS-1"}


def test_a_shell_injection_is_refused_by_the_type_not_run() -> None:
    error = refusal("db='orders; rm -rf /'")
    assert "must be one of: orders, users" in error.message
    assert error.usage == (
        "usage: !run q db=<orders|users> [limit=<1-1000>] [since=<duration 1m-24h>] "
        "[ticket=<ticket>]"
    )


def test_a_command_substitution_is_refused() -> None:
    assert "must match OPS-[0-9]{1,6}" in refusal("db=orders ticket='$(reboot)'").message


def test_an_option_smuggled_into_argv_is_refused() -> None:
    assert "must not start with '-'" in refusal("db=--drop-all").message
    assert "unknown option '--force'" in refusal("db=orders --force").message


def test_a_newline_is_refused() -> None:
    assert "control characters" in refusal("db=orders ticket='OPS-1\nOPS-2'").message


def test_missing_unknown_and_out_of_range() -> None:
    assert refusal("").message == "missing db=<orders|users>"
    assert "has no parameter 'colour'" in refusal("db=orders colour=red").message
    assert "from 1 to 1000" in refusal("db=orders limit=100000").message
    assert "from 1m to 24h" in refusal("db=orders since=3d").message


def test_a_value_with_a_space_stays_one_argument() -> None:
    runbook = decode("q", QUERY.replace("OPS-[0-9]{1,6}", "[a-z ]+").replace('"OPS-1"', '"x"'))
    bound = bind(runbook, "db=orders ticket='a b c'", APPS, ENVS)
    assert argv(runbook, bound.values)[-1] == "SELECT 1 -- 3600"
    assert bound.values["ticket"] == "a b c"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('summary = "x"\nprogram = "../bin/sh"\n', "program"),
        ('summary = "x"\nprogram = "/bin/sh"\n', "program"),
        ('summary = "x"\nprogram = "p"\nargs = ["{nope}"]\n', "args"),
        ('summary = "x"\nprogram = "p"\nshell = "rm -rf /"\n', "shell"),
        (
            'summary = "x"\nprogram = "p"\n[params.a]\ntype = "enum"\nvalues = ["-x"]\n',
            "params.a.values",
        ),
        ('summary = "x"\nprogram = "p"\nredact = ["("]\n', "redact"),
        ('summary = "x"\nprogram = "p"\ntimeout_seconds = 0\n', "timeout_seconds"),
        ('summary = "x"\nprogram = "p"\n[env]\nX = { file = "/etc/shadow" }\n', "env.X"),
    ],
)
def test_a_declaration_that_does_not_validate_names_its_field(text: str, field: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode("bad", text)
    assert caught.value.field == field
    assert caught.value.path == "runbooks/bad.toml"


def test_opsbot_check_names_a_runbook_that_does_not_validate_and_its_field(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.edit("runbooks/disk.toml", 'summary = "disk"\nprogram = "../bin/df"\n')
    bot.edit("runbooks/Disk Usage.toml", 'summary = "disk"\nprogram = "df"\n')
    bot.edit("runbooks/ok.toml", 'summary = "fine"\nprogram = "df"\n')
    assert cli.main(["check", "--repo", str(bot.repo)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"{bot.repo}: runbooks/Disk Usage.toml: not a runbook name: lowercase letters, digits, "
        "- and _, at most 64",
        f"{bot.repo}: runbooks/disk.toml: program: a name in the hooks directory, never a path",
    ]
