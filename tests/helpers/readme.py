"""The README's service steps, as commands: the tests run them as they are written there."""

from bot.cli.docs import README, STEPS_END, STEPS_START


def readme_steps(text: str | None = None) -> list[str]:
    """The commands of the README's service steps: comments dropped, continuations joined."""
    block = (text or README.read_text()).split(STEPS_START)[1].split(STEPS_END)[0]
    lines = [line for line in block.strip().splitlines() if not line.startswith("```")]
    commands: list[str] = []
    pending = ""
    for line in lines:
        if line.startswith("#"):
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            commands.append(pending.strip())
            pending = ""
    return commands
