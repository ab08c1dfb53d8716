"""The shapes of what opsbot names: Matrix user and room ids, severities, incident ids and
incident states, commit ids. Written once, so that the grammar, the host config and the records
of the state repo cannot disagree on what one looks like. Used with `fullmatch` (never `$`,
which also matches before a final newline)."""

import base64
import binascii
import re

from bot.core.text import BIDI_CONTROLS

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
COMMIT_ID = re.compile(r"[0-9a-f]{40}")  # in full, as Git writes one (SHA-1, lower case)

_BASE64 = re.compile(r"[A-Za-z0-9+/]{43}")


def is_commit_id(value: str) -> bool:
    """Whether `value` is a full commit id, exactly (no prefix, no line break)."""
    return COMMIT_ID.fullmatch(value) is not None


def is_ed25519_key(value: object) -> bool:
    """Whether `value` is an Ed25519 public key as Matrix writes one: 32 bytes in unpadded
    base64, spelt the one way that encodes them (so that comparing two keys as text is
    comparing the keys). A homeserver passes on what a person's client uploaded, and a key
    with a trailing newline or a padding character is not a key opsbot may pin."""
    if not isinstance(value, str) or not _BASE64.fullmatch(value):
        return False
    try:
        raw = base64.b64decode(value + "=", validate=True)
    except binascii.Error:
        return False
    return len(raw) == 32 and base64.b64encode(raw).decode().rstrip("=") == value


def fingerprint(key: str) -> str:
    """A public key as Element shows it: unpadded base64, in groups of four."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
