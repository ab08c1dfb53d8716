"""A 1 GiB download through opsbot against `curl` straight from the source, in the same run.

    PYTHONPATH=$PWD python bench/download.py [--size-mib 1024] [--runs 3] [--sink FILE]

A local HTTP server (stdlib http.server, in its own process) serves a file of random bytes.
Baseline: `curl` fetches it from the source. Through opsbot: a process holding the bot's
download parts (the runbook runner, a download program, the ledger, the HTTP listener with the
link pages) runs a download whose program fetches the file into the run's directory with curl
and reports its progress; as soon as the bot offers the link (the total is known and past the
upload limit), `curl` fetches the link, as the person would, following the file as it is
written. Reported: the end-to-end throughput (from the run's start to the person's last byte)
against the baseline; the link alone (fetched again once the run has ended), with the bot's CPU
time for it; and the bot process' memory: VmRSS before, and VmHWM (its peak) after, from
/proc/<pid>/status. The person's curl and the baseline's write to `--sink` (default
/dev/null: the person's disk is not the bot's, and on one machine it would share the disk
with the bot's own copy). The median of `--runs` runs, each in order baseline, end to end,
link alone.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The download program: curl does the fetching (as an operator's program would), after a HEAD
# for the total, and a loop reports the file's size as it grows on the progress channel.
FETCH = """#!/bin/sh
out="$OPSBOT_DOWNLOAD_DIR/dump.bin"
total=$(curl -sI "$1" | tr -d '\\r' | awk 'tolower($1) == "content-length:" {print $2}')
size() { stat -c %s "$out" 2>/dev/null || echo 0; }
: > "$out"
(while :; do echo "progress $(size) ${total:--}"; sleep 0.2; done) & reporter=$!
curl -sS --fail -o "$out" "$1"; status=$?
kill $reporter
echo "progress $(size) $(size)"
exit $status
"""


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


async def bot(root: Path, source: str) -> None:
    """The bot's side: run the download, say the link as soon as it is offered, then when the
    run has ended; serve until stdin closes."""
    from bot import config
    from bot.downloads.host import Downloads
    from bot.downloads.run import DownloadRun
    from bot.features.catalog import FEATURES
    from bot.runbooks.runner import Launch, run
    from bot.transport.http import HttpListener

    loaded = config.load(root / "opsbot.toml")

    class Host:  # what the pages ask of the engine: only the host config
        def host_config(self) -> config.Config:
            return loaded

        def owe(self, _effects: object) -> None:  # no route here owes anything
            raise AssertionError("unreachable")

    pages = [page for feature in FEATURES for page in feature.pages]
    listener = HttpListener(loaded, Host(), pages=pages)  # type: ignore[arg-type]
    await listener.start()
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    downloads = Downloads.of(loaded)
    downloads.base_url = listener.url
    job = DownloadRun(downloads, f"bench-{time.time_ns()}", "@person:example.org", None, 0)
    env = job.begin()
    cancel = asyncio.Event()
    guard = asyncio.ensure_future(job.guard(cancel))
    launch = Launch("fetch", [source], env, 3600, 4096, job.budget)
    started = time.monotonic()
    running = asyncio.ensure_future(run(root / "hooks", launch, on_output=job.feed, cancel=cancel))
    await job.offered.wait()
    print(json.dumps({"url": job.early_url}), flush=True)
    result = await running
    fetched = time.monotonic() - started
    guard.cancel()
    delivery = await asyncio.to_thread(job.deliver, result.status == "ok", {}, 0, None)
    print(json.dumps({"ok": delivery.ok, "text": delivery.text, "fetch": fetched}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    await listener.stop()


def curl(url: str, out: str) -> float:
    if out != "/dev/null":
        Path(out).unlink(missing_ok=True)  # writing over 1 GiB costs more than a new file
    started = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "-o", out, url], check=True)
    return time.monotonic() - started


def cpu(pid: int) -> float:
    """User and system seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def once(root: Path, size: int, source: str, sink: str) -> dict[str, float]:
    direct = curl(source, sink)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bot", str(root), source],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    json.loads(proc.stdout.readline())  # ready: imports done, listener up
    before = status(proc.pid)
    started = time.monotonic()
    proc.stdin.write("\n")
    proc.stdin.flush()
    url = json.loads(proc.stdout.readline())["url"]
    curl(url, sink)  # follows the file as the program writes it
    end_to_end = time.monotonic() - started
    done = json.loads(proc.stdout.readline())
    assert done["ok"], done["text"]
    if sink != "/dev/null":
        assert Path(sink).stat().st_size == size
    spent = cpu(proc.pid)
    alone = curl(url, sink)
    spent = cpu(proc.pid) - spent
    after = status(proc.pid)
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(30)
    subprocess.run(["rm", "-rf", str(root / "state" / "downloads")], check=True)
    (root / "state" / "downloads.sqlite").unlink()
    mib = size / 2**20
    return {
        "direct MiB/s": mib / direct,
        "program's fetch MiB/s": mib / done["fetch"],
        "end-to-end MiB/s": mib / end_to_end,
        "end-to-end ratio": direct / end_to_end,
        "end-to-end vs fetch": done["fetch"] / end_to_end,
        "link alone MiB/s": mib / alone,
        "link alone ratio": direct / alone,
        "bot CPU s, link alone": spent,
        "RSS before MB": before["VmRSS"] / 1024,
        "RSS growth MB": (after["VmHWM"] - before["VmRSS"]) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sink", default="/dev/null", help="where the curls write")
    parser.add_argument("--bot", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bot:
        asyncio.run(bot(Path(args.bot[0]), args.bot[1]))
        return
    size = args.size_mib * 2**20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        with (root / "www" / "dump.bin").open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(2**20))
        (root / "hooks").mkdir()
        (root / "hooks" / "fetch").write_text(FETCH)
        (root / "hooks" / "fetch").chmod(0o755)
        (root / "opsbot.toml").write_text(
            f'[paths]\nrepo = "{root}/repo.git"\nstate_dir = "{root}/state"\n'
            f'[http]\nlisten = "127.0.0.1:0"\n[downloads]\nquota_bytes = {2 * size}\n'
            "single_use = false\n"
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
             "--directory", str(root / "www")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert server.stdout
            port = int(server.stdout.readline().split(" port ")[1].split()[0])
            source = f"http://127.0.0.1:{port}/dump.bin"
            results = [once(root, size, source, args.sink) for _ in range(args.runs)]
        finally:
            server.terminate()
            server.wait()
    print(f"{args.size_mib} MiB, median of {args.runs} runs:")
    for key in results[0]:
        values = [r[key] for r in results]
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {key:20} {statistics.median(values):8.2f}   ({each})")


if __name__ == "__main__":
    main()
