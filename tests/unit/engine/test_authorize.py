"""Conditions over Matrix: power level, encryption, pinned devices, and !trust."""

import dataclasses
import uuid

from bot.engine.types import Invocation, Reply
from tests.helpers.bot import ALICE, BOB, Bot
from tests.helpers.git import git

KEY = "xF7dQzv2kq0cZb8rY1mJH3nVt6LwPa9eUoSg5iRDfKc"
OTHER_KEY = "AAAAQzv2kq0cZb8rY1mJH3nVt6LwPa9eUoSg5iRDfKc"


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


def test_a_command_below_its_minimum_power_level_is_refused(with_deployer: Bot) -> None:
    bot = with_deployer
    policy = bot.show("policy.toml") + "\n[commands.deploy]\nmin_power_level = 50\n"
    bot.edit("policy.toml", policy)
    reply = over_matrix(bot, "!deploy web 1.0.0 to dev", BOB, power_level=0)
    assert reply.error == "forbidden"
    assert "!deploy needs power level 50 in this room; you have 0" in reply.text
    assert over_matrix(bot, "!deploy web 1.0.0 to dev", BOB, power_level=50).ok


def test_an_unencrypted_room_is_refused_when_the_policy_requires_encryption(bot: Bot) -> None:
    bot.edit("policy.toml", bot.show("policy.toml") + "\n[rooms]\nrequire_encryption = true\n")
    reply = over_matrix(bot, "!status", encrypted=False)
    assert reply.error == "forbidden"
    assert "this room is not encrypted" in reply.text
    assert over_matrix(bot, "!status", encrypted=True).ok


def test_prod_can_require_a_verified_device(bot: Bot) -> None:
    bot.edit(
        "environments/prod.toml",
        bot.show("environments/prod.toml") + "require_verified_device = true\n",
    )
    head = bot.head()
    reply = over_matrix(bot, "!deploy web 1.0.0 to prod", device_id="ALICEPHONE", device_key=KEY)
    assert reply.error == "forbidden"
    assert "needs a verified device" in reply.text
    assert "!trust @alice:example.org ALICEPHONE" in reply.text
    assert bot.head() == head
    assert over_matrix(
        bot, "!deploy web 1.0.0 to staging", device_id="ALICEPHONE", device_key=KEY
    ).ok


def test_trust_pins_the_key_in_policy_toml_and_makes_the_device_verified(bot: Bot) -> None:
    bot.edit(
        "environments/prod.toml",
        bot.show("environments/prod.toml") + "require_verified_device = true\n",
    )
    reply = bot.say(f"!trust {ALICE} ALICEPHONE {KEY}")
    assert reply.ok, reply.text
    assert f'[devices."{ALICE}"]\nALICEPHONE = "{KEY}"' in bot.show("policy.toml")
    assert git(bot.repo, "log", "-1", "--format=%s").startswith(f"trust: {ALICE} device ALICEPHONE")
    assert over_matrix(bot, "!deploy web 1.0.0 to prod", device_id="ALICEPHONE", device_key=KEY).ok


def test_a_device_presenting_another_key_than_the_pinned_one_is_not_verified(bot: Bot) -> None:
    bot.edit(
        "environments/prod.toml",
        bot.show("environments/prod.toml") + "require_verified_device = true\n",
    )
    bot.say(f"!trust {ALICE} ALICEPHONE {KEY}")
    reply = over_matrix(
        bot, "!deploy web 1.0.0 to prod", device_id="ALICEPHONE", device_key=OTHER_KEY
    )
    assert reply.error == "forbidden"


def test_trust_without_a_key_uses_the_key_the_bot_has_seen(bot: Bot) -> None:
    class Seen:
        def key_of(self, user_id: str, device_id: str) -> str | None:
            return KEY if (user_id, device_id) == (BOB, "BOBPHONE") else None

    bot.engine.devices = Seen()
    assert bot.say(f"!trust {BOB} BOBPHONE").ok
    assert f'BOBPHONE = "{KEY}"' in bot.show("policy.toml")
    unknown = bot.say(f"!trust {BOB} LAPTOP")
    assert unknown.error == "refused"
    assert f"give its key, as their client shows it: !trust {BOB} LAPTOP <key>" in unknown.text


def test_only_admins_may_trust_devices(with_deployer: Bot) -> None:
    reply = with_deployer.say(f"!trust {BOB} BOBPHONE {KEY}", sender=BOB)
    assert reply.error == "forbidden"


def test_invites_are_accepted_from_admins_only_by_default(with_deployer: Bot) -> None:
    assert with_deployer.engine.may_invite(ALICE)
    assert not with_deployer.engine.may_invite(BOB)
