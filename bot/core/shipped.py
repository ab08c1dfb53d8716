"""The files opsbot ships beside its code: the state repo template and the systemd unit.

They live at the top of the checkout (`state_repo_template/`, `systemd/`), where people look for
them. `bot/_data/` links to both, so the wheel carries them as package data and an install, an
editable install and a checkout all read them the same way, through importlib.resources.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


class MissingData(ValueError):
    """A file opsbot ships is not where it should be: an incomplete install."""


def template() -> Traversable:
    """`state_repo_template/`: what `opsbot init` puts in a new state repo."""
    return files("bot") / "_data" / "state_repo_template"


def systemd(name: str) -> Traversable:
    """A file of `systemd/`: the unit, or the example host config."""
    return files("bot") / "_data" / "systemd" / name


def read_tree(root: Traversable) -> dict[str, bytes]:
    """Every file under `root`, by its path relative to it (with /), sorted."""
    found: dict[str, bytes] = {}

    def walk(directory: Traversable, prefix: str) -> None:
        for entry in sorted(directory.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.is_file():
                found[f"{prefix}{entry.name}"] = entry.read_bytes()

    walk(root, "")
    return found


def read_template(root: Traversable | None = None) -> dict[str, bytes]:
    """The template's files; refuses one that is missing or has no policy.toml, which would
    otherwise make a state repo with nothing in it but the admins."""
    root = template() if root is None else root
    if not root.is_dir():
        raise MissingData(
            f"the state repo template is missing ({root}); this opsbot is not installed "
            "whole: reinstall it"
        )
    tree = read_tree(root)
    if "policy.toml" not in tree:
        what = "is empty" if not tree else "has no policy.toml"
        raise MissingData(
            f"the state repo template {what} ({root}); this opsbot is not installed whole: "
            "reinstall it"
        )
    return tree
