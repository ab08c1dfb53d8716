"""Documentation generated from the code, so the README cannot drift from it.

`python -m bot.cli.docs` rewrites the command table and the service steps in README.md;
tests/unit/test_docs.py and tests/e2e/test_readme_service.py fail when the README is stale.
"""

import sys
from pathlib import Path

from bot.cli.service import SERVICE_STEPS
from bot.engine.registry import CommandRegistry
from bot.features.catalog import default_registry

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- commands:start -->", "<!-- commands:end -->"
STEPS_START, STEPS_END = "<!-- service-steps:start -->", "<!-- service-steps:end -->"


def command_table(registry: CommandRegistry) -> str:
    rows = ["| command | what it does | changes state |", "|---|---|---|"]
    for c in registry:
        usage = c.usage_line().replace("|", "\\|")
        rows.append(f"| `{usage}` | {c.summary} | {'yes' if c.writes else 'no'} |")
    return "\n".join(rows)


def with_table(readme: str, table: str) -> str:
    return _between(readme, START, END, table)


def with_service_steps(readme: str, steps: str = SERVICE_STEPS) -> str:
    return _between(readme, STEPS_START, STEPS_END, f"```sh\n{steps.rstrip()}\n```")


def _between(readme: str, start: str, end: str, text: str) -> str:
    head, found, rest = readme.partition(start)
    assert found, f"README.md has no {start}"
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{text}\n{end}{tail}"


def main() -> int:
    text = README.read_text()
    text = with_table(text, command_table(default_registry()))
    README.write_text(with_service_steps(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
