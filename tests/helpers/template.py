"""The state repo template as it ships, read by the tests that run its examples."""

from tests.helpers.paths import CHECKOUT


def example(name: str, **replace: str) -> str:
    """The example runbook `name`, with each of `replace`'s keys replaced by its value."""
    text = (CHECKOUT / "state_repo_template/runbooks" / f"{name}.toml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text
