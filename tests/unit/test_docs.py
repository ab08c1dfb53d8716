"""The documentation is generated from, or checked against, the code it describes."""

import pytest

from bot.cli.docs import README, command_table, with_table
from bot.cli.program import parser
from bot.config.host import known_keys
from bot.features.catalog import default_registry, sections
from tests.helpers.bot import Bot

REGISTRY = default_registry()


def test_readme_command_table_is_generated_from_the_declarations() -> None:
    text = README.read_text()
    assert with_table(text, command_table(REGISTRY)) == text, "run: python -m bot.cli.docs"


def test_every_cli_subcommand_is_in_the_readme() -> None:
    text = README.read_text()
    subcommands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in subcommands:
        assert f"`opsbot {name}" in text, f"opsbot {name} is not documented in README.md"


@pytest.mark.parametrize(
    ("section", "key"), [(s, k) for s, keys in known_keys(sections()).items() for k in sorted(keys)]
)
def test_every_config_key_is_in_the_readme(section: str, key: str) -> None:
    assert f"`[{section}] {key}`" in README.read_text()


def test_every_command_has_an_example() -> None:
    assert [c.name for c in REGISTRY if not c.examples] == []


# These need something to exist first: a commit, a version to go back to, a freeze, a device.
NEEDS_STATE = {
    "!redeploy web in staging --reason 'registry is back'",
    "!show 3f9c2ab",
    "!rollback web in prod --reason 'errors after 1.4.2'",
    "!unfreeze prod",
    "!trust @bob:example.org BOBPHONE",
    "!trust @alice:example.org",
    "!promote web from staging to prod",
    "!approve 3",
    '!reject 3 --reason "wrong version"',
    "!unlock prod",
    "!resume web",
    '!incident sev INC-1 sev1 --reason "every region is affected"',
    "!incident assign INC-1 commander @bob:example.org",
    "!incident status INC-1 identified",
    "!incident note INC-1 failing over to the replica",
    '!incident resolve INC-1 --summary "failed over to the replica"',
    '!incident reopen INC-1 --reason "errors are back"',
    "!incident show INC-1",
    "!incident postmortem INC-1",
    "!revoke @bob:example.org deployer",
    "!adopt 1a2b3c4 --dry-run",
    '!adopt 1a2b3c4 --reason "reviewed: new staging"',
    '!discard --reason "not ours"',
    "!incident cause INC-3 4f2a9c1",
    "!incident cause INC-3 web prod",
    "!run cancel 3f9a2c1b",
    '!deploy web 1.4.3 to prod --hotfix INC-1 --reason "fixes the login loop"',
    "!rollback web in prod --hotfix INC-1 --reason 'errors after 1.4.3'",
}
RUNNABLE = [e for c in REGISTRY for e in c.examples if e not in NEEDS_STATE]


@pytest.mark.parametrize("example", RUNNABLE)
def test_every_example_runs_as_written_on_a_fresh_repo(bot: Bot, example: str) -> None:
    reply = bot.say(example)
    assert reply.ok, reply.text


@pytest.mark.parametrize("example", [e for c in REGISTRY for e in c.examples])
def test_every_example_fits_its_grammar(bot: Bot, example: str) -> None:
    reply = bot.say(example)
    assert reply.error != "usage", reply.text


def test_help_shows_every_command_to_an_admin(bot: Bot) -> None:
    lines = bot.say("!help").text.splitlines()
    assert lines[-1] == "!help <command> shows one in full."
    listed = [line.split("  ")[0].rstrip() for line in lines[:-1]]
    assert listed == [c.usage_line() for c in REGISTRY]
