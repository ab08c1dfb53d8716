"""The sd_notify protocol, by hand: how the bot tells systemd it is ready, busy, alive or stopping.

The protocol is one datagram of `KEY=value` lines to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (a path, or an abstract address when it starts with "@"). Outside systemd the
variable is unset and every call here does nothing, so the bot runs the same in a terminal.

The watchdog pings from the event loop itself, not from a thread: a loop that is stuck (a
blocking call, a deadlock) stops pinging, and systemd restarts the bot, which is the point.
"""

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

from bot.core.logs import fact

log = logging.getLogger("opsbot.sdnotify")


def notify(*assignments: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Sends `assignments` ("READY=1", "STATUS=...") in one datagram; False when not under
    systemd or when the socket cannot be reached (a status line is never worth a crash)."""
    address = environ.get("NOTIFY_SOCKET")
    if not address or not assignments:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        # vsock addresses ("vsock:CID:PORT") are for virtual machines talking to their host.
        log.warning("unsupported NOTIFY_SOCKET address; not notifying systemd")
        return False
    data = "\n".join(assignments).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(data, address)
    except OSError as e:
        fact(log, "cannot notify systemd", logging.WARNING, error=str(e))
        return False
    return True


def status(text: str) -> bool:
    """What `systemctl status` shows on its "Status:" line. Any local user can read it, so it
    says what the bot is doing, never who asked for what."""
    return notify(f"STATUS={text}")


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds systemd waits for a ping before it declares the bot hung; None when there is no
    watchdog for this process."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        seconds = int(usec) / 1_000_000
    except ValueError:
        return None
    return seconds if seconds > 0 else None


async def watchdog(interval: float, environ: Mapping[str, str] = os.environ) -> None:
    """Pings every half `interval` (as sd_watchdog_enabled(3) advises), until cancelled."""
    while True:
        notify("WATCHDOG=1", environ=environ)
        await asyncio.sleep(interval / 2)
