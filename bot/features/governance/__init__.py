"""Change governance: freeze windows on a calendar, emergency changes (hotfixes) tied to an
open incident, and the audit report of every change to an environment."""
