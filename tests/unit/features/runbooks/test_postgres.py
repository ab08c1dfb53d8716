"""The template's read-only SQL runbook against a real PostgreSQL: a throwaway cluster started
for this module (Debian's postgresql: initdb and pg_ctl, a Unix socket in a temporary directory,
no TCP port), queried by the shipped `sql-query` program through the host's `psql`.

PostgreSQL refuses to run as root: when the tests do, the cluster belongs to the `postgres`
user the Debian package creates. Without the package, or as root without that user, the tests
say they were skipped and why."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.features.runbooks.binding import argv, bind
from bot.features.runbooks.declaration import decode
from bot.features.runbooks.runner import Launch, run
from tests.helpers.paths import CHECKOUT
from tests.helpers.template import example

SQLITE_SINCE = "datetime('now', '-{hours} hours')"
POSTGRES_SINCE = "now() - interval '{hours} hours'"


def _server_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@dataclass(frozen=True)
class Cluster:
    socket_dir: Path

    def uri(self, user: str) -> str:
        return f"postgresql:///shop?host={self.socket_dir}&port=5432&user={user}"

    def psql(self, user: str, sql: str) -> str:
        return subprocess.run(
            [
                "psql",
                "--no-psqlrc",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.uri(user),
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    server = _server_bin()
    if server is None or shutil.which("psql") is None:
        pytest.skip("PostgreSQL is not installed (Debian: postgresql); scripts/test installs it")
    owner: str | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    # Not under pytest's tmp_path: as root, that is private to root, and the server is not.
    base = Path(tempfile.mkdtemp(prefix="opsbot-pg-"))
    if owner is not None:
        shutil.chown(base, user=owner)
    data = base / "data"

    def as_owner(*command: str) -> None:
        subprocess.run(command, check=True, capture_output=True, user=owner, timeout=60)

    try:
        as_owner(
            str(server / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "opsbot",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = f"-k {base} -c listen_addresses= -p 5432 -c fsync=off"
        as_owner(
            str(server / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(base / "log"),
            "start",
        )
        found = Cluster(base)
        subprocess.run(
            [
                "psql",
                "--no-psqlrc",
                "-q",
                "-d",
                found.uri("opsbot").replace("/shop?", "/postgres?"),
                "-c",
                "CREATE DATABASE shop",
            ],
            check=True,
            capture_output=True,
        )
        found.psql(
            "opsbot",
            "CREATE TABLE orders (status text, created_at timestamptz);"
            "INSERT INTO orders VALUES ('paid', now() - interval '1 hour'),"
            " ('paid', now() - interval '2 hours'), ('failed', now() - interval '3 hours'),"
            " ('paid', now() - interval '30 hours');"
            "CREATE ROLE reader LOGIN; GRANT SELECT ON orders TO reader;",
        )
        yield found
    finally:
        if (data / "postmaster.pid").exists():
            as_owner(str(server / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    directory = tmp_path / "hooks.d"
    shutil.copytree(CHECKOUT / "systemd/hooks.d", directory)
    return directory


def sql_query(cluster: Cluster, user: str) -> str:
    """The template's sql-query runbook, pointed at the cluster, in PostgreSQL's dialect."""
    text = example("sql-query", **{"/var/lib/shop/orders.db": cluster.uri(user)})
    assert SQLITE_SINCE in text
    return text.replace(SQLITE_SINCE, POSTGRES_SINCE)


async def test_sql_query_reads_a_real_postgresql(cluster: Cluster, hooks: Path) -> None:
    runbook = decode("sql-query", sql_query(cluster, "reader"))
    values = bind(runbook, "hours=6", {}, {}).values
    result = await run(hooks, Launch(runbook.program, argv(runbook, values), {}, 30, 1 << 20))
    assert result.status == "ok", result.output
    assert result.output.decode() == "status\torders\nfailed\t1\npaid\t2\n(2 rows)\n"

    limited = bind(runbook, "hours=48 limit=1", {}, {}).values
    result = await run(hooks, Launch(runbook.program, argv(runbook, limited), {}, 30, 1 << 20))
    assert result.output.decode() == "status\torders\nfailed\t1\n(1 rows (more not shown))\n"


async def test_sql_query_cannot_write_to_postgresql(cluster: Cluster, hooks: Path) -> None:
    async def query(user: str, sql: str) -> tuple[int | None, bytes]:
        launch = Launch("sql-query", ["--database", cluster.uri(user), "--", sql], {}, 30, 4096)
        result = await run(hooks, launch)
        return result.exit_code, result.output

    # Whoever connects, a statement that writes is refused in a read-only transaction...
    code, output = await query("opsbot", "DELETE FROM orders")
    assert code == 1 and b"cannot execute DELETE in a read-only transaction" in output
    # ...and SQL that turns that off meets the role's grants: what guarantees it.
    code, output = await query("reader", "SET TRANSACTION READ WRITE; DELETE FROM orders")
    assert code == 1 and b"permission denied for table orders" in output
    assert cluster.psql("opsbot", "SELECT count(*) FROM orders") == "4\n"


async def test_a_database_that_cannot_be_reached_exits_2(cluster: Cluster, hooks: Path) -> None:
    missing = cluster.uri("reader").replace("/shop?", "/nowhere?")
    result = await run(
        hooks, Launch("sql-query", ["--database", missing, "--", "SELECT 1"], {}, 30, 4096)
    )
    assert result.exit_code == 2
    assert b'database "nowhere" does not exist' in result.output
