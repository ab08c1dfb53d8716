"""What metrics contribute."""

from bot.engine.feature import Feature
from bot.engine.kinds import ArgKind, name
from bot.features.metrics import command_line, commands, index, prometheus, versions
from bot.features.metrics.digest_policy import WEEKLY_DIGEST
from bot.features.metrics.settings import METRICS

FEATURE = Feature(
    "metrics",
    commands=commands.COMMANDS,
    kinds=(ArgKind("scope", name),),  # an environment or an app
    requests=(*commands.REQUESTS, *prometheus.REQUESTS, *versions.REQUESTS),
    pages=prometheus.PAGES,
    readers=(versions.read_payload,),
    tasks=commands.TASKS,
    index=index.TABLES,
    cli=(command_line.COMMAND,),
    config=(METRICS,),
    policy=(WEEKLY_DIGEST,),
)
