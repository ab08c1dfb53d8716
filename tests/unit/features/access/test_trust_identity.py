"""People trusted by identity: a pinned master key vouches for every device it cross-signed."""

import dataclasses
import uuid

from bot.core.effects import Notify
from bot.engine.types import Invocation, Reply
from bot.features.access.trust_policy import CONFIRM_KEYS
from bot.features.catalog import policy_sections
from bot.state.policy import decode_policy
from tests.helpers.bot import ALICE, BOB, Bot
from tests.helpers.git import git

MASTER = "9Kd0c3XqOoSbX2hNwV8yPp5m1FzR7tLgUjY4aHeBiCw"
NEW_MASTER = "Zz00c3XqOoSbX2hNwV8yPp5m1FzR7tLgUjY4aHeBiCw"
DEVICE_KEY = "xF7dQzv2kq0cZb8rY1mJH3nVt6LwPa9eUoSg5iRDfKc"


def strict_prod(bot: Bot) -> None:
    bot.edit(
        "environments/prod.toml",
        bot.show("environments/prod.toml") + "require_verified_device = true\n",
    )


def deploy_to_prod(bot: Bot, **facts: object) -> Reply:
    invocation = Invocation(
        sender=ALICE,
        text="!deploy web 1.0.0 to prod",
        event_id=f"${uuid.uuid4().hex}",
        received_at=bot.clock(),
        room_id="!ops:example.org",
        transport="matrix",
        device_id="ALICELAPTOP",
        device_key=DEVICE_KEY,
    )
    reply = bot.engine.run(dataclasses.replace(invocation, **facts))  # type: ignore[arg-type]
    assert reply is not None
    return reply


def announcements(bot: Bot) -> list[tuple[str, Notify]]:
    return [
        (o.identity, o.effect)
        for o in bot.engine.ledger.due()
        if isinstance(o.effect, Notify) and o.effect.announce
    ]


class Seen:
    def __init__(self, masters: dict[str, str]) -> None:
        self.masters = masters

    def master_of(self, user_id: str) -> str | None:
        return self.masters.get(user_id)


def test_trust_without_a_device_pins_the_master_key_the_bot_has_seen(bot: Bot) -> None:
    bot.engine.identities = Seen({BOB: MASTER})
    reply = bot.say(f"!trust {BOB}")
    assert reply.ok, reply.text
    assert f'[identities]\n"{BOB}" = "{MASTER}"' in bot.show("policy.toml")
    assert "9Kd0 c3Xq" in reply.text  # the fingerprint, to compare with the person's client
    assert git(bot.repo, "log", "-1", "--format=%s").startswith(f"trust: {BOB} identity")
    assert decode_policy(bot.show("policy.toml")).pinned_identity(BOB) == MASTER
    again = bot.say(f"!trust {BOB}")
    assert again.error == "refused" and "already trusted" in again.text


def test_trust_without_a_device_and_no_identity_seen_asks_for_the_key(bot: Bot) -> None:
    bot.engine.identities = Seen({})
    reply = bot.say(f"!trust {BOB}")
    assert reply.error == "refused"
    assert f"!trust {BOB} <key>" in reply.text
    assert bot.say(f"!trust {BOB} {MASTER}").ok  # the key given, as the person's client shows it
    assert decode_policy(bot.show("policy.toml")).pinned_identity(BOB) == MASTER


def test_a_cross_signed_device_of_a_pinned_identity_is_verified(bot: Bot) -> None:
    strict_prod(bot)
    bot.say(f"!trust {ALICE} {MASTER}")
    reply = deploy_to_prod(bot, master_key=MASTER, device_cross_signed=True)
    assert reply.ok, reply.text


def test_a_device_the_pinned_identity_did_not_sign_is_not_verified(bot: Bot) -> None:
    strict_prod(bot)
    head = bot.say(f"!trust {ALICE} {MASTER}").commit
    reply = deploy_to_prod(bot, master_key=MASTER, device_cross_signed=False)
    assert reply.error == "forbidden"
    assert "is not signed by your cross-signing identity" in reply.text
    assert bot.head() == head


def test_a_device_without_the_identity_pinned_is_not_verified_by_cross_signing(bot: Bot) -> None:
    strict_prod(bot)
    reply = deploy_to_prod(bot, master_key=MASTER, device_cross_signed=True)
    assert reply.error == "forbidden"
    assert f"!trust {ALICE} (your identity)" in reply.text


def test_a_changed_master_key_is_refused_said_and_announced_once(bot: Bot) -> None:
    strict_prod(bot)
    bot.say(f"!trust {ALICE} {MASTER}")
    reply = deploy_to_prod(bot, master_key=NEW_MASTER, device_cross_signed=True)
    assert reply.error == "forbidden"
    assert "your cross-signing identity changed" in reply.text
    assert "9Kd0 c3Xq" in reply.text and "Zz00 c3Xq" in reply.text  # old and new
    assert f"!trust {ALICE} {NEW_MASTER}" in reply.text  # how an admin re-trusts
    deploy_to_prod(bot, master_key=NEW_MASTER, device_cross_signed=True)
    bot.engine.identity_seen(ALICE, NEW_MASTER)
    announced = announcements(bot)
    assert [identity for identity, _ in announced] == [f"identity-changed:{ALICE}:{NEW_MASTER}"]
    assert f"!trust {ALICE} {NEW_MASTER}" in announced[0][1].text
    assert bot.say(f"!trust {ALICE} {NEW_MASTER}").ok  # re-trusted
    assert deploy_to_prod(bot, master_key=NEW_MASTER, device_cross_signed=True).ok


def test_a_pinned_device_key_still_verifies_without_cross_signing(bot: Bot) -> None:
    strict_prod(bot)
    bot.say(f"!trust {ALICE} ALICELAPTOP {DEVICE_KEY}")
    assert deploy_to_prod(bot).ok


def test_an_identity_that_is_not_a_key_is_skipped_and_reported() -> None:
    policy = decode_policy(f'[identities]\n"{ALICE}" = "short"\n"{BOB}" = "{MASTER}"\n')
    assert policy.pinned_identity(ALICE) is None
    assert policy.pinned_identity(BOB) == MASTER
    assert [p.field for p in policy.problems] == [f"identities.{ALICE}"]


def test_where_the_policy_asks_for_it_a_seen_key_is_shown_not_pinned(bot: Bot) -> None:
    bot.edit("policy.toml", bot.show("policy.toml") + "\n[trust]\nconfirm_keys = true\n")
    bot.engine.identities = Seen({BOB: MASTER})
    head = bot.head()

    shown = bot.say(f"!trust {BOB}")

    assert shown.error == "refused", shown.text
    assert "9Kd0 c3Xq" in shown.text and f"!trust {BOB} {MASTER}" in shown.text
    assert bot.head() == head
    confirmed = bot.say(f"!trust {BOB} {MASTER}")
    assert confirmed.ok, confirmed.text
    assert decode_policy(bot.show("policy.toml")).pinned_identity(BOB) == MASTER


def test_confirm_keys_must_be_true_or_false_and_is_on_when_it_is_not() -> None:
    policy = decode_policy(
        '[roles.admin]\nmembers = []\n[trust]\nconfirm_keys = "yes"\n', sections=policy_sections()
    )
    assert [p.field for p in policy.problems] == ["trust.confirm_keys"]
    assert policy.section(CONFIRM_KEYS)
