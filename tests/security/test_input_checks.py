"""Every input is checked whole, a bad record in the repo stops nobody, environment commands
apply their scope, and nothing a person types can reorder what others read."""

import os
import shlex
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.cli.host import load_config
from bot.config import ConfigError, HostPaths
from bot.core.text import BIDI_CONTROLS
from bot.engine.kinds import ArgError
from bot.features.catalog import default_registry
from bot.service.assemble import init_repo, open_engine
from bot.state.message import Message
from bot.state.repo import Identity
from tests.helpers.bot import ALICE, BOB, Bot, Clock

KINDS = default_registry().kinds  # the core's and every feature's

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows it is displayed backwards


# Whole matches: `$` also matches before a final newline


def test_a_severity_followed_by_a_newline_is_refused_and_stores_nothing(bot: Bot) -> None:
    head = bot.head()
    reply = bot.say("!incident open sev1\n Payments down")
    assert reply.error == "usage", reply.text
    assert "usage: !incident open" in reply.text
    assert bot.head() == head
    assert bot.say("!incident list").ok


@pytest.mark.parametrize(
    ("kind", "good"),
    [
        ("sev", "sev1"),
        ("incident", "INC-7"),
        ("device", "ABCDEFGHIJ"),
        ("key", "xF7dQzv2kq0cZb8rY1mJH3nVt6LwPa9eUoSg5iRDfKc"),
        ("commit", "3f9c2ab"),
        ("user", "@alice:example.org"),
        ("app", "web"),
        ("env", "prod"),
        ("version", "1.4.2"),
        ("duration", "2h"),
        ("number", "3"),
        ("role", "commander"),
    ],
)
def test_a_trailing_newline_does_not_pass_an_argument_check(kind: str, good: str) -> None:
    check = KINDS[kind].check
    check(good)
    with pytest.raises(ArgError):
        check(good + "\n")


# A bad record is reported and skipped, not a failure of every command


BAD_INCIDENT = """\
title = "Payments down"
severity = "sev1\\n"
status = "investigating"
reporter = "@alice:example.org"
opened_at = 2026-11-26T12:00:00Z
"""


def problems(bot: Bot) -> list[str]:
    """What `opsbot check` and the watcher report."""
    return [problem.message for problem in bot.engine.view().problems()]


def test_a_bad_incident_record_is_reported_and_the_others_still_listed(bot: Bot) -> None:
    assert bot.say("!incident open sev2 Database is down").ok
    assert bot.say("!incident open sev3 Search is slow").ok
    bot.edit("incidents/INC-1/incident.toml", BAD_INCIDENT)
    listed = bot.say("!incident list")
    assert listed.ok, listed.text
    lines = listed.text.splitlines()
    assert lines[0].startswith("INC-2 sev3 investigating: Search is slow")
    assert len(lines) == 2 and lines[1].startswith("unreadable: incidents/INC-1/incident.toml")
    assert bot.say("!status").ok
    assert any(p.startswith("incidents/INC-1/incident.toml: severity:") for p in problems(bot))


def test_a_bad_incident_record_is_refused_by_name_when_asked_for(bot: Bot) -> None:
    assert bot.say("!incident open sev2 Database is down").ok
    bot.edit("incidents/INC-1/incident.toml", BAD_INCIDENT)
    reply = bot.say("!incident show INC-1")
    assert reply.error == "invalid_record"
    assert "incidents/INC-1/incident.toml: severity" in reply.text


def test_an_incident_record_that_is_not_utf8_is_reported_and_skipped(bot: Bot) -> None:
    assert bot.say("!incident open sev2 Database is down").ok
    state = bot.engine.repo
    with state.locked():
        state.commit(
            {"incidents/INC-1/incident.toml": b'title = "\xff"\n'},
            Message(summary="edit"),
            Identity("Alice", ALICE),
            bot.clock(),
            parent=state.head(),
        )
    listed = bot.say("!incident list").text.splitlines()
    assert listed[0] == "no open incidents"
    assert all(line.startswith("unreadable: ") for line in listed[1:])
    assert "incidents/INC-1/incident.toml: not UTF-8 text" in problems(bot)


def test_a_bad_deployment_record_is_reported_and_status_shows_the_others(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0.0 to dev").ok
    assert bot.say("!deploy api 2.0.0 to dev").ok
    bot.edit("deployments/dev/api.toml", 'version = "2.0.0"\n')
    status = bot.say("!status dev")
    assert status.ok, status.text
    assert "web 1.0.0" in status.text
    assert "deployments/dev/api.toml: requested_by: missing" in problems(bot)


def test_a_bad_freeze_record_shows_in_status_and_still_stops_deploys(bot: Bot) -> None:
    bot.edit("freezes/prod.toml", 'by = "@alice:example.org"\n')  # no `since`
    status = bot.say("!status")
    assert status.ok, status.text
    assert "prod (freezes/prod.toml is invalid, see opsbot check)" in status.text
    head = bot.head()
    deploy = bot.say("!deploy web 1.0.0 to prod")
    assert deploy.error == "invalid_record"
    assert "freezes/prod.toml: since: missing" in deploy.text
    assert bot.head() == head
    assert "freezes/prod.toml: since: missing" in problems(bot)


def test_a_bad_environment_record_is_reported_and_the_others_still_work(bot: Bot) -> None:
    bot.edit("environments/staging.toml", 'order = "two"\n')
    assert bot.say("!deploy web 1.0.0 to dev").ok
    refused = bot.say("!deploy web 1.0.0 to staging")
    assert refused.error == "invalid_record"
    assert "environments/staging.toml: order" in refused.text
    assert bot.say("!status").ok
    assert any(p.startswith("environments/staging.toml: order:") for p in problems(bot))


def test_a_bad_suspension_record_still_suspends_and_resume_removes_it(bot: Bot) -> None:
    bot.edit("suspended/web.toml", "by = 3\n")
    assert bot.say("!deploy web 1.0.0 to dev").ok
    assert "[suspended]" in bot.say("!status dev").text
    assert any(p.startswith("suspended/web.toml: by:") for p in problems(bot))
    assert bot.say("!resume web").ok
    assert problems(bot) == []


# !suspend and !resume apply the environment scope like every environment command

SUSPENDER_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}"]
commands = ["deploy", "suspend", "resume"]
environments = ["dev", "staging"]
"""


@pytest.fixture
def suspender(bot: Bot) -> Bot:
    bot.edit("policy.toml", SUSPENDER_POLICY)
    return bot


def test_a_deployer_limited_to_dev_and_staging_cannot_suspend_prod(suspender: Bot) -> None:
    head = suspender.head()
    reply = suspender.say("!suspend prod", sender=BOB)
    assert reply.error == "forbidden"
    assert f"{BOB} may not run !suspend in prod" in reply.text
    assert suspender.head() == head


def test_a_deployer_limited_to_dev_and_staging_cannot_suspend_an_app_in_prod(
    suspender: Bot,
) -> None:
    head = suspender.head()
    reply = suspender.say("!suspend web", sender=BOB)
    assert reply.error == "forbidden"
    assert f"{BOB} may not run !suspend web: it applies in prod too" in reply.text
    assert suspender.head() == head


def test_a_deployer_limited_to_dev_and_staging_cannot_resume_prod(suspender: Bot) -> None:
    assert suspender.say("!suspend prod").ok
    assert suspender.say("!suspend web").ok
    head = suspender.head()
    for target in ("prod", "web"):
        reply = suspender.say(f"!resume {target}", sender=BOB)
        assert reply.error == "forbidden", reply.text
    assert suspender.head() == head


def test_a_deployer_may_suspend_and_resume_an_environment_of_their_own(suspender: Bot) -> None:
    assert suspender.say("!suspend staging", sender=BOB).ok
    assert suspender.say("!resume staging", sender=BOB).ok


# Numbers are ASCII digits


@pytest.mark.parametrize("text", ["!approve ²", "!approve ٣", "!reject ¹", "!history -n ٣"])
def test_a_number_in_other_digits_gets_a_usage_reply(bot: Bot, text: str) -> None:
    reply = bot.say(text)
    assert reply.error == "usage", reply.text
    assert "\nusage: !" in reply.text


@pytest.mark.parametrize("text", ["2h", "1d٣h", "²m", "1w"])
def test_a_duration_takes_ascii_digits_only(text: str) -> None:
    if text.isascii():
        KINDS["duration"].check(text)
    else:
        with pytest.raises(ArgError):
            KINDS["duration"].check(text)


# Internal commands are for transports, not people


def test_help_on_an_internal_command_answers_like_an_unknown_command(bot: Bot) -> None:
    for name in ("incident room", "incident transcript"):
        reply = bot.say(f"!help {name}")
        assert reply.error == "not_found", reply.text
        assert f"no command !{name}" in reply.text
    assert "incident room" not in bot.say("!help").text
    assert "incident room" not in bot.say("!help incident").text


# Bidi controls and disguised line breaks


def test_an_rtl_override_in_a_reason_is_not_stored_or_shown(bot: Bot) -> None:
    reply = bot.say(f'!freeze prod --reason "release{RLO} 2.0 day"')
    assert reply.ok, reply.text
    assert 'reason = "release 2.0 day"' in bot.show("freezes/prod.toml")
    refused = bot.say("!deploy web 1.0.0 to prod")
    assert '("release 2.0 day")' in refused.text


def test_a_line_separator_in_a_title_becomes_a_space(bot: Bot) -> None:
    assert bot.say("!incident open sev2 Database\u2028Severity: sev1").ok
    assert 'title = "Database Severity: sev1"' in bot.show("incidents/INC-1/incident.toml")


def test_a_user_id_with_a_bidi_control_is_refused(bot: Bot) -> None:
    assert bot.say("!incident open sev2 Database is down").ok
    head = bot.head()
    reply = bot.say(f"!incident assign INC-1 commander @mallory{RLO}:example.org")
    assert reply.error == "usage"
    assert "must be a Matrix user id" in reply.text
    assert bot.head() == head


def test_a_hand_edited_record_cannot_put_bidi_controls_in_a_reply(bot: Bot) -> None:
    bot.edit(
        "freezes/prod.toml",
        f'by = "@alice:example.org"\nsince = 2026-11-26T12:00:00Z\nreason = "a{RLO}b"\n',
    )
    reply = bot.say("!deploy web 1.0.0 to prod")
    assert reply.error == "refused"
    assert not BIDI_CONTROLS & set(reply.text + reply.html)


# Properties over the argument kinds: any text is either refused or checked whole

ONE_LINE = ("app", "env", "version", "sev", "incident", "user", "device", "key", "title")


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(text=st.text())
@example(text="a\u202eb")  # a bidi control in a value any kind lets through
def test_any_text_is_refused_or_gives_a_value_that_checks_again(kind: str, text: str) -> None:
    check: Callable[[str], Any] = KINDS[kind].check
    try:
        value = check(text)
    except ArgError:
        return
    if isinstance(value, str):
        assert not BIDI_CONTROLS & set(value)
        if kind in ONE_LINE:
            assert value.splitlines() in ([value], [])
        if kind not in ("key", "user_or_me"):  # a key's "=" is dropped; "me" stays "me"
            assert check(value) == value


# File modes are set, not left to the umask


@pytest.fixture
def no_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loosest(root: Path, kind: Callable[[Path], bool]) -> int:
    """The union of the permission bits of every path under `root` of that kind."""
    bits = 0
    for path in [root, *root.rglob("*")]:
        if kind(path):
            bits |= mode(path)
    return bits


def test_under_umask_000_the_repo_is_0755_and_0644_at_most(
    tmp_path: Path, clock: Clock, no_umask: None
) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=[ALICE])
    engine = open_engine(paths, clock=clock)
    bot = Bot(paths, engine, clock)
    assert bot.say("!deploy web 1.0.0 to dev").ok
    assert bot.say('!freeze prod --reason "release"').ok
    assert loosest(paths.repo, Path.is_dir) & ~0o755 == 0
    assert loosest(paths.repo, Path.is_file) & ~0o644 == 0
    assert mode(paths.repo / "opsbot.lock") in (0o600, 0o644)
    assert mode(paths.state_dir) == 0o700
    assert mode(paths.signing_key) == 0o600
    assert mode(paths.allowed_signers) == 0o644


def test_a_state_dir_that_was_0777_is_made_0700(tmp_path: Path, no_umask: None) -> None:
    paths = HostPaths.beside(tmp_path / "state")
    paths.state_dir.mkdir(mode=0o777)
    init_repo(paths, admins=[ALICE])
    assert mode(paths.state_dir) == 0o700
    paths.state_dir.chmod(0o777)
    paths.allowed_signers.chmod(0o666)
    open_engine(paths)
    assert mode(paths.state_dir) == 0o700
    assert mode(paths.allowed_signers) == 0o644


# The host config is checked the same way

HOST_PATHS = '[paths]\nrepo = "/var/lib/opsbot/state.git"\nstate_dir = "/var/lib/opsbot"\n'


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ('[http]\nlisten = "127.0.0.1:8²"\n', "is not host:port"),
        ('[http]\nlisten = "127.0.0.1:٨٠"\n', "is not host:port"),
        ('[alerts]\nroom = "!alerts:example.org\\n"\n', "is not a Matrix room id"),
        ('[webhooks."ci\\n"]\nsecret_file = "/run/ci"\n', "a source name is lowercase letters"),
    ],
)
def test_a_bad_host_config_value_is_named_not_a_crash(
    tmp_path: Path, section: str, says: str
) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(HOST_PATHS + section)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert says in refused.value.message


# Properties over whole commands: refused with a usage reply, or records that load back

WHATEVER = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@WHATEVER
@given(title=st.text(min_size=1, max_size=80))
def test_any_incident_title_is_refused_or_stored_so_that_it_loads_back(
    bot: Bot, title: str
) -> None:
    reply = bot.say(f"!incident open sev2 {title}")
    if not reply.ok:
        assert reply.error in ("usage", "too_long"), reply.text
        return
    assert problems(bot) == []
    assert bot.say("!incident list").ok


@WHATEVER
@given(reason=st.text(max_size=80))
def test_any_reason_is_refused_or_stored_so_that_it_loads_back(bot: Bot, reason: str) -> None:
    reply = bot.say(f"!freeze dev --reason {shlex.quote(reason)}")
    if not reply.ok:
        assert reply.error in ("usage", "too_long"), reply.text
        return
    assert problems(bot) == []
    freeze = bot.engine.view().freeze("dev")
    assert freeze is not None
    assert not BIDI_CONTROLS & set(freeze.reason)
    assert freeze.reason.splitlines() in ([freeze.reason], [])
    assert bot.say("!unfreeze dev").ok


# Every command, as its own examples show it, with words changed, added or left out

REGISTRY = default_registry()
WORDS = st.sampled_from(
    [
        *("web", "api", "dev", "staging", "prod", "nowhere", "1.0.0", "v2", "latest"),
        *("to", "in", "from", "for", "2h", "0m", "91d", "all", "open", "cancel"),
        *("--reason", "--dry-run", "--hotfix", "--since", "--until", "--format", "-n"),
        *("--summary", "--sev", "--replace", "--confirm", "--x", "-", "--"),
        *("INC-1", "INC-0", "INC-" + "9" * 30, "sev1", "sev0", "commander", "resolved"),
        *(ALICE, BOB, "me", "bob", "admin", "deployer", "abc1234", "12345678", "9" * 30),
        *("2026-01-01", "csv", "html", "port=8080", "hours=0", "file=../x", "http-check"),
        *("'", '"', "''", "\\", "$(id)", "*", "=", "\u202e", "\u200b", "日本", "\t", "\u2028"),
    ]
)


@st.composite
def typed(draw: st.DrawFn, name: str) -> str:
    """One of `!name`'s examples (or `!name` alone), with up to three words changed."""
    command = REGISTRY.get(name)
    assert command is not None
    fixed = len(name.split())  # the command's own words stay
    words = draw(st.sampled_from([*command.examples, f"!{name}"])).split()
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(fixed, len(words)))
        change = draw(st.sampled_from(["replace", "insert", "drop"]))
        if change == "insert" or at == len(words):
            words.insert(at, draw(WORDS))
        elif change == "replace":
            words[at] = draw(WORDS)
        else:
            del words[at]
    return " ".join(words)


@pytest.mark.parametrize("name", sorted(command.name for command in REGISTRY))
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_command_near_its_examples_is_answered_and_a_refusal_writes_nothing(
    bot: Bot, name: str, data: st.DataObject
) -> None:
    text = data.draw(typed(name))
    head = bot.head()
    reply = bot.say(text)
    assert reply.error != "internal", reply.text
    if not reply.ok:
        assert reply.result["commit"] is None
        assert bot.head() == head
    assert problems(bot) == []
