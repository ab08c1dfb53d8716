"""What the state repo keeps in memory: the small objects every command reads again (trees,
records, the commits it just wrote), never the large outputs of runs, which would add up to
gigabytes."""

import os

from bot.state.message import Message
from bot.state.repo import Identity
from tests.helpers.bot import ALICE, Bot
from tests.helpers.git import git

MIB = 1 << 20


def test_large_files_written_are_read_back_whole_but_not_kept_in_memory(bot: Bot) -> None:
    state = bot.engine.repo
    outputs = [os.urandom(MIB) for _ in range(12)]
    for number, output in enumerate(outputs):
        with state.locked():
            state.commit(
                {f"outputs/{number}.log": output},
                Message(summary=f"output {number}"),
                Identity("Alice", ALICE),
                bot.clock(),
                parent=state.head(),
            )
    kept = sum(found.raw_length() for found in state._objects)
    assert kept < MIB
    assert state.snapshot().read("outputs/11.log") == outputs[11]
    assert git(bot.repo, "cat-file", "-s", "main:outputs/0.log").strip() == str(MIB)
