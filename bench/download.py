"""A 1 GiB download through opsbot against `curl` straight from the source, in the same run.

    PYTHONPATH=$PWD python bench/download.py [--size-mib 1024] [--runs 3] [--sinks file,null]
                                             [--no-checksums] [--source-mib-s N]

A local HTTP server (stdlib http.server, in its own process) serves a file of random bytes and
its SHA256SUMS. Baseline: `curl` fetches the file from the source. Through opsbot: a process
holding the bot's download parts (the runbook runner, the ledger, the HTTP listener with the
link pages) runs the template's download runbook as shipped: `fetch-artifact`, whose program
is the example `systemd/hooks.d/fetch-files` fetching the file into the run's directory and
reporting the source's checksum, which the bot verifies before the file's last bytes go out
(`--no-checksums`: the same runbook without `--checksums SHA256SUMS`, to see what the check
costs).
As soon as the bot offers the link (the total is known and past the upload limit), `curl`
fetches it, as the person would, following the file as it is written. End to end: from the
run's start to the person's last byte.

The person saves the file (`curl -o FILE`) in both arms: the comparison the goal is judged
on. With `null` the curls write to /dev/null instead: what the bot's side costs when the
person's disk costs nothing. Each sink is measured in each run, one after the other; every
leg starts with the page cache written back (`sync`), so one leg's writeback does not slow
the next.

`--source-mib-s N` paces the source at N MiB/s (as a network would: 1 Gbit/s is 119 MiB/s),
in both arms: whether opsbot keeps up with a source slower than the host's own work.

Reported, median of `--runs`: throughputs; the link alone (fetched again once the run has
ended); the CPU seconds of each process for its leg (the source, the program, the bot, the
person's curl), since on two shared cores the time goes where the CPU goes; how long the
person waited after the program's last byte; the bot's memory (VmRSS before, VmHWM after,
from /proc/<pid>/status); and the load average as each run started.
"""

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Asker = Callable[..., dict[str, Any]]  # a line to the bot's process, and its answer


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def cpu(pid: int, children: bool = False) -> float:
    """User and system seconds a process has used (or its children it has waited for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


async def bot(root: Path, source: str, checksums: bool) -> None:
    """The bot's side: run the download, say the link as soon as it is offered, then when the
    run has ended; serve until stdin closes."""
    from bot import config
    from bot.features.catalog import FEATURES, sections
    from bot.features.downloads.host import Downloads
    from bot.features.downloads.run import DownloadRun
    from bot.features.runbooks.binding import argv, bind
    from bot.features.runbooks.declaration import decode
    from bot.features.runbooks.runner import Launch, run
    from bot.transport.http import HttpListener

    loaded = config.load(root / "opsbot.toml", sections())

    class Host:  # what the pages ask of the engine: only the host config
        def host_config(self) -> config.Config:
            return loaded

        def owe(self, _effects: object) -> None:  # no route here owes anything
            raise AssertionError("unreachable")

    pages = [page for feature in FEATURES for page in feature.pages]
    listener = HttpListener(loaded, Host(), pages=pages)  # type: ignore[arg-type]
    await listener.start()
    template = (ROOT / "state_repo_template/runbooks/fetch-artifact.toml").read_text()
    runbook = decode("fetch-artifact", template.replace("http://127.0.0.1:8081/artifacts/", source))
    args = argv(runbook, bind(runbook, "file=dump.bin", {}, {}).values)
    if not checksums:
        at = args.index("--checksums")
        args = [*args[:at], *args[at + 2 :]]
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "run":
        downloads = Downloads.of(loaded)
        downloads.base_url = listener.url
        job = DownloadRun(downloads, f"bench-{time.time_ns()}", "@person:example.org", None, 0)
        job.declared = runbook.sha256
        env = job.begin()
        cancel = asyncio.Event()
        guard = asyncio.ensure_future(job.guard(cancel))
        launch = Launch(runbook.program, args, env, 3600, 4096, job.budget)
        program_cpu = cpu(os.getpid(), children=True)
        started = time.monotonic()
        running = asyncio.ensure_future(
            run(root / "hooks", launch, on_output=job.feed, cancel=cancel)
        )
        await job.offered.wait()
        print(json.dumps({"url": job.early_url, "offered": time.monotonic() - started}), flush=True)
        result = await running
        exited = time.monotonic()
        guard.cancel()
        delivery = await asyncio.to_thread(job.deliver, result.status == "ok", {}, 0, None)
        checked = time.monotonic()
        print(
            json.dumps(
                {
                    "ok": delivery.ok,
                    "text": delivery.text,
                    "output": result.output.decode()[-500:],
                    "fetch": exited - started,
                    "check": checked - exited,
                    "program cpu": cpu(os.getpid(), children=True) - program_cpu,
                }
            ),
            flush=True,
        )
    await listener.stop()


def curl(url: str, out: str) -> tuple[float, float]:
    """Seconds for the fetch, and curl's CPU seconds."""
    started = time.monotonic()
    proc = subprocess.Popen(["curl", "-sS", "--fail", "-o", out, url])
    _, code, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(code)
    assert proc.returncode == 0, f"curl {url}: exit {proc.returncode}"
    return elapsed, usage.ru_utime + usage.ru_stime


def settle(out: str) -> None:
    """A fresh start for a leg: no output file to write over, the page cache written back."""
    if out != "/dev/null":
        Path(out).unlink(missing_ok=True)
    os.sync()


def once(
    root: Path, size: int, source: str, sink: str, server: int, bot_pid: int, ask: Asker
) -> dict[str, float]:
    settle(sink)
    source_cpu = cpu(server)
    direct, direct_curl = curl(source + "dump.bin", sink)
    direct_source = cpu(server) - source_cpu
    settle(sink)
    Path(f"/proc/{bot_pid}/clear_refs").write_text("5")  # VmHWM from here on
    before = status(bot_pid)
    source_cpu, bot_cpu = cpu(server), cpu(bot_pid)
    started = time.monotonic()
    offer = ask("run")
    url = offer["url"]
    end_to_end, person_curl = curl(url, sink)  # follows the file as the program writes it
    end_to_end = time.monotonic() - started
    done = ask()
    assert done["ok"], done["text"] + done["output"]
    through_source, through_bot = cpu(server) - source_cpu, cpu(bot_pid) - bot_cpu
    if sink != "/dev/null":
        assert Path(sink).stat().st_size == size
    settle(sink)
    spent = cpu(bot_pid)
    alone, _ = curl(url, sink)
    spent = cpu(bot_pid) - spent
    after = status(bot_pid)
    shutil.rmtree(root / "state" / "downloads")
    mib = size / 2**20
    return {
        "curl from the source, MiB/s": mib / direct,
        "the program's own fetch, MiB/s": mib / done["fetch"],
        "end to end through opsbot, MiB/s": mib / end_to_end,
        "END TO END VS THE SOURCE": direct / end_to_end,
        "end to end vs the program's fetch": done["fetch"] / end_to_end,
        "link offered after, s": offer["offered"],
        "checksum after the program's exit, s": done["check"],
        "person's wait after the program's exit, s": end_to_end - done["fetch"],
        "link alone, MiB/s": mib / alone,
        "link alone vs the source": direct / alone,
        "CPU s, baseline: source": direct_source,
        "CPU s, baseline: curl": direct_curl,
        "CPU s, through: source": through_source,
        "CPU s, through: program": done["program cpu"],
        "CPU s, through: bot": through_bot,
        "CPU s, through: person's curl": person_curl,
        "CPU s, bot for the link alone": spent,
        "bot RSS growth, MB": (after["VmHWM"] - before["VmRSS"]) / 1024,
    }


def serve(directory: str, rate: float) -> None:
    """The source, paced at `rate` MiB/s (0: as fast as it can, as `python -m http.server`)."""
    import functools
    import http.server

    class Paced(http.server.SimpleHTTPRequestHandler):
        def copyfile(self, source: Any, outputfile: Any) -> None:
            if not rate:
                return super().copyfile(source, outputfile)
            started, sent = time.monotonic(), 0
            while block := source.read(2**20):
                outputfile.write(block)
                sent += len(block)
                time.sleep(max(0.0, started + sent / (rate * 2**20) - time.monotonic()))

        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Paced, directory=directory)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sinks", default="file,null", help="where the curls write: file, null")
    parser.add_argument("--no-checksums", action="store_true", help="the runbook without them")
    parser.add_argument("--source-mib-s", type=float, default=0, help="pace the source")
    parser.add_argument("--bot", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], float(args.serve[1]))
        return
    if args.bot:
        asyncio.run(bot(Path(args.bot[0]), args.bot[1], args.bot[2] == "checksums"))
        return
    size = args.size_mib * 2**20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        digest = hashlib.sha256()
        with (root / "www" / "dump.bin").open("wb") as f:
            for _ in range(args.size_mib):
                block = os.urandom(2**20)
                digest.update(block)
                f.write(block)
        (root / "www" / "SHA256SUMS").write_text(f"{digest.hexdigest()}  dump.bin\n")
        (root / "hooks").mkdir()
        shutil.copy(ROOT / "systemd/hooks.d/fetch-files", root / "hooks")
        (root / "opsbot.toml").write_text(
            f'[paths]\nrepo = "{root}/repo.git"\nstate_dir = "{root}/state"\n'
            f'[http]\nlisten = "127.0.0.1:0"\n[downloads]\nquota_bytes = {2 * size}\n'
            "single_use = false\n"
        )
        sinks = {"file": str(root / "person.bin"), "null": "/dev/null"}
        chosen = [s.strip() for s in args.sinks.split(",")]
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root / "www"), str(args.source_mib_s)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        results: dict[str, list[dict[str, float]]] = {s: [] for s in chosen}
        loads = []
        try:
            assert server.stdout
            port = int(server.stdout.readline())
            source = f"http://127.0.0.1:{port}/"
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--bot",
                    str(root),
                    source,
                    "none" if args.no_checksums else "checksums",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert proc.stdin and proc.stdout
            json.loads(proc.stdout.readline())  # ready: imports done, listener up

            def ask(line: str | None = None) -> dict[str, Any]:
                assert proc.stdin and proc.stdout
                if line is not None:
                    proc.stdin.write(line + "\n")
                    proc.stdin.flush()
                return json.loads(proc.stdout.readline())  # type: ignore[no-any-return]

            for _ in range(args.runs):
                loads.append(os.getloadavg()[0])
                for sink in chosen:
                    results[sink].append(
                        once(root, size, source, sinks[sink], server.pid, proc.pid, ask)
                    )
            proc.stdin.close()
            proc.wait(30)
        finally:
            server.terminate()
            server.wait()
    checked = "without checksums" if args.no_checksums else "checked against SHA256SUMS"
    if args.source_mib_s:
        checked += f", the source paced at {args.source_mib_s:g} MiB/s"
    print(
        f"{args.size_mib} MiB, {checked}, median of {args.runs} runs; load average (1 min) "
        f"as each run started: {', '.join(f'{x:.2f}' for x in loads)} on {os.cpu_count()} "
        "cores"
    )
    for sink in chosen:
        print(f"\nthe curls write to {'a file' if sink == 'file' else '/dev/null'}:")
        for key in results[sink][0]:
            values = [r[key] for r in results[sink]]
            each = ", ".join(f"{v:.2f}" for v in values)
            print(f"  {key:42} {statistics.median(values):8.2f}   ({each})")


if __name__ == "__main__":
    main()
