"""[mirrors]: where main, the notes and the runs are pushed after each commit (a backup)."""

from typing import Any

from bot.config.problems import Problem

MIRRORS_KEYS = frozenset({"remotes"})


def parse_mirrors(data: dict[str, Any], problem: Problem) -> tuple[str, ...]:
    table = data.get("mirrors")
    if not isinstance(table, dict):
        return ()
    remotes = table.get("remotes", [])
    if not isinstance(remotes, list) or not all(isinstance(r, str) and r for r in remotes):
        problem("mirrors", "remotes", 'must be a list of remotes, like ["/srv/backup/state.git"]')
        return ()
    if len(set(remotes)) != len(remotes):
        problem("mirrors", "remotes", "lists a remote twice")
    return tuple(dict.fromkeys(remotes))
