"""How the host config says what is wrong with it.

Every problem names the file, the section and the key, and the line they are on where it can
be found; the loader gathers all of them and raises one ConfigError, so that `opsbot check`
reports them at once. A section's parser (the core's, or a feature's) reports through `Problem`
and reads strings through `Get`, and never raises.
"""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bot.core.errors import OpsbotError


class ConfigError(OpsbotError):
    code = "config"


Problem = Callable[[str, str | None, str], None]
"""Reports one problem: the section, the key (None: the section itself), and what is wrong."""


class Get(Protocol):
    """Reads a string value of the config, saying so when it is missing and `required`."""

    def __call__(self, section: str, key: str, required: bool = False) -> str | None: ...


class Problems:
    """The problems found in one file, each said with its place in the file."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path = path
        self.text = text
        self.data = data
        self.found: list[str] = []

    def problem(self, section: str, key: str | None, what: str) -> None:
        line = _line_of(self.text, section, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        self.found.append(f"{where}: [{section}]{' ' + key if key else ''}: {what}")

    def get(self, section: str, key: str, required: bool = False) -> str | None:
        table = self.data.get(section)
        value: Any = table.get(key) if isinstance(table, dict) else None
        if value is None:
            if required:
                self.problem(section, key, "missing")
            return None
        if not isinstance(value, str) or not value:
            self.problem(section, key, "must be a non-empty string")
            return None
        return value

    def raise_if_any(self) -> None:
        if self.found:
            raise ConfigError("\n".join(self.found))


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Line number of `key` in `[section]` (or of the section header), for error messages."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            current = header.group(1).strip()
            if key is None and current == section:
                return number
        elif current == section and key and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None
