"""Documentation generated from the code, so the README cannot drift from it.

`python -m bot.docs` rewrites the command table in README.md; tests/test_docs.py fails when the
README is stale.
"""

import sys
from pathlib import Path

from bot.engine.registry import CommandRegistry
from bot.features.catalog import default_registry

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- commands:start -->", "<!-- commands:end -->"


def command_table(registry: CommandRegistry) -> str:
    rows = ["| command | what it does | changes state |", "|---|---|---|"]
    for c in registry:
        usage = c.usage_line().replace("|", "\\|")
        rows.append(f"| `{usage}` | {c.summary} | {'yes' if c.writes else 'no'} |")
    return "\n".join(rows)


def with_table(readme: str, table: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> int:
    text = README.read_text()
    README.write_text(with_table(text, command_table(default_registry())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
