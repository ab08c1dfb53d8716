"""The Matrix integration tests: each talks to a real Synapse on 127.0.0.1, so each is marked
`matrix` (`-m matrix` runs them alone, `-m "not matrix"` leaves them out)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.matrix)
