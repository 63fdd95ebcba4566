"""A real PostgreSQL server for the tests of the "outgrown one machine" mode.

``postgres_server`` (session scope) runs ``initdb`` into a fresh directory
and starts ``postgres`` on a free port, listening on 127.0.0.1 only, with its
socket in the same directory; it is stopped at the end of the session. As
root it runs as the ``postgres`` system user (Debian's package creates it;
PostgreSQL refuses to run as root). ``postgres_url`` gives each test a
database of its own (dropped afterwards) as a SQLAlchemy URL.

If PostgreSQL is missing or does not start, the fixture fails: a skipped
test is not a passing test. ``scripts/test.sh`` installs Debian's
``postgresql`` package when no server binaries are found; ``SMSPAY_PG_BIN``
names another directory holding initdb, pg_ctl and postgres."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port

SUPERUSER = "smspay"


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def find_bindir() -> str | None:
    """The directory with initdb/pg_ctl/postgres: ``SMSPAY_PG_BIN``, then the
    newest Debian ``/usr/lib/postgresql/<version>/bin``, then the PATH."""
    candidates = [os.environ.get("SMSPAY_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    if shutil.which("pg_ctl"):
        candidates.append(str(Path(shutil.which("pg_ctl")).parent))
    for d in candidates:
        if d and all(os.access(os.path.join(d, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


@dataclass
class PostgresServer:
    bindir: str
    root: Path
    port: int
    run_as: list[str]
    _databases: itertools.count = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as c:
            c.execute(sql)

    def create_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._databases)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, f"{self.bindir}/pg_ctl", "-D", str(self.root / "data"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The command prefix to run the server's tools, and the uid/gid that must
    own its directory (None: the current user)."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root and there is no 'postgres' system user to run PostgreSQL as "
            "(install Debian's postgresql package: ./scripts/test.sh does)"
        )
    # (runuser lives in /usr/sbin, which a minimal PATH may leave out.)
    runuser = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if not runuser:
        pytest.fail("runuser (util-linux) not found: cannot start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--"], user.pw_uid, user.pw_gid


def start_server() -> PostgresServer:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install Debian's "
            "postgresql package (./scripts/test.sh does) or set SMSPAY_PG_BIN"
        )
    run_as, uid, gid = _run_as()
    # Not under pytest's tmp_path: /tmp/pytest-of-root is closed to other users.
    root = Path(tempfile.mkdtemp(prefix="smspay-pg-"))
    if uid is not None:
        os.chown(root, uid, gid)
    server = PostgresServer(bindir=bindir, root=root, port=free_port(), run_as=run_as)
    init = subprocess.run(
        [
            *run_as,
            f"{bindir}/initdb",
            "-D",
            str(root / "data"),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
    # Durability is not under test: fsync off keeps the server fast on CI disks.
    options = (
        f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    started = server.pg_ctl("-l", str(root / "server.log"), "-o", options, "-w", "-t", "60", "start")
    if started.returncode != 0:
        log = server.log_tail()
        server.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start ({started.returncode}):\n{started.stdout}\n{started.stderr}\n{log}")
    return server


def stop_server(server: PostgresServer) -> None:
    server.pg_ctl("-m", "fast", "-w", "stop")
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """A fresh, empty database on the session's server (dropped afterwards)."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
