"""What change governance contributes: freeze windows on a calendar, hotfixes tied to an open
incident, and the audit report."""

from bot.engine.feature import Feature
from bot.features.governance import audit, audit_cli, audit_index, calendar, gate, hotfix, reminder
from bot.features.governance.hotfix_policy import HOTFIX_POLICY

FEATURE = Feature(
    "governance",
    commands=(*calendar.COMMANDS, *audit.COMMANDS),
    options=hotfix.OPTIONS,
    gates=(gate.gate,),
    addenda=calendar.ADDENDA,
    checks=(gate.problems,),
    policy=(HOTFIX_POLICY,),
    requests=reminder.REQUESTS,
    tasks=reminder.TASKS,
    index=(audit_index.TABLE,),
    cli=(audit_cli.COMMAND,),
    host_view=audit_cli.host_view,
)
