"""What change governance contributes."""

from bot.engine.feature import Feature
from bot.features.governance import calendar, gate, hotfix, reminder

FEATURE = Feature(
    "governance",
    commands=calendar.COMMANDS,
    options=hotfix.OPTIONS,
    gates=(gate.gate,),
    addenda=calendar.ADDENDA,
    checks=(gate.problems,),
    requests=reminder.REQUESTS,
    tasks=reminder.TASKS,
)
