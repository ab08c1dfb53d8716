"""The progress channel of a download program, and how its progress reads in the chat.

A download program reports on its standard output, one line at a time:

    progress <done> <total>     bytes written so far, and the total (`-` while unknown)
    sha256 <hex> <file>         the checksum of one of its files, verified before delivery

Every other line is ordinary output. The bot keeps the last report and edits its reply with a
bar, the rate and the time left (`describe`).
"""

import re
from collections import deque
from dataclasses import dataclass

_PROGRESS = re.compile(r"progress (\d{1,19}) (\d{1,19}|-)")
_SHA256 = re.compile(r"sha256 ([0-9a-fA-F]{64}) (\S.{0,254})")
BAR = 20


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None


@dataclass(frozen=True)
class Checksum:
    sha256: str
    name: str


def parse(line: str) -> Progress | Checksum | None:
    """What a line of a download program's output reports, or None for ordinary output."""
    line = line.strip()
    if match := _PROGRESS.fullmatch(line):
        total = None if match[2] == "-" else int(match[2])
        return Progress(int(match[1]), total)
    if match := _SHA256.fullmatch(line):
        return Checksum(match[1].lower(), match[2])
    return None


class Meter:
    """The rate over the last `window` seconds of reports (a download's rate changes; the
    average since the start would hide a stall)."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def observe(self, done: int, at: float) -> None:
        self.samples.append((at, done))
        while len(self.samples) > 2 and at - self.samples[0][0] > self.window:
            self.samples.popleft()

    def rate(self) -> float | None:
        """Bytes per second, or None before two reports."""
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None


def size(n: float) -> str:
    """1536 -> '1.5 KiB'; bytes in powers of 1024, as `ls -h` and curl show them."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def describe(progress: Progress, rate: float | None) -> str:
    """`[########------------] 42% 430.1 MiB of 1.0 GiB, 85.2 MiB/s, 7s left`."""
    speed = f", {size(rate)}/s" if rate is not None else ""
    if progress.total is None or progress.total <= 0:
        return f"{size(progress.done)} so far{speed}"
    share = min(1.0, progress.done / progress.total)
    filled = round(share * BAR)
    bar = "#" * filled + "-" * (BAR - filled)
    text = f"[{bar}] {share:.0%} {size(progress.done)} of {size(progress.total)}{speed}"
    if rate and rate > 0 and progress.done < progress.total:
        text += f", {duration((progress.total - progress.done) / rate)} left"
    return text
