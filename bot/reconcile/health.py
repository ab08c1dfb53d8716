"""What the host runs, asked of the apps' read-only hooks: `health` (exit 0: healthy) and
`observe` (prints the running version; for an app a GitOps engine applies, also what the engine
applied). Each runs as `<hook> -- <app> <env>`, every deployed app at once; the last answers are
kept for `!status`.
"""

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from bot.reconcile.desired import Desired, DesiredState, read_desired
from bot.reconcile.hooks import hook_args, run_hook
from bot.reconcile.journal import Applied
from bot.state.index import Index
from bot.state.outcome import HookResult
from bot.state.repo import StateRepo

log = logging.getLogger("opsbot.reconcile")


class HostChecks:
    def __init__(
        self,
        repo: StateRepo,
        index: Index,
        passes: asyncio.Lock,
        hooks_dir: Path,
        *,
        timeout: float,
    ) -> None:
        self.repo = repo
        self.hooks_dir = hooks_dir
        self.timeout = timeout
        self._index = index
        self._passes = passes  # the index is read by one pass at a time
        self._health: dict[tuple[str, str], HookResult] = {}
        self._observed: dict[tuple[str, str], str] = {}
        self._engine_applied: dict[tuple[str, str], Applied] = {}

    def health(self) -> dict[tuple[str, str], HookResult]:
        """The last health check of each (env, app) with a health hook."""
        return dict(self._health)

    def observed(self) -> dict[tuple[str, str], str]:
        """The version each app's observe hook last printed (its first line), where it has one."""
        return dict(self._observed)

    def engine_applied(self) -> dict[tuple[str, str], Applied]:
        """For each app a GitOps engine applies, what its observe hook last said it applied."""
        return dict(self._engine_applied)

    async def refresh(self) -> None:
        """Runs the health checks and the observe hooks, and keeps what they said."""
        try:
            self._health = await self.check_health()
            state, printed = await self._ask_all("observe")
            lines = {
                target: result.output_tail.strip().splitlines()
                for target, result in printed.items()
                if result.ok and result.output_tail.strip()
            }
            self._observed = {target: said[0].strip() for target, said in lines.items()}
            self._engine_applied = {
                target: _engine_applied(state.targets[target], said)
                for target, said in lines.items()
                if state.targets[target].rendered
            }
        except Exception:
            log.exception("health checks failed")

    async def check_health(self) -> dict[tuple[str, str], HookResult]:
        """Runs the health hook of every app deployed at HEAD, all at once, as `<hook> -- <app>
        <env>` (exit 0: healthy). Apps without one, and suspended ones, are left out."""
        return (await self._ask_all("health"))[1]

    async def _ask_all(self, which: str) -> tuple[DesiredState, dict[tuple[str, str], HookResult]]:
        """Runs one kind of read-only hook (`health`, `observe`) of every deployed app at once."""
        async with self._passes:
            state = await asyncio.to_thread(read_desired, self.repo, self._index)
        checks = {
            target: run_hook(
                self.hooks_dir,
                getattr(want, which),
                hook_args(want.app, want.env),
                timeout=self.timeout,
                env={"OPSBOT_APP": want.app, "OPSBOT_ENV": want.env},
            )
            for target, want in state.targets.items()
            if getattr(want, which)
        }
        results = await asyncio.gather(*checks.values())
        return state, dict(zip(checks, results, strict=True))


def _engine_applied(want: Desired, said: list[str]) -> Applied:
    """What a GitOps engine applied, from its app's observe hook: the version on the second line
    (what the engine wrote into the cluster), or, without one, the running version (first)."""
    version = (said[1] if len(said) > 1 else said[0]).strip()
    return Applied(version, datetime.now(UTC), want.commit if version == want.version else "")
