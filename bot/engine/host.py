"""What a feature does on the host, outside the engine: its checks of the host config against
the repo, its CLI subcommands, the read-only view its handlers get of what the host holds, the
workers that take its jobs, and what it says when the reconciler applied a deploy."""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.effects import Effect
from bot.engine.requests import Requests
from bot.state.index import Index
from bot.state.outcome import RunOutcome
from bot.state.repo import StateRepo
from bot.state.view import StateView

if TYPE_CHECKING:
    from bot.config.host import Config
    from bot.config.paths import HostPaths
    from bot.state.outbox import Outbox

HostCheck = Callable[["Config", StateView], list[str]]
"""What `opsbot check --config` finds wrong in the repo given the host config (a secret a
runbook asks for that the host config does not grant it): one message each."""


@dataclass(frozen=True)
class CliCommand:
    """`opsbot <name>`, a subcommand on a state repo. The command line gives it `--repo` and
    `--state-dir` beside the options `add_arguments` adds, refuses a path that is no state repo,
    and hands `run` the repo as the bot reads it (what is in force), its host paths, its index
    (opened with every feature's tables) and the parsed arguments. `run` prints what it has to
    say and answers the exit status; a `Refused` it raises is said on stderr after
    `opsbot <name>: `, with status 2."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[StateRepo, "HostPaths", Index, argparse.Namespace], int]


@dataclass(frozen=True)
class HostParts:
    """What a feature's `host_view` is made from: the outbox (the jobs owed to its worker), the
    state directory (its journals) and the host config (None in the console and most tests)."""

    outbox: "Outbox"
    state_dir: Path
    config: "Config | None"


@dataclass(frozen=True)
class WorkerParts:
    """What a worker runs with: the repo, the outbox (its jobs: `outbox.jobs(name)`), the
    engine (`requests`), the host config, and the HTTP listener's address once it listens
    (None: no listener)."""

    repo: StateRepo
    outbox: "Outbox"
    requests: Requests
    config: "Config"
    listener_url: str | None


@dataclass(frozen=True)
class Worker:
    """Work a feature does on the host for as long as the service runs, until `stop` is set:
    it takes the `Job`s its commands owe (`Job(executor=name)`), which the outbox holds until it
    does. It closes what it opened before it returns."""

    name: str
    run: Callable[[WorkerParts, asyncio.Event], Awaitable[None]]


OnOutcome = Callable[[RunOutcome], tuple[Effect, ...]]
"""What a feature says when the reconciler applied (or failed to apply) a desired version: the
effects owed (the result appended to the deploy's answer, a notice of a failure)."""
