"""Random histories of the state repo: the bot's own commits, pushes, force-pushes, a proposal
branch moved onto main, adopts, discards and restarts. Whatever happens, what is in force is a tip
opsbot wrote (an adopt or a discard is one), and every change made outside is announced once."""

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import HostPaths
from bot.service.assemble import init_repo, open_engine
from bot.service.watch import Watcher
from tests.helpers.bot import ALICE, BOB, Bot, Clock
from tests.helpers.git import git
from tests.helpers.outside import outside_commits
from tests.helpers.policies import GATED_POLICY

ACTIONS = (
    "deploy",
    "propose",
    "adopt",
    "discard",
    "restart",
    "push",
    "orphan",
    "rewind",
    "onto_proposal",
)


class History:
    """One repo, its bot and a watcher, driven step by step; `ours` are the tips opsbot wrote."""

    def __init__(self, root: Path) -> None:
        paths = HostPaths.beside(root / "state")
        init_repo(paths, admins=[ALICE])
        clock = Clock()
        self.bot = Bot(paths, open_engine(paths, clock=clock), clock)
        self.bot.edit("policy.toml", GATED_POLICY)
        self.bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
        self.ours = {self.bot.head()}
        self.said: list[str] = []
        self.watcher = self._watcher()
        self.step(0)
        self.versions = 0

    def _watcher(self) -> Watcher:
        async def announce(text: str) -> None:
            self.said.append(text)

        return Watcher(
            self.bot.engine.repo, self.bot.paths.state_dir / "seen", announce, lambda: None
        )

    def step(self, announcements: int) -> None:
        """The watcher looks once: it announces `announcements` times (0 or 1)."""
        before = len(self.said)
        asyncio.run(self.watcher.check())
        assert len(self.said) - before == announcements, self.said[before:]
        assert self.bot.engine.repo.trust().commit in self.ours

    def move_main(self, to: str) -> None:
        git(self.bot.repo, "update-ref", "refs/heads/main", to)
        self.step(1)

    def run(self, action: str, pick: int) -> None:
        bot, trust = self.bot, self.bot.engine.repo.trust()
        self.versions += 1
        if action == "deploy":
            head = bot.head()
            reply = bot.say(f"!deploy web 1.{self.versions}.0 to dev")
            if trust.clean:
                assert reply.ok, reply.text
                self.ours.add(bot.head())
            else:
                assert reply.error == "outside_commits" and bot.head() == head
            self.step(0)
        elif action == "propose":
            reply = bot.say(f"!deploy web 9.{self.versions}.0 to prod", sender=BOB)
            assert reply.ok or reply.error == "outside_commits", reply.text
            self.step(0)
        elif action == "adopt" and trust.outside:
            chosen = trust.outside[pick % len(trust.outside)].id.decode()
            reply = bot.say(f"!adopt {chosen[:12]}")
            assert reply.ok, reply.text
            self.ours.add(bot.head())
            self.step(0)
        elif action == "discard" and not trust.clean:
            reply = bot.say("!discard")
            assert reply.ok, reply.text
            self.ours.add(bot.head())
            assert bot.engine.repo.trust().clean
            self.step(0)
        elif action == "restart":
            bot.engine.ledger.close()
            bot.engine = open_engine(bot.paths, clock=bot.clock)
            self.watcher = self._watcher()
            self.step(0)
        elif action == "push":
            self.move_main(outside_commits(bot.repo, bot.head(), 1 + pick % 3, {"n.txt": "x"}))
        elif action == "orphan":  # history rewritten: main's files, no parent
            tree = git(bot.repo, "rev-parse", "main^{tree}").strip()
            who = ["-c", "user.name=Mallory", "-c", "user.email=mallory@example.org"]
            orphan = git(bot.repo, *who, "commit-tree", tree, "-m", f"rewritten {uuid.uuid4()}")
            self.move_main(orphan.strip())
        elif action == "rewind":
            older = sorted(self.ours - {bot.head()})
            if older:
                self.move_main(older[pick % len(older)])
        elif action == "onto_proposal":
            refs = git(bot.repo, "for-each-ref", "--format=%(objectname)", "refs/heads/proposals")
            tips = [tip for tip in refs.split() if tip != bot.head()]
            if tips:
                self.move_main(tips[pick % len(tips)])


# The same histories on every run: a suite that is red one run in ten helps nobody.
@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 7)), min_size=1, max_size=8))
def test_in_force_is_always_a_tip_opsbot_wrote_and_each_outside_change_is_announced_once(
    steps: list[tuple[str, int]],
) -> None:
    root = Path(tempfile.mkdtemp())
    history = History(root)
    try:
        for action, pick in steps:
            history.run(action, pick)
    finally:
        history.bot.engine.ledger.close()
        shutil.rmtree(root, ignore_errors=True)
