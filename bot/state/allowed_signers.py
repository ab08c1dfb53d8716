"""The allowed-signers files, read as `git verify-commit` reads them with gpg.format=ssh.

Git asks `ssh-keygen -Y find-principals` for the principals of the signing key at the commit's
committer time, then `ssh-keygen -Y verify -n git -I PRINCIPAL` for each of them in turn. Both
walk the file top down with the same line parser, so this module walks it the same way:

- a line is `principals [options] key [comment]`, parsed as OpenSSH parses it
  (bot/state/allowed_signers_lines.py);
- find-principals takes the first line of the signing key that is valid at the committer time,
  whatever its namespaces; verify then takes each of that line's principals as a name, and
  needs a line whose pattern list matches that name, with the key, "git" among its namespaces,
  and valid at that time;
- a line that does not parse grants nothing, and the walk goes on past it;
- `cert-authority` lines vouch for certificates, which opsbot's plain Ed25519 signatures never
  are: they verify nothing here, as in git, and are reported.

The committer time is what git passes (`-Overify-time`): the commit's timestamp written as
local time, which ssh-keygen reads back as local standard time; a commit dated 0 is checked
against the present time, as git leaves the option out then.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from dulwich.objects import Commit

from bot.state.allowed_signers_lines import Line, parse_file
from bot.state.signing import signer_of
from bot.state.ssh_patterns import match_pattern_list

_NAMESPACE = "git"


class AllowedSigners:
    """The allowed-signers files (git's `gpg.ssh.allowedSignersFile` format). A commit verifies
    when `git verify-commit` would accept it with one of the files configured."""

    def __init__(self, files: Iterable[list[Line]] = ()) -> None:
        self._files = [list(lines) for lines in files]
        lines = [line for lines in self._files for line in lines]
        # Every key a line names as a plain key, whatever its options: who is listed at all.
        self.keys = frozenset(
            line.key for line in lines if line.key is not None and not line.options.ca
        )
        self.problems = tuple(_problem(line) for line in lines if _problem(line))
        self._verdicts: dict[bytes, bool] = {}

    @classmethod
    def read(cls, *files: Path) -> AllowedSigners:
        return cls(parse_file(file) for file in files if file.exists())

    def verifies(self, commit: Commit) -> bool:
        """Whether `commit` carries a valid signature that git would accept (cached by id: a
        commit's id covers its signature and its committer time)."""
        verdict = self._verdicts.get(commit.id)
        if verdict is None:
            key = signer_of(commit, _NAMESPACE)
            verdict = key is not None and self.admits(key, commit.commit_time)
            if commit.commit_time:  # a commit dated 0 is judged at the present time
                self._verdicts[commit.id] = verdict
        return verdict

    def timeless(self, key: bytes) -> bool:
        """Whether no line of `key` is bounded in time (valid-after, valid-before): then
        whether it admits a commit is the same at any time (from 1970 to 9999), and a report
        of many commits asks once."""
        return not any(
            line.key == key and (line.options.valid_after or line.options.valid_before)
            for lines in self._files
            for line in lines
        )

    def admits(self, key: bytes, committed: int) -> bool:
        """Whether a git signature by `key` on a commit made at `committed` (seconds since the
        epoch) would verify."""
        when = _verify_time(committed)
        return when is not None and any(_admits(lines, key, when) for lines in self._files)


def _admits(lines: list[Line], key: bytes, when: int) -> bool:
    principals = _find_principals(lines, key, when)
    if not principals:
        return False
    # find-principals prints one per line up to the first empty one; git drops a trailing CR.
    for name in principals.split(","):
        if not name:
            break
        if _verify(lines, name.removesuffix("\r"), key, when):
            return True
    return False


def _find_principals(lines: list[Line], key: bytes, when: int) -> str | None:
    for line in lines:
        if line.principals is not None and line.grants(key, None, when):
            return line.principals
    return None


def _verify(lines: list[Line], name: str, key: bytes, when: int) -> bool:
    return any(
        line.principals is not None
        and match_pattern_list(name, line.principals) == 1
        and line.grants(key, _NAMESPACE, when)
        for line in lines
    )


def _verify_time(committed: int) -> int | None:
    """The time ssh-keygen checks: git writes the timestamp as local YYYYMMDDHHMMSS, and
    ssh-keygen reads that back with mktime and no daylight saving time."""
    if committed == 0:
        return int(time.time())
    try:
        t = time.localtime(committed)
        if not 0 < t.tm_year <= 9999:
            return None
        when = int(time.mktime((*t[:6], 0, 0, 0)))
    except (OverflowError, OSError, ValueError):
        return None
    return when if when > 0 else None


def _problem(line: Line) -> str:
    if line.principals is None:
        return f"{line.where}: not a line of principals and a key: skipped, as git skips it"
    if line.error is not None:
        return f"{line.where}: {line.error}: skipped, as git skips it"
    if line.options.ca:
        return (
            f"{line.where}: cert-authority is not supported (opsbot's commits are signed with "
            "plain keys, not certificates): this line verifies none of them"
        )
    return ""
