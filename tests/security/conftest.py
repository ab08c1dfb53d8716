"""The attacks of the security reviews, each a test, each marked `security` (`-m security` runs
them alone, with the attacks other folders hold next to what they attack)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.security)
