"""Which local process listens on a TCP port, from /proc (Linux), for `opsbot check --live`.

A process's command line is its own to write: anyone can start `nc -l 8088` under the name
`opsbot run --config /etc/opsbot/opsbot.toml`. What it cannot fake is the files it holds open:
the bot keeps its journals open in its state directory, which only the bot's user can read.
"""

import os
from dataclasses import dataclass
from pathlib import Path

SHOWN = 240  # characters of a command line shown; the rest is said to be cut


@dataclass(frozen=True)
class Holder:
    pid: int
    argv: list[str]
    files: list[Path]  # what its open file descriptors point at (sockets and pipes left out)

    def holds_open_under(self, directory: Path) -> bool:
        top = directory.resolve()
        return any(path.is_relative_to(top) for path in self.files)

    def command_line(self) -> str:
        """Its arguments joined, cut short; still to be escaped before it is shown."""
        line = " ".join(self.argv)
        return line if len(line) <= SHOWN else line[: SHOWN - 4] + " ..."


def listening_on(port: int) -> Holder | None:
    """The process listening on `port`, if this user may see it."""
    inodes = _listening_inodes(port)
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            if not any(t.startswith("socket:[") and t[8:-1] in inodes for t in targets):
                continue
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
        files = [Path(t) for t in targets if t.startswith("/")]
        return Holder(int(pid), argv, files)
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes
