"""The template's example runbooks with their shipped programs, for real: a read-only query on a
real SQLite database, an HTTP health check of a real server, and the same check through the
declared tunnel to a service only reachable on another port."""

import http.server
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runbooks.declaration import argv, bind, decode
from bot.runbooks.runner import Launch, TunnelLaunch, run

ROOT = Path(__file__).parent.parent


def example(name: str, **replace: str) -> str:
    text = (ROOT / "state_repo_template/runbooks" / f"{name}.toml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    directory = tmp_path / "hooks.d"
    shutil.copytree(ROOT / "systemd/hooks.d", directory)
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
            [("paid", "-1 hours"), ("paid", "-2 hours"), ("failed", "-3 hours"),
             ("paid", "-30 hours")],
        )  # fmt: skip
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
