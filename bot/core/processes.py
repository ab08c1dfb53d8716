"""What hooks and runbook programs share as child processes: each runs in its own process
group (`start_new_session`), so that stopping it stops whatever it started too."""

import contextlib
import os
import signal


def kill_group(pid: int) -> None:
    """SIGKILL to the whole group led by `pid`; nothing if it is gone already."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def signal_name(number: int) -> str:
    """ "SIGTERM" for 15, as people read it in a reply."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
