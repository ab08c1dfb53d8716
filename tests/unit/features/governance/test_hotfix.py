"""`--hotfix INC-<n>`: an emergency change past a freeze and the approvals, only while the
incident is open at a severity the policy names, for roles granted `hotfix`, never past
someone else's lock; recorded, put on the incident's timeline, announced, and reviewed after."""

import pytest

from bot.core.effects import Notify
from tests.helpers.bot import ALICE, BOB, CAROL, Bot
from tests.helpers.cli import opsbot
from tests.helpers.git import git

POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.oncall]
members = ["{BOB}"]
commands = ["deploy", "rollback", "approve", "hotfix", "incident open", "lock"]

[roles.deployer]
members = ["{CAROL}"]
commands = ["deploy", "approve", "reject", "proposals", "lock"]

[rooms]
announce = ["!ann:example.org"]
"""
HOTFIX = '!deploy web 1.4.3 to prod --hotfix INC-1 --reason "fixes the login loop"'


@pytest.fixture
def incident(bot: Bot) -> Bot:
    """An open sev1 incident, INC-1, and a frozen prod that needs an approval."""
    bot.edit("policy.toml", POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    assert bot.say("!incident open sev1 Logins fail", sender=BOB).ok
    assert bot.say("!freeze prod").ok
    return bot


def test_a_hotfix_lands_on_main_through_a_freeze_and_without_approvals(incident: Bot) -> None:
    reply = incident.say(HOTFIX, sender=BOB)
    assert reply.ok, reply.text
    assert reply.text.startswith(
        "deploy: web 1.4.3 to prod; hotfix for INC-1 past the freeze and the approvals: "
        "review 1 is open, due 2026-11-27 12:00 UTC (!approve 1, by someone else)"
    )
    assert reply.commit == incident.head()
    record = incident.show("deployments/prod/web.toml")
    assert 'hotfix = "INC-1"' in record
    assert 'reason = "fixes the login loop"' in record


def test_the_hotfix_commit_carries_a_trailer_for_people(incident: Bot) -> None:
    incident.say(HOTFIX, sender=BOB)
    assert "Opsbot-Hotfix: INC-1" in git(incident.repo, "log", "-1", "--format=%B")


def test_the_incidents_timeline_gets_the_hotfix_in_the_same_commit(incident: Bot) -> None:
    incident.say(HOTFIX, sender=BOB)
    changed = git(incident.repo, "show", "--name-only", "--format=", "main").split()
    assert any(path.startswith("incidents/INC-1/timeline/") for path in changed)
    shown = incident.say("!incident show INC-1").text
    assert "hotfix: deploy web 1.4.3 to prod past the freeze and the approvals" in shown


def test_a_hotfix_is_announced(incident: Bot) -> None:
    incident.say(HOTFIX, sender=BOB)
    told = [
        o.effect
        for o in incident.engine.ledger.due()
        if isinstance(o.effect, Notify) and o.effect.announce and "hotfix" in o.effect.text
    ]
    assert len(told) == 1
    assert told[0].text.startswith(
        f"hotfix for INC-1 (sev1, Logins fail): {BOB} made deploy web 1.4.3 to prod"
    )


def test_a_review_proposal_opens_at_once_on_top_of_the_hotfix_commit(incident: Bot) -> None:
    sha = incident.say(HOTFIX, sender=BOB).commit
    assert git(incident.repo, "rev-parse", "proposals/1~1").strip() == sha
    record = incident.show("proposals/1.toml", "proposals/1")
    assert 'kind = "review"' in record
    assert f'reviews = "{sha}"' in record
    assert 'hotfix = "INC-1"' in record
    assert "due = 2026-11-27T12:00:00Z" in record
    assert f'requested_by = "{BOB}"' in record


def test_someone_else_approving_the_review_marks_the_hotfix_reviewed(incident: Bot) -> None:
    incident.say(HOTFIX, sender=BOB)
    assert "someone else must approve" in incident.say("!approve 1", sender=BOB).text
    reply = incident.say("!approve 1", sender=CAROL)
    assert reply.ok, reply.text
    assert 'status = "merged"' in incident.show("proposals/1.toml")
    assert f'approved_by = ["{CAROL}"]' in incident.show("proposals/1.toml")
    assert 'version = "1.4.3"' in incident.show("deployments/prod/web.toml")


def test_a_review_cannot_be_rejected(incident: Bot) -> None:
    incident.say(HOTFIX, sender=BOB)
    reply = incident.say("!reject 1", sender=CAROL)
    assert not reply.ok
    assert "review of a change already made" in reply.text


def test_unreviewed_hotfixes_are_listed_by_proposals_and_status(incident: Bot) -> None:
    incident.say(HOTFIX, sender=BOB)
    listed = incident.say("!proposals", sender=CAROL).text
    assert listed == (
        f"1: review: hotfix deploy web 1.4.3 to prod for INC-1 by {BOB} "
        "(0 of 1 approvals, review due 2026-11-27 12:00 UTC)"
    )
    incident.clock.advance(hours=25)
    status = incident.say("!status").text
    assert f"  web 1.4.3 (by {BOB}, 1d ago) [hotfix for INC-1]" in status
    assert "(0 of 1, review overdue since 12:00 UTC)" in status


def test_a_rollback_may_be_a_hotfix_too(incident: Bot) -> None:
    incident.edit("environments/prod.toml", "order = 3\n")
    incident.say("!unfreeze prod")
    assert incident.say("!deploy web 1.0.0 to prod", sender=CAROL).ok
    incident.say(HOTFIX, sender=BOB)
    reply = incident.say('!rollback web in prod --hotfix INC-1 --reason "made it worse"', BOB)
    assert reply.ok, reply.text
    assert 'version = "1.0.0"' in incident.show("deployments/prod/web.toml")


@pytest.mark.parametrize(
    ("before", "who", "says"),
    [
        ([], CAROL, 'may not make hotfixes in prod; ask an admin for a role with "hotfix"'),
        (["!incident resolve INC-1"], BOB, "INC-1 is resolved: a hotfix needs an open incident"),
        (["!incident sev INC-1 sev3"], BOB, "INC-1 is sev3; hotfixes are for sev1, sev2"),
        (
            ["!lock prod --reason 'moving the database'"],
            BOB,
            "prod is locked by @alice:example.org",
        ),
    ],
)
def test_a_hotfix_is_refused(incident: Bot, before: list[str], who: str, says: str) -> None:
    for command in before:
        assert incident.say(command).ok
    head = incident.head()
    reply = incident.say(HOTFIX, sender=who)
    assert not reply.ok
    assert says in reply.text
    assert incident.head() == head
    assert "proposals/" not in git(incident.repo, "branch", "-a")


def test_a_hotfix_needs_a_reason(incident: Bot) -> None:
    reply = incident.say("!deploy web 1.4.3 to prod --hotfix INC-1", sender=BOB)
    assert "a hotfix needs a reason" in reply.text


def test_a_hotfix_for_an_incident_that_does_not_exist_is_refused(incident: Bot) -> None:
    reply = incident.say(HOTFIX.replace("INC-1", "INC-9"), sender=BOB)
    assert "no incident INC-9" in reply.text


def test_the_severities_a_hotfix_needs_come_from_the_policy(incident: Bot) -> None:
    incident.say("!incident sev INC-1 sev3")
    incident.edit("policy.toml", POLICY + '\n[hotfix]\nseverities = ["sev3"]\n')
    assert incident.say(HOTFIX, sender=BOB).ok


def test_the_review_deadline_comes_from_the_policy(incident: Bot) -> None:
    incident.edit("policy.toml", POLICY + "\n[hotfix]\nreview_within_hours = 4\n")
    incident.say(HOTFIX, sender=BOB)
    assert "due = 2026-11-26T16:00:00Z" in incident.show("proposals/1.toml", "proposals/1")


def test_a_hotfix_passes_a_freeze_window_on_the_calendar(incident: Bot) -> None:
    incident.say("!unfreeze prod")
    window = '[[windows]]\nname = "all-day"\ntimezone = "UTC"\ndates = [2026-11-26]\n'
    incident.edit("environments/prod.toml", "order = 3\n" + window)
    assert "freeze until" in incident.say("!deploy web 1.4.3 to prod", sender=BOB).text
    assert incident.say(HOTFIX, sender=BOB).ok


def test_opsbot_check_names_a_severity_that_is_not_one(incident: Bot) -> None:
    incident.edit("policy.toml", POLICY + '\n[hotfix]\nseverities = ["sev1", "urgent"]\n')
    result = opsbot("check", "--repo", str(incident.repo))
    assert result.returncode == 1
    assert (
        "policy.toml: hotfix.severities: 'urgent' is not one of "
        "('sev1', 'sev2', 'sev3', 'sev4', 'sev5')" in result.stdout
    )
    assert incident.say(HOTFIX, sender=BOB).ok  # sev1 still reads


def test_a_hotfix_section_that_is_not_a_table_lets_no_hotfix_pass(incident: Bot) -> None:
    incident.edit("policy.toml", 'hotfix = "sev1"\n' + POLICY)
    reply = incident.say(HOTFIX, sender=BOB)
    assert not reply.ok
    assert "hotfixes are for no severity ([hotfix] severities in policy.toml)" in reply.text


def test_a_misspelt_hotfix_section_closes_the_policy(incident: Bot) -> None:
    incident.edit("policy.toml", POLICY + '\n[hotfixes]\nseverities = ["sev3"]\n')
    reply = incident.say(HOTFIX, sender=BOB)
    assert not reply.ok
    assert "[hotfixes] is not a section opsbot knows" in reply.text
