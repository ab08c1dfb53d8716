"""The lines of an allowed-signers file, parsed as OpenSSH parses them: rule for rule (sshsig.c,
misc.c, sshkey.c), so that a line grants here exactly what it grants to `git verify-commit`.

A line is `principals [options] key [comment]`; the options are `cert-authority`,
`namespaces="..."`, `valid-after="..."` and `valid-before="..."` (quotes may hold `\\"`). A line
that does not parse is kept, with why, and grants nothing.
"""

from __future__ import annotations

import base64
import calendar
import time
from dataclasses import dataclass
from pathlib import Path

from bot.state.ssh_patterns import match_pattern_list

_WHITESPACE = " \t\r\n"
_BLANKS = " \t"


@dataclass(frozen=True)
class Options:
    ca: bool = False
    namespaces: str | None = None
    valid_after: int = 0  # 0: unset, as OpenSSH keeps it
    valid_before: int = 0


@dataclass(frozen=True)
class Line:
    where: str  # "file:line", for reports
    principals: str | None  # None: the line has no second field (ssh-keygen: invalid line)
    key: bytes | None = None  # the key's wire blob; None when the line does not parse
    options: Options = Options()
    error: str | None = None  # why the rest of the line does not parse

    def grants(self, key: bytes, namespace: str | None, when: int) -> bool:
        """Whether this (parsed) line lets `key` sign in `namespace` at `when`."""
        opts = self.options
        if opts.ca or self.key != key:
            return False
        if namespace is not None and opts.namespaces is not None:
            return match_pattern_list(namespace, opts.namespaces) == 1 and self._current(when)
        return self._current(when)

    def _current(self, when: int) -> bool:
        opts = self.options
        if opts.valid_after and when < opts.valid_after:
            return False
        return not (opts.valid_before and when > opts.valid_before)


def parse_file(path: Path) -> list[Line]:
    data = path.read_bytes()
    lines = []
    raw_lines = data.split(b"\n")
    for number, raw in enumerate(raw_lines, start=1):
        if number == len(raw_lines) and not raw:
            break
        newline = "\n" if number < len(raw_lines) else ""
        text = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") + newline
        line = _parse_line(f"{path}:{number}", text)
        if line is not None:
            lines.append(line)
    return lines


def _parse_line(where: str, text: str) -> Line | None:
    """None for a blank or comment line."""
    text = text.lstrip(_WHITESPACE)
    if not text or text.startswith("#"):
        return None
    split = _first_field(text)
    if split is None:
        return Line(where, None)
    principals, rest = split
    key = _read_key(rest)
    opts_text = ""
    if key is None:
        end = _past_options(rest)
        if end is None:
            return Line(where, principals, error="bad options: unterminated quote")
        if end == len(rest):
            return Line(where, principals, error="no key after the options")
        opts_text = rest[:end]
        key = _read_key(rest[end + 1 :].lstrip(_BLANKS))
        if key is None:
            return Line(where, principals, error="not a key this parser reads")
    options = _parse_options(opts_text)
    if isinstance(options, str):
        return Line(where, principals, error=f"bad options: {options}")
    return Line(where, principals, key, options)


def _first_field(text: str) -> tuple[str, str] | None:
    """strdelimw: the first field (a quote may start anywhere in it and hold blanks), and the
    rest past the whitespace after it; None when nothing follows."""
    at = next((i for i, c in enumerate(text) if c in _WHITESPACE or c == '"'), None)
    if at is None:
        return None
    if text[at] == '"':
        close = text.find('"', at + 1)
        if close == -1:
            return None
        return text[:at] + text[at + 1 : close], text[close + 1 :].lstrip(_WHITESPACE)
    return text[:at], text[at + 1 :].lstrip(_WHITESPACE)


def _past_options(text: str) -> int | None:
    """sshkey_advance_past_options: where the options end (a blank outside quotes)."""
    quoted = False
    i = 0
    while i < len(text) and (quoted or text[i] not in _BLANKS):
        if text[i] == "\\" and text[i + 1 : i + 2] == '"':
            i += 1
        elif text[i] == '"':
            quoted = not quoted
        i += 1
    return None if quoted and i == len(text) else i


def _read_key(text: str) -> bytes | None:
    """sshkey_read: `type base64 [comment]`; the blob of a key of that type, or None."""
    end = next((i for i, c in enumerate(text) if c in _BLANKS), None)
    if end is None:
        return None
    name = text[:end]
    rest = text[end:].lstrip(_BLANKS)
    if not rest or not _known_type(name):
        return None
    token = rest.split(" ", 1)[0].split("\t", 1)[0]
    token = "".join(c for c in token if c not in "\r\n\v\f")  # b64_pton skips them
    try:
        blob = base64.b64decode(token, validate=True)
    except ValueError:
        return None
    return blob if _well_formed(name, blob) else None


_ED25519 = "ssh-ed25519"
# The other names ssh-keygen reads a key under, with the type its blob names.
_OTHER_TYPES = {
    name: name
    for name in (
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ssh-ed25519@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
        "ssh-dss-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
    )
} | {
    "rsa-sha2-256": "ssh-rsa",
    "rsa-sha2-512": "ssh-rsa",
    "rsa-sha2-256-cert-v01@openssh.com": "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com": "ssh-rsa-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com": "sk-ecdsa-sha2-nistp256@openssh.com",
}


def _known_type(name: str) -> bool:
    return name == _ED25519 or name in _OTHER_TYPES


def _well_formed(name: str, blob: bytes) -> bool:
    """An Ed25519 key exactly as ssh-keygen reads it; of other types (which never sign
    opsbot's commits) only that the blob names the type the line does."""
    if name == _ED25519:
        return blob == _wire(_ED25519.encode()) + _wire(blob[-32:]) and len(blob) == 51
    return blob.startswith(_wire(_OTHER_TYPES[name].encode()))


def _wire(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _parse_options(text: str) -> Options | str:
    """sshsigopt_parse: the options, or why they are refused."""
    ca, namespaces, after, before = False, None, 0, 0
    i = 0
    while i < len(text) and text[i] not in _BLANKS:
        lower = text[i:].lower()
        if lower.startswith("cert-authority"):
            ca = True
            i += len("cert-authority")
        else:
            name = next(
                (
                    n
                    for n in ("namespaces", "valid-after", "valid-before")
                    if lower.startswith(n + "=")
                ),
                None,
            )
            if name is not None:
                value, i = _dequote(text, i + len(name) + 1)
                if value is None:
                    return f"{name}: missing quote"
                if name == "namespaces":
                    if namespaces is not None:
                        return 'multiple "namespaces" clauses'
                    namespaces = value
                else:
                    stamp = _absolute_time(value)
                    if stamp is None or stamp == 0:
                        return f'invalid "{name}" time'
                    if (after if name == "valid-after" else before) != 0:
                        return f'multiple "{name}" clauses'
                    if name == "valid-after":
                        after = stamp
                    else:
                        before = stamp
        if i >= len(text) or text[i] in _BLANKS:
            break
        if text[i] != ",":
            return "unknown key option"
        i += 1
        if i >= len(text):
            return "unexpected end-of-options"
    if after and before and before <= after:
        return '"valid-before" time is before "valid-after"'
    return Options(ca, namespaces, after, before)


def _dequote(text: str, i: int) -> tuple[str | None, int]:
    """opt_dequote: a double-quoted value in which `\\"` stands for a quote."""
    if text[i : i + 1] != '"':
        return None, i
    i += 1
    value = []
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and text[i + 1 : i + 2] == '"':
            i += 1
        value.append(text[i])
        i += 1
    if i >= len(text):
        return None, i
    return "".join(value), i + 1


def _absolute_time(text: str) -> int | None:
    """parse_absolute_time: YYYYMMDD[HHMM[SS]], in local time unless it ends in Z or UTC."""
    utc = False
    if len(text) > 1 and text[-1] in "zZ":
        utc, text = True, text[:-1]
    elif len(text) > 3 and text[-3:].upper() == "UTC":
        utc, text = True, text[:-3]
    if len(text) not in (8, 12, 14) or not (text.isascii() and text.isdigit()):
        return None
    fields = [
        int(text[i : i + w])
        for i, w in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2))
        if i < len(text)
    ]
    year, month, day, hour, minute, second = [*fields, 0, 0, 0][:6]
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 61):
        return None
    # Like strptime and mktime: a day past the month's end rolls over into the next.
    parts = (year, month, day, hour, minute, second, 0, 0, 0)
    try:
        stamp = calendar.timegm(parts) if utc else int(time.mktime(parts))
    except (OverflowError, ValueError):
        return None
    return stamp if stamp >= 0 else None
