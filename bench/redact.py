"""How long a run's output takes to redact: the most a runbook may keep (16 MiB) and the
default (1 MiB), with two secrets (each also looked for in every form encodings.py knows) and
the template's two `redact` patterns. Prints seconds and MB/s, median of 5."""

import statistics
import time

from bot.features.runbooks.declaration import DEFAULT_KEEP, MAX_KEEP
from bot.features.runbooks.redact import Redactor

PATTERNS = [r"\b[0-9]{13,16}\b", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}"]
SECRETS = ["s3cr3t-token-0123456789", "another-secret-value"]
LINE = b"order 12345 paid by someone at example dot org, status ok, 2026-11-26T10:00:00\n"


def main() -> None:
    redact = Redactor(PATTERNS, SECRETS)
    for size in (DEFAULT_KEEP, MAX_KEEP):
        data = LINE * (size // len(LINE))
        times = []
        for _ in range(5):
            started = time.perf_counter()
            redact.text(data)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"{size / 2**20:.0f} MiB: {median:.3f} s, {size / median / 1e6:.1f} MB/s")


if __name__ == "__main__":
    main()
