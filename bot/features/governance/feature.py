"""What change governance contributes."""

from bot.engine.feature import Feature
from bot.features.governance import audit, audit_cli, audit_index

FEATURE = Feature(
    "governance",
    commands=audit.COMMANDS,
    index=(audit_index.TABLE,),
    cli=(audit_cli.COMMAND,),
    host_view=audit_cli.host_view,
)
