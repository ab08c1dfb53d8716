"""Checksums a download must match before it is delivered: declared in the runbook
(`sha256 = { "dump.sql.gz" = "<hex>" }`, for files whose checksum is known in advance) or
reported by the program on its progress channel (`sha256 <hex> <file>`, for a source that
publishes one). A file with a checksum that does not match fails the run; it is never
delivered."""

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.core.errors import InvalidRecord
from bot.features.downloads.store import File, sha256

HEX = re.compile(r"[0-9a-fA-F]{64}")


def declared_sha256(path: str, kind: str, value: Any) -> dict[str, str]:
    """The `sha256` table of a runbook declaration, checked (only a download has one)."""
    if value is None:
        return {}
    if kind != "download":
        raise InvalidRecord(path, "sha256", 'only a runbook of kind = "download" has checksums')
    if not isinstance(value, dict) or not value:
        raise InvalidRecord(path, "sha256", 'must be a table: { "<file>" = "<64 hex digits>" }')
    for name, digest in value.items():
        if not isinstance(digest, str) or not HEX.fullmatch(digest):
            raise InvalidRecord(path, f"sha256.{name}", "must be 64 hex digits (a sha256)")
    return {name: digest.lower() for name, digest in value.items()}


def mismatches(
    files: list[File], expected: Mapping[str, str], hasher: Callable[[Path], str] = sha256
) -> list[str]:
    """What is wrong, one line per file: a file missing, or not matching its checksum
    (`hasher` says a file's sha256: digests.py has most of it read already)."""
    present = {f.name: f for f in files}
    wrong = []
    for name, digest in sorted(expected.items()):
        found = present.get(name)
        if found is None:
            wrong.append(f"{name}: missing (a checksum was expected for it)")
            continue
        actual = hasher(found.path)
        if actual != digest:
            wrong.append(f"{name}: sha256 {actual}, expected {digest}")
    return wrong
