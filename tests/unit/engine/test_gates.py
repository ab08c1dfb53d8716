"""A feature gates every change to an environment that another feature makes, adds options to
its commands and lines to its replies, without that feature naming it."""

from pathlib import Path

import pytest

from bot.config import HostPaths
from bot.core.errors import Refused
from bot.engine.context import Addendum, Clearance, Context, EnvChange
from bot.engine.feature import Feature
from bot.engine.grammar import Option
from bot.engine.registry import CommandRegistry, OptionFor
from bot.features.catalog import FEATURES
from bot.service.assemble import init_repo, open_engine
from tests.helpers.bot import ALICE, Bot, Clock


def no_api_on_fridays(ctx: Context, change: EnvChange, so_far: Clearance) -> Clearance:
    if "api" in change.apps and not ctx.args.get("anyway"):
        raise Refused(f"no {change.command} of api to {change.env} today", hint="--anyway")
    return so_far


GATED = Feature(
    "gated",
    options=(OptionFor(("deploy",), Option("--anyway", "anyway", "", "pass the gate")),),
    gates=(no_api_on_fridays,),
    addenda=(Addendum("status", lambda ctx: ["gated: api waits on fridays"]),),
)


@pytest.fixture
def gated(tmp_path: Path, clock: Clock) -> Bot:
    paths = HostPaths.beside(tmp_path / "state")
    init_repo(paths, admins=[ALICE])
    return Bot(paths, open_engine(paths, clock=clock, features=(*FEATURES, GATED)), clock)


def test_a_gate_refuses_a_change_another_feature_makes(gated: Bot) -> None:
    head = gated.head()
    reply = gated.say("!deploy api 2.0.0 to prod")
    assert reply.text == "refused: no deploy of api to prod today; --anyway"
    assert gated.head() == head
    assert gated.say("!deploy web 2.0.0 to prod").ok


def test_an_option_a_feature_adds_reaches_its_gate(gated: Bot) -> None:
    assert gated.say("!deploy api 2.0.0 to prod --anyway").ok


def test_an_addendum_ends_the_reply_it_names(gated: Bot) -> None:
    assert gated.say("!status").text.splitlines()[-1] == "gated: api waits on fridays"


def test_an_option_for_a_command_nobody_declared_is_refused() -> None:
    with pytest.raises(ValueError, match="not declared"):
        CommandRegistry([], [], [OptionFor(("nothing",), Option("--x", "x", "", "x"))])
