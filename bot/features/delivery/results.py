"""How the result of a deploy reads: appended to the answer that said "deploying…", and
announced when it failed for good."""

from bot.core.effects import Amend, Effect, Notify
from bot.state.outcome import RunOutcome


def describe(outcome: RunOutcome) -> str:
    """How the result of a deploy reads when it replaces "deploying" in the reply."""
    result = outcome.result
    took = f" in {result.duration:.1f}s" if result else ""
    if outcome.status == "ok":
        return f"applied{took}"
    if outcome.status == "no-hook":
        return f"not applied: {outcome.app} names no deploy hook"
    if outcome.status == "superseded":
        return f"superseded: {outcome.detail}"
    why = result.error if result and result.error else outcome.detail or outcome.status
    if not outcome.final:
        return f"attempt {outcome.attempt} failed ({why}); retrying"
    tail = result.output_tail.strip().splitlines()[-5:] if result else []
    return f"failed after {outcome.attempt} attempt(s): {why}" + (
        "\n" + "\n".join(tail) if tail else ""
    )


def on_outcome(outcome: RunOutcome) -> tuple[Effect, ...]:
    said = describe(outcome)
    effects: tuple[Effect, ...] = (Amend(outcome.commit, said),)
    if outcome.final and outcome.status == "failed":
        text = f"deploy of {outcome.app} {outcome.version} to {outcome.env} {said}"
        effects += (Notify(text, announce=True),)
    return effects
