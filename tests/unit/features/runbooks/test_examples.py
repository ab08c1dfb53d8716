"""The template's example runbooks with their shipped programs, for real: a read-only query on a
real SQLite database, an HTTP health check of a real server, the same check through the
declared tunnel to a service only reachable on another port, and a download from a real
artifact store checked against its SHA256SUMS."""

import functools
import hashlib
import http.server
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import config
from bot.features.catalog import sections
from bot.features.downloads.host import Downloads
from bot.features.downloads.run import Delivery, DownloadRun
from bot.features.runbooks.binding import argv, bind
from bot.features.runbooks.declaration import decode
from bot.features.runbooks.runner import Launch, RunResult, TunnelLaunch, run
from tests.helpers.paths import CHECKOUT
from tests.helpers.template import example


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    directory = tmp_path / "hooks.d"
    shutil.copytree(CHECKOUT / "systemd/hooks.d", directory)
    return directory


@pytest.fixture
def service() -> Iterator[int]:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path in ("/health", "/version")
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b"ok\n" if ok else b"down\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_sql_query_reads_a_real_database_and_cannot_write_it(
    hooks: Path, tmp_path: Path
) -> None:
    db = tmp_path / "orders.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (status TEXT, created_at TEXT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, datetime('now', ?))",
            [
                ("paid", "-1 hours"),
                ("paid", "-2 hours"),
                ("failed", "-3 hours"),
                ("paid", "-30 hours"),
            ],
        )
    runbook = decode("sql-query", example("sql-query", **{"/var/lib/shop/orders.db": str(db)}))
    values = bind(runbook, "hours=6", {}, {}).values
    result = await run(hooks, Launch(runbook.program, argv(runbook, values), {}, 10, 1 << 20))
    assert result.status == "ok", result.output
    assert result.output.decode() == "status\torders\nfailed\t1\npaid\t2\n(2 rows)\n"

    writing = Launch("sql-query", ["--database", str(db), "--", "DELETE FROM orders"], {}, 10, 4096)
    refused = await run(hooks, writing)
    assert (refused.status, refused.exit_code) == ("failed", 1)
    assert b"readonly" in refused.output
    assert sqlite3.connect(db).execute("SELECT count(*) FROM orders").fetchone() == (4,)


async def test_http_check_says_whether_the_service_answers(hooks: Path, service: int) -> None:
    runbook = decode("http-check", example("http-check"))
    values = bind(runbook, f"port={service}", {}, {}).values
    result = await run(hooks, Launch(runbook.program, argv(runbook, values), {}, 10, 4096))
    assert result.status == "ok"
    assert result.output.decode().startswith(f"http://127.0.0.1:{service}/health: HTTP 200 in ")

    down = Launch("http-check", ["--url", f"http://127.0.0.1:{service}/nope"], {}, 10, 4096)
    assert (await run(hooks, down)).exit_code == 1


async def test_the_api_is_reached_through_the_declared_tunnel_and_only_through_it(
    hooks: Path, service: int
) -> None:
    runbook = decode(
        "api-via-tunnel", example("api-via-tunnel", **{"10.8.0.10:443": f"127.0.0.1:{service}"})
    )
    values = bind(runbook, "path=version", {}, {}).values
    assert runbook.tunnel is not None
    tunnel = TunnelLaunch(runbook.tunnel.program, runbook.tunnel.args, runbook.tunnel.port, 10)
    launch = Launch(runbook.program, argv(runbook, values), {}, 20, 4096)
    result = await run(hooks, launch, tunnel=tunnel)
    assert result.status == "ok", result.output
    assert b"127.0.0.1:18443/version: HTTP 200" in result.output

    without = await run(hooks, launch)  # the tunnel is stopped with the run
    assert without.exit_code == 2
    assert b"cannot reach" in without.output


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An artifact store: a directory served over HTTP, with a SHA256SUMS file."""
    root = tmp_path / "www" / "artifacts"
    root.mkdir(parents=True)
    (root / "web-1.4.2.tar.gz").write_bytes(os.urandom(3_000_000))
    digest = hashlib.sha256((root / "web-1.4.2.tar.gz").read_bytes()).hexdigest()
    (root / "SHA256SUMS").write_text(f"{digest}  web-1.4.2.tar.gz\n{'0' * 64}  corrupt.bin\n")
    (root / "corrupt.bin").write_bytes(b"not what the sums say")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/artifacts/", root
    server.shutdown()
    server.server_close()


async def fetch_artifact(
    hooks: Path, tmp_path: Path, source: str, file: str
) -> tuple[DownloadRun, RunResult, Delivery]:
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{tmp_path}/repo.git"\nstate_dir = "{tmp_path}/state"\n'
        '[http]\nlisten = "127.0.0.1:8088"\n'
    )
    runbook = decode(
        "fetch-artifact",
        example("fetch-artifact", **{"http://127.0.0.1:8081/artifacts/": source}),
    )
    values = bind(runbook, f"file={file}", {}, {}).values
    job = DownloadRun(
        Downloads.of(config.load(host, sections())), f"r-{file}", "@alice:example.org", "!r"
    )
    launch = Launch(runbook.program, argv(runbook, values), job.begin(), 30, 1 << 16, job.budget)
    result = await run(hooks, launch, on_output=job.feed)
    delivered = job.deliver(result.status == "ok", runbook.sha256, 1_000_000, "$ev", result.error)
    return job, result, delivered


async def test_fetch_artifact_brings_a_file_from_the_declared_store_checked(
    hooks: Path, tmp_path: Path, store: tuple[str, Path]
) -> None:
    source, root = store
    job, result, delivered = await fetch_artifact(hooks, tmp_path, source, "web-1.4.2.tar.gz")
    assert result.status == "ok", result.output
    assert job.last is not None and (job.last.done, job.last.total) == (3_000_000, 3_000_000)
    assert job.reported == {
        "web-1.4.2.tar.gz": hashlib.sha256((root / "web-1.4.2.tar.gz").read_bytes()).hexdigest()
    }
    assert delivered.ok and "/downloads/" in delivered.text  # over the upload limit: a link
    [kept] = job.downloads.store.files(job.run_id)
    assert kept.path.read_bytes() == (root / "web-1.4.2.tar.gz").read_bytes()


async def test_fetch_artifact_fails_a_file_that_does_not_match_the_stores_checksum(
    hooks: Path, tmp_path: Path, store: tuple[str, Path]
) -> None:
    source, _ = store
    _, result, delivered = await fetch_artifact(hooks, tmp_path, source, "corrupt.bin")
    assert result.status == "ok"
    assert not delivered.ok and delivered.error == "checksum"


async def test_fetch_artifact_says_when_the_store_has_no_such_file(
    hooks: Path, tmp_path: Path, store: tuple[str, Path]
) -> None:
    source, _ = store
    _, result, delivered = await fetch_artifact(hooks, tmp_path, source, "missing.tar.gz")
    assert result.exit_code == 1
    assert b"missing.tar.gz: HTTP 404" in result.output
    assert not delivered.ok


async def test_fetch_artifact_reports_the_checksum_before_the_file_so_it_is_checked_as_it_arrives(
    hooks: Path, tmp_path: Path, store: tuple[str, Path]
) -> None:
    source, _ = store
    _, result, _ = await fetch_artifact(hooks, tmp_path, source, "web-1.4.2.tar.gz")
    output = result.output.decode()
    assert output.index("sha256 ") < output.index("fetching ")


BODY = os.urandom(2_500_000)


@pytest.fixture
def awkward() -> Iterator[str]:
    """A source that sends a file chunked (no length said in advance) and one that stops
    before the length it announced."""

    class Awkward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            if self.path.endswith("/chunked.bin"):
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for at in range(0, len(BODY), 700_000):
                    part = BODY[at : at + 700_000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(BODY)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(BODY[:1_000_000])
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Awkward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/artifacts/"
    server.shutdown()
    server.server_close()


async def fetch_files(
    hooks: Path, tmp_path: Path, source: str, name: str, quota: int = 10**8
) -> tuple[RunResult, Path]:
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{tmp_path}/repo.git"\nstate_dir = "{tmp_path}/state"\n'
        f"[downloads]\nquota_bytes = {quota}\n"
    )
    job = DownloadRun(Downloads.of(config.load(host, sections())), "r1", "@alice:example.org", "!r")
    env = job.begin()
    launch = Launch("fetch-files", ["--source", source, name], env, 30, 1 << 16, job.budget)
    return await run(hooks, launch, on_output=job.feed), Path(env["OPSBOT_DOWNLOAD_DIR"]) / name


async def test_fetch_files_takes_a_file_sent_in_chunks_whole(
    hooks: Path, tmp_path: Path, awkward: str
) -> None:
    result, path = await fetch_files(hooks, tmp_path, awkward, "chunked.bin")
    assert result.status == "ok", result.output
    assert path.read_bytes() == BODY


async def test_fetch_files_fails_when_the_source_stops_before_the_length_it_announced(
    hooks: Path, tmp_path: Path, awkward: str
) -> None:
    result, _ = await fetch_files(hooks, tmp_path, awkward, "cut.bin")
    assert result.exit_code == 2
    assert b"the source stopped after 1000000 of 2500000 bytes" in result.output


async def test_fetch_files_stops_at_the_quota_with_a_clear_message(
    hooks: Path, tmp_path: Path, store: tuple[str, Path]
) -> None:
    source, _ = store
    result, _ = await fetch_files(hooks, tmp_path, source, "web-1.4.2.tar.gz", quota=1_000_000)
    assert result.exit_code == 3
    assert b"the download quota is reached" in result.output
