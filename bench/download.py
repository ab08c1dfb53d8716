"""A 1 GiB download through opsbot against `curl` straight from the source, in the same run.

    PYTHONPATH=$PWD python bench/download.py [--size-mib 1024] [--runs 3]

A local HTTP server (stdlib http.server, in its own process) serves a file of random bytes.
Baseline: `curl` fetches it from the source into a file. Through opsbot: a process holding the
bot's download parts (the runbook runner, a download program, the ledger, the HTTP listener
with the link pages) runs a download runbook whose program fetches the file into the run's
directory, then `curl` fetches the link it offers into a file, as the person would. Reported:
each phase's throughput, the end-to-end ratio against the baseline (store and forward: the
file is fetched whole before the link is offered), and the bot process' memory: VmRSS before
and VmHWM (its peak) after, from /proc/<pid>/status. The median of `--runs` runs.
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

# The download program: curl does the fetching (as an operator's program would), and a loop
# reports the file's size as it grows on the progress channel.
FETCH = """#!/bin/sh
out="$OPSBOT_DOWNLOAD_DIR/dump.bin"
size() { stat -c %s "$out" 2>/dev/null || echo 0; }
(while :; do echo "progress $(size) -"; sleep 1; done) & reporter=$!
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
    """The bot's side: run the download, print the link, serve until stdin closes."""
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
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    downloads = Downloads.of(loaded)
    downloads.base_url = listener.url
    job = DownloadRun(downloads, "bench", "@person:example.org", None)
    env = job.begin()
    cancel = asyncio.Event()
    guard = asyncio.ensure_future(job.guard(cancel))
    started = time.monotonic()
    launch = Launch("fetch", [source], env, 3600, 4096, job.budget)
    result = await run(root / "hooks", launch, on_output=job.feed, cancel=cancel)
    guard.cancel()
    took = time.monotonic() - started
    delivery = job.deliver(result.status == "ok", {}, 0, None, result.error)
    url = delivery.text.split(": ", 1)[1].split()[0] if delivery.ok else None
    print(json.dumps({"fetch": took, "url": url, "text": delivery.text}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await listener.stop()


def curl(url: str, out: Path) -> float:
    started = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "-o", str(out), url], check=True)
    return time.monotonic() - started


def once(root: Path, size: int, source: str) -> dict[str, float]:
    for old in (root / "direct.bin", root / "linked.bin"):
        old.unlink(missing_ok=True)
    direct = curl(source, root / "direct.bin")
    (root / "direct.bin").unlink()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bot", str(root), source],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    json.loads(proc.stdout.readline())  # ready: imports done, listener up
    before = status(proc.pid)
    proc.stdin.write("\n")
    proc.stdin.flush()
    done = json.loads(proc.stdout.readline())
    assert done["url"], done["text"]
    served = curl(done["url"], root / "linked.bin")
    after = status(proc.pid)
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(30)
    assert (root / "linked.bin").stat().st_size == size
    (root / "linked.bin").unlink()
    subprocess.run(["rm", "-rf", str(root / "state" / "downloads")], check=True)
    (root / "state" / "downloads.sqlite").unlink()
    mib = size / 2**20
    return {
        "direct MiB/s": mib / direct,
        "opsbot fetch MiB/s": mib / done["fetch"],
        "opsbot link MiB/s": mib / served,
        "end-to-end ratio": direct / (done["fetch"] + served),
        "link ratio": direct / served,
        "RSS before MB": before["VmRSS"] / 1024,
        "RSS growth MB": (after["VmHWM"] - before["VmRSS"]) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
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
            results = [once(root, size, source) for _ in range(args.runs)]
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
