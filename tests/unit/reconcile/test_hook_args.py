"""What reaches a hook's argv: only names and versions a command could have written, after `--`.

A hand edit of the repo (not a command) can write any file name and any value. Those are checked
as the commands check their arguments, named by `opsbot check`, and never passed to a hook.
"""

import pytest

from bot.features.catalog import checks
from bot.state.names import name_problem, version_problem
from bot.state.view import StateView
from tests.helpers.bot import Bot
from tests.helpers.cli import opsbot
from tests.helpers.hooks import write_hook
from tests.helpers.host import Host

RAW_ARGV = 'for a in "$@"; do printf "[%s]" "$a"; done >> {calls}\necho >> {calls}\n'
"""A hook that records its argv exactly, one bracketed word per argument."""


def deployment(version: str) -> str:
    return (
        f'version = "{version}"\n'
        'requested_by = "@mallory:example.org"\n'
        "requested_at = 2026-11-26T13:00:00Z\n"
    )


def problems(bot: Bot) -> list[str]:
    return [p.message for p in StateView(bot.engine.repo.snapshot(), checks()).problems()]


# the contract


async def test_a_deploy_hook_gets_a_double_dash_before_app_version_and_env(host: Host) -> None:
    write_hook(host.hooks, "deploy-web", RAW_ARGV.format(calls=host.calls))
    host.deploy("web", "1.4.2", "staging")
    await host.reconciler().reconcile_once()
    assert host.called() == ["[--][web][1.4.2][staging]"]


async def test_a_health_hook_gets_a_double_dash_before_app_and_env(host: Host) -> None:
    write_hook(host.hooks, "health-http", RAW_ARGV.format(calls=host.calls))
    host.deploy("web", "1.4.2")
    await host.reconciler().check_health()
    assert host.called() == ["[--][web][dev]"]


# hand edits


@pytest.mark.security
async def test_a_hand_committed_version_shaped_like_an_option_never_reaches_a_hook(
    host: Host,
) -> None:
    host.bot.edit("deployments/prod/web.toml", deployment("--exec=/bin/sh"))
    host.deploy("api", "2.0.0")
    outcomes = await host.reconciler().reconcile_once()
    assert [(o.app, o.env, o.status) for o in outcomes] == [("api", "dev", "ok")]
    assert host.called() == ["api 2.0.0 dev"]  # the other apps are still served


@pytest.mark.security
def test_a_hand_committed_version_shaped_like_an_option_is_a_problem_of_the_repo(
    bot: Bot,
) -> None:
    bot.edit("deployments/prod/web.toml", deployment("--exec=/bin/sh"))
    assert problems(bot) == [
        "deployments/prod/web.toml: version: '--exec=/bin/sh' must be a plain version "
        "like 1.4.2, v2.0 or 1.4.2-rc.1"
    ]


@pytest.mark.security
def test_opsbot_check_lists_a_hand_committed_bad_version_and_fails(bot: Bot) -> None:
    bot.edit("deployments/prod/web.toml", deployment("--exec=/bin/sh"))
    result = opsbot("check", "--repo", str(bot.repo))
    assert result.returncode == 1
    assert "deployments/prod/web.toml: version: '--exec=/bin/sh' must be" in result.stdout


@pytest.mark.security
async def test_an_app_named_like_an_option_never_reaches_a_hook(host: Host) -> None:
    host.bot.edit("apps/-rf.toml", 'deploy = "deploy-web"\nhealth = "deploy-web"\n')
    host.bot.edit("deployments/prod/-rf.toml", deployment("1.0"))
    reconciler = host.reconciler()
    assert await reconciler.reconcile_once() == []
    assert await reconciler.check_health() == {}
    assert host.called() == []


@pytest.mark.security
def test_an_app_named_like_an_option_is_listed_by_opsbot_check(bot: Bot) -> None:
    bot.edit("apps/-rf.toml", 'deploy = "deploy-web"\n')
    bot.edit("deployments/prod/-rf.toml", deployment("1.0"))
    result = opsbot("check", "--repo", str(bot.repo))
    assert result.returncode == 1
    assert "apps/-rf.toml: name: '-rf' (from the file name) must start with a letter" in (
        result.stdout
    )
    assert "deployments/prod/-rf.toml: app: '-rf' (from the file name) must start" in (
        result.stdout
    )


@pytest.mark.security
async def test_an_environment_named_like_an_option_never_reaches_a_hook(host: Host) -> None:
    host.bot.edit("environments/--help.toml", "order = 9\n")
    host.bot.edit("deployments/--help/web.toml", deployment("1.0"))
    assert await host.reconciler().reconcile_once() == []
    assert host.called() == []
    assert any(p.startswith("environments/--help.toml: name: ") for p in problems(host.bot))


@pytest.mark.security
async def test_a_deployment_to_an_undescribed_environment_named_like_an_option_is_caught(
    host: Host,
) -> None:
    host.bot.edit("deployments/--help/web.toml", deployment("1.0"))
    assert await host.reconciler().reconcile_once() == []
    assert host.called() == []
    assert problems(host.bot) == [
        "deployments/--help/web.toml: env: '--help' (from the file name) must start with a "
        "letter or digit, then letters, digits, '.', '-' or '_' (no '..')"
    ]


# the shapes, shared with the commands' argument kinds


@pytest.mark.security
@pytest.mark.parametrize("name", ["-rf", "--exec=x", "web\n", "a..b", "a/b", "", "é", "x" * 65])
def test_a_name_no_command_could_type_is_refused(name: str) -> None:
    assert name_problem(name) is not None


@pytest.mark.security
@pytest.mark.parametrize("version", ["--exec=/bin/sh", "-1", "1.0\n", "1.0 -rf", "latest", ""])
def test_a_version_no_command_could_type_is_refused(version: str) -> None:
    assert version_problem(version) is not None


@pytest.mark.parametrize("name", ["web", "api-2", "my_app.v2", "0day"])
def test_the_names_commands_accept_are_accepted(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("version", ["1.4.2", "v2.0", "1.4.2-rc.1", "3+build.7"])
def test_the_versions_commands_accept_are_accepted(version: str) -> None:
    assert version_problem(version) is None
