"""A writer for the crash-safety tests: deploys in a loop and reports each commit.

    python -m tests.helpers.deploy_loop <repo> <app> <first> [<count>]

(from the top of the checkout: as a module, so that the helpers beside it, such as http.py,
never stand in for the packages of the same name)

Opens the engine on <repo> as the console would, prints "ready", waits for one line (or end of
file) on stdin so that several writers can be started together, then runs
`!deploy <app> 1.0.<n> to dev` for n = first, first + 1, ... (forever, or <count> times). After
each reply it prints the full sha of the commit on a line of its own. A deploy that is refused or
fails prints "FAIL <reply>" and exits 1.
"""

import sys
from pathlib import Path

from bot.config import HostPaths
from bot.service.assemble import open_engine
from bot.transport import console

SENDER = "@alice:example.org"


def main(repo: str, app: str, first: str, count: str | None = None) -> int:
    engine = open_engine(HostPaths.beside(Path(repo)))
    print("ready", flush=True)
    sys.stdin.readline()
    n = int(first)
    end = n + int(count) if count is not None else None
    while end is None or n < end:
        reply = engine.run(console.invocation(SENDER, f"!deploy {app} 1.0.{n} to dev"))
        if reply is None or not reply.ok or reply.commit is None:
            print(f"FAIL {reply}", flush=True)
            return 1
        print(reply.commit, flush=True)
        n += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
