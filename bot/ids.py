"""The shapes of what opsbot names: Matrix user and room ids, severities, incident ids and
incident states. Written once, so that the grammar, the host config and the records of the
state repo cannot disagree on what one looks like. Used with `fullmatch` (never `$`, which also
matches before a final newline)."""

import re

from bot.text import BIDI_CONTROLS

# No spaces, and no bidi controls: they would make one id display as another.
_NOT_IN_ID = r"\s" + "".join(sorted(BIDI_CONTROLS))
USER_ID = re.compile(rf"@[^:{_NOT_IN_ID}]+:[^{_NOT_IN_ID}]+")
# Room version 12 ids are a hash with no server name (`!Hf3a...`); older ones end in `:server`.
DEVICE_ID = re.compile(r"[!-~]{1,255}")  # printable ASCII: clients use short upper-case ids
ROOM_ID = re.compile(r"![^:\s]+(:[^\s]+)?")

SEVERITIES = ("sev1", "sev2", "sev3", "sev4", "sev5")  # sev1 is the worst
SEVERITY = re.compile(r"sev[1-5]")
INCIDENT_ID = re.compile(r"INC-([0-9]{1,9})")
INCIDENT_STATES = ("investigating", "identified", "monitoring", "resolved")
