"""The layout version of a state repo: which release's arrangement of files it holds.

It is `layout.toml` at the top of the repo's tree, written by `opsbot init` and by the
migrations of `opsbot migrate` (each a signed commit), and read by `git show main:layout.toml`:

    version = 2

A repo without the file was made by release 0.1.0: layout 1. Layouts:

1. release 0.1.0: proposals carry their rules in commit trailers; incident timelines in
   `timeline.md`.
2. proposals keep their rules in `proposals/<n>.toml` on their branch; incident timelines in
   `timeline/NNNN.toml` (an old `timeline.md` is still read, never written).
"""

import tomllib

from bot.state.repo import Snapshot
from bot.state.schema import NewerThanCode

FILE = "layout.toml"
CURRENT = 2
BEFORE_VERSIONS = 1  # what a repo without the file is


def render(version: int) -> str:
    return (
        "# The layout of this state repository: which release of opsbot arranged its files.\n"
        "# Written by opsbot (init, migrate); opsbot refuses a layout newer than it knows.\n"
        f"version = {version}\n"
    )


def version_of(snapshot: Snapshot) -> int:
    """The layout of the tree at `snapshot`; a file that does not read is an error, not layout
    1: guessing could run a migration twice, or write an old layout into a newer repo."""
    text = snapshot.text(FILE)
    if text is None:
        return BEFORE_VERSIONS
    try:
        version = tomllib.loads(text).get("version")
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{FILE}: not TOML ({e})") from None
    if type(version) is not int or version < 1:
        raise ValueError(f"{FILE}: version must be a whole number >= 1")
    return version


def refuse_newer(found: int) -> None:
    if found > CURRENT:
        raise NewerThanCode(
            f"the state repo has layout {found} ({FILE}), newer than this opsbot knows "
            f"({CURRENT}): a newer release wrote it; upgrade opsbot"
        )
