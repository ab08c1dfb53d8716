"""Policies the tests put in force, each named for who it lets do what."""

from tests.helpers.bot import ALICE, BOB, CAROL

# bob and carol deploy, and approve what the other proposed.
APPROVERS_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}", "{CAROL}"]
commands = ["deploy", "rollback", "promote", "approve", "reject", "lock", "unlock"]

[roles.everyone]
members = ["*"]
commands = ["help", "whoami", "status", "history", "show", "proposals"]
"""

# The same two deployers, with no role for everyone else.
GATED_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}", "{CAROL}"]
commands = ["deploy", "rollback", "approve", "reject", "proposals"]
"""

# bob is on call: he may run runbooks and cancel runs; everyone may list them.
RUNBOOK_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]
[roles.oncall]
members = ["{BOB}"]
commands = ["run", "runbooks", "run cancel", "help"]
[roles.everyone]
members = ["*"]
commands = ["help", "runbooks"]
"""
