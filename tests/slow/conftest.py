"""Tests slow by nature, each marked `slow`: crash and concurrency runs of many processes, a
wheel built and installed, an upgrade from a release built from its tag, the benchmarks."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
