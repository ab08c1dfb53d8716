"""Where things are in the checkout, for the tests that run what it holds."""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
"""The top of the checkout: bot/, systemd/, the README and the state repo template."""

JS = CHECKOUT / "tests" / "js"
"""The Element-stack client (matrix-js-sdk in Node) and its lock file."""
