"""The policy, what chat may write into it, and the limits of a role, under attack.

Who may act is policy.toml: only admins change who is trusted or who may do what; nothing a
homeserver or a person sends is written into it unchecked; one bad entry is skipped and
reported, never granting more, and never stopping the admins from repairing it; and a role
limited to some environments acts in no other, however a command reaches one.
"""

import dataclasses
import uuid

import pytest

from bot.cli import main
from bot.engine.types import Invocation, Reply
from bot.state.policy import decode_policy
from bot.transport.matrix.cross_signing_keys import CrossSigningKeys
from bot.transport.matrix.people import person_keys
from tests.helpers.bot import ALICE, BOB, MALLORY, Bot
from tests.helpers.git import git
from tests.helpers.gitops import declare

MASTER = "9Kd0c3XqOoSbX2hNwV8yPp5m1FzR7tLgUjY4aHeBiCw"
CAROL = "@carol:example.org"

# Bob may run every command, but only in dev.
DEV_ONLY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.devops]
members = ["{BOB}"]
commands = ["*"]
environments = ["dev"]
"""

DEPLOYER = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}"]
commands = ["deploy"]
environments = ["dev", "staging"]
"""


class Seen:
    """The master keys the transport last queried, as the homeserver passed them on."""

    def __init__(self, masters: dict[str, str]) -> None:
        self.masters = masters

    def master_of(self, user_id: str) -> str | None:
        return self.masters.get(user_id)


def over_matrix(bot: Bot, text: str, sender: str = ALICE, **facts: object) -> Reply:
    invocation = Invocation(
        sender=sender,
        text=text,
        event_id=f"${uuid.uuid4().hex}",
        received_at=bot.clock(),
        room_id="!ops:example.org",
        transport="matrix",
    )
    reply = bot.engine.run(dataclasses.replace(invocation, **facts))  # type: ignore[arg-type]
    assert reply is not None
    return reply


def refused_and_unwritten(bot: Bot, reply: Reply, head: str, error: str) -> None:
    assert (reply.ok, reply.error, reply.commit) == (False, error, None), reply.text
    assert git(bot.repo, "rev-parse", "main").strip() == head


# Only admins decide who is trusted and who may do what


def test_trust_is_refused_to_a_role_with_every_command_but_limited_to_dev(bot: Bot) -> None:
    bot.edit("policy.toml", DEV_ONLY)
    head = bot.head()

    reply = bot.say(f"!trust {ALICE} {MASTER}", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert "only admins may run !trust" in reply.text
    assert "ask an admin" in reply.text
    assert bot.show("policy.toml") == DEV_ONLY


def test_every_command_that_changes_who_is_trusted_or_may_act_is_for_admins_only(
    bot: Bot,
) -> None:
    deciding = ("grant", "revoke", "trust", "adopt", "discard")
    for name in deciding:
        command = bot.engine.registry.get(name)
        assert command is not None and command.admin_only, f"!{name} is not admins' only"


# Keys are checked where they arrive and before they are written


def test_a_master_key_ending_in_a_newline_from_the_homeserver_is_not_pinned(bot: Bot) -> None:
    bot.engine.identities = Seen({BOB: MASTER + "\r\n"})
    head = bot.head()

    reply = bot.say(f"!trust {BOB}")

    refused_and_unwritten(bot, reply, head, "refused")
    assert "is not an Ed25519 key" in reply.text
    assert f"!trust {BOB} <key>" in reply.text
    assert "[identities]" not in bot.show("policy.toml")


def test_the_transport_takes_no_master_key_that_is_not_a_key() -> None:
    keys = CrossSigningKeys.generate(BOB)
    body = keys.upload_body()
    master = body["master_key"]
    master["keys"] = {name: key + "\r\n" for name, key in master["keys"].items()}
    answer = {"master_keys": {BOB: master}, "self_signing_keys": {BOB: body["self_signing_key"]}}

    assert person_keys(answer, BOB).master is None


def test_a_typed_device_key_that_is_not_32_bytes_of_base64_is_refused(bot: Bot) -> None:
    head = bot.head()
    not_a_key = "e" * 43  # base64 whose last character carries bits no 32 bytes have

    reply = bot.say(f"!trust {BOB} BOBPHONE {not_a_key}")

    refused_and_unwritten(bot, reply, head, "usage")
    assert "ed25519 key" in reply.text and "!trust" in reply.text


# One bad entry is skipped and reported; the rest stays in force


def test_one_bad_pinned_identity_leaves_the_rest_of_the_policy_in_force(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.edit("policy.toml", DEPLOYER + f'\n[identities]\n"{CAROL}" = "{MASTER}\\r\\n"\n')

    assert bot.say("!deploy web 1.4.2 to dev", sender=BOB).ok
    repaired = bot.say(f"!trust {CAROL} {MASTER}")

    assert repaired.ok, repaired.text
    assert decode_policy(bot.show("policy.toml")).pinned_identity(CAROL) == MASTER
    assert decode_policy(bot.show("policy.toml")).problems == ()
    bot.edit("policy.toml", DEPLOYER + f'\n[identities]\n"{CAROL}" = "{MASTER}\\r\\n"\n')
    assert main(["check", "--repo", str(bot.repo)]) == 1
    assert f"policy.toml: identities.{CAROL}: must be the master key" in capsys.readouterr().out


def test_a_pushed_policy_with_a_bad_entry_is_adopted_reported_and_repairable(bot: Bot) -> None:
    pushed = bot.push(
        {"policy.toml": DEPLOYER + f'\n[identities]\n"{CAROL}" = "{MASTER}\\r\\n"\n'}, "keys"
    )

    adopted = bot.say(f"!adopt {pushed[:7]}")

    assert adopted.ok, adopted.text
    assert f"identities.{CAROL}: must be the master key" in adopted.text
    repaired = bot.say(f"!trust {CAROL} {MASTER}")
    assert repaired.ok, repaired.text
    assert bot.say("!deploy web 1.4.2 to staging", sender=BOB).ok


def test_a_role_whose_environments_cannot_be_read_grants_nothing(bot: Bot) -> None:
    bot.edit(
        "policy.toml", DEPLOYER.replace('environments = ["dev", "staging"]', 'environments = "dev"')
    )
    head = bot.head()

    reply = bot.say("!deploy web 1.4.2 to dev", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert bot.say("!deploy web 1.4.2 to dev").ok  # the admin still acts, and can repair it


def test_a_role_with_a_misspelt_limit_grants_nothing(bot: Bot) -> None:
    bot.edit("policy.toml", DEPLOYER.replace("environments =", "environment ="))
    head = bot.head()

    reply = bot.say("!deploy web 1.4.2 to prod", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert bot.say("!deploy web 1.4.2 to prod").ok


def test_a_command_condition_that_cannot_be_read_leaves_the_command_to_admins(bot: Bot) -> None:
    bot.edit("policy.toml", DEPLOYER + '\n[commands.deploy]\nrequire_verified_device = "yes"\n')
    head = bot.head()

    reply = bot.say("!deploy web 1.4.2 to dev", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert "[commands.deploy] require_verified_device cannot be read" in reply.text
    assert "opsbot check" in reply.text
    assert bot.say("!deploy web 1.4.2 to dev").ok


def test_an_unknown_section_may_be_a_misspelt_condition_and_leaves_commands_to_admins(
    bot: Bot,
) -> None:
    bot.edit("policy.toml", DEPLOYER + "\n[comands.deploy]\nmin_power_level = 100\n")
    head = bot.head()

    reply = bot.say("!deploy web 1.4.2 to dev", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert "[comands] is not a section opsbot knows" in reply.text
    assert bot.say("!deploy web 1.4.2 to dev").ok


def test_require_encryption_that_cannot_be_read_requires_encryption(bot: Bot) -> None:
    bot.edit("policy.toml", bot.show("policy.toml") + '\n[rooms]\nrequire_encryption = "yes"\n')

    refused = over_matrix(bot, "!status", encrypted=False)

    assert refused.error == "forbidden" and "this room is not encrypted" in refused.text
    assert over_matrix(bot, "!status", encrypted=True).ok


def test_a_member_that_is_not_a_user_id_is_skipped_and_the_role_kept(bot: Bot) -> None:
    bot.edit("policy.toml", DEPLOYER.replace(f'members = ["{BOB}"]', f'members = ["bob", "{BOB}"]'))

    assert bot.say("!deploy web 1.4.2 to dev", sender=BOB).ok
    assert bot.say("!deploy web 1.4.2 to dev", sender=MALLORY).error == "forbidden"


# The last admin is a person, not an entry


def test_an_admin_listed_twice_is_still_the_last_admin(bot: Bot) -> None:
    bot.edit("policy.toml", f'[roles.admin]\nmembers = ["{ALICE}", "{ALICE}"]\n')
    head = bot.head()

    reply = bot.say(f"!revoke {ALICE} admin")

    refused_and_unwritten(bot, reply, head, "refused")
    assert "is the last admin" in reply.text
    assert "!grant another person admin first" in reply.text


# !incident cause acts in the environment of the deploy it names


RESPONDER = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.responder]
members = ["{BOB}"]
commands = ["incident cause"]
environments = ["dev"]

[roles.everyone]
members = ["*"]
commands = ["incident open"]
"""


def deployed_and_declared(bot: Bot) -> dict[str, str]:
    shas = {}
    for env in ("dev", "prod"):
        reply = bot.say(f"!deploy web 1.0 to {env}")
        assert reply.ok and reply.commit, reply.text
        shas[env] = reply.commit
    bot.clock.advance(minutes=5)
    assert bot.say("!incident open sev2 Login fails").ok
    bot.edit("policy.toml", RESPONDER)
    return shas


def test_a_role_limited_to_dev_cannot_name_a_prod_deploy_as_a_cause(bot: Bot) -> None:
    shas = deployed_and_declared(bot)
    head = bot.head()

    by_commit = bot.say(f"!incident cause INC-1 {shas['prod'][:7]}", sender=BOB)
    by_name = bot.say("!incident cause INC-1 web prod", sender=BOB)

    refused_and_unwritten(bot, by_commit, head, "forbidden")
    refused_and_unwritten(bot, by_name, head, "forbidden")
    assert f"{BOB} may not run !incident cause in prod" in by_commit.text
    assert "cause" not in bot.show("incidents/INC-1/incident.toml")
    assert bot.say("!incident cause INC-1 web dev", sender=BOB).ok


def test_a_role_limited_to_dev_cannot_take_a_cause_away_from_prod(bot: Bot) -> None:
    shas = deployed_and_declared(bot)
    assert bot.say("!incident cause INC-1 web prod").ok
    head = bot.head()

    reply = bot.say("!incident cause INC-1 web dev", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert f'cause = "{shas["prod"]}"' in bot.show("incidents/INC-1/incident.toml")


# Durations are bounded where they are read


@pytest.mark.parametrize("duration", ["99999999999999999999w", "9" * 4000 + "m"])
def test_a_duration_beyond_the_longest_is_refused_not_an_internal_error(
    bot: Bot, duration: str
) -> None:
    head = bot.head()

    reply = bot.say(f"!freeze dev for {duration}")

    refused_and_unwritten(bot, reply, head, "usage")
    assert "at most 90d" in reply.text
    assert "!freeze <env> [for <duration>]" in reply.text


# A render writes only where the role may act


def test_a_dev_deployer_cannot_write_prod_s_file_through_gitops_paths(bot: Bot) -> None:
    declare(bot)
    web = bot.show("apps/web.toml")
    bot.edit(
        "apps/web.toml", web + '\n[gitops.paths]\ndev = "deploy/prod/web/kustomization.yaml"\n'
    )
    bot.edit("policy.toml", DEPLOYER)
    overlay, head = bot.show("deploy/prod/web/kustomization.yaml"), bot.head()

    reply = bot.say("!deploy web 6.6.6 to dev", sender=BOB)

    refused_and_unwritten(bot, reply, head, "forbidden")
    assert f"{BOB} may not run !deploy in prod" in reply.text
    assert bot.show("deploy/prod/web/kustomization.yaml") == overlay
    assert bot.say("!deploy web 6.6.6 to dev").ok  # an admin may act in both


def test_a_frozen_prod_stops_a_dev_deploy_that_writes_its_file(bot: Bot) -> None:
    declare(bot)
    web = bot.show("apps/web.toml")
    bot.edit(
        "apps/web.toml", web + '\n[gitops.paths]\ndev = "deploy/prod/web/kustomization.yaml"\n'
    )
    assert bot.say("!freeze prod").ok
    head = bot.head()

    reply = bot.say("!deploy web 6.6.6 to dev")

    refused_and_unwritten(bot, reply, head, "refused")
    assert "prod is frozen" in reply.text
