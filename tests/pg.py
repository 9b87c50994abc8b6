"""A real PostgreSQL server for the tests, started from the machine's `initdb`/`pg_ctl` in a
temporary directory: TCP on 127.0.0.1 on a free port, its unix socket in that directory.
As root, the server runs as the `postgres` user (initdb refuses root).

One cluster per test session: a template database with hookd's migrations applied is built
once, and each test gets its own database cloned from it (`CREATE DATABASE ... TEMPLATE`).
Outside CI (`CI` unset) a machine without PostgreSQL skips these tests with the reason; in
CI it fails them, so they can never silently not run.

Test modules in every folder import the fixtures (`from pg import postgres_fixture,
postgres_url_fixture`, or `import pg`): this module sits beside tests/conftest.py, whose
folder is on the import path. A conftest.py of its own would shadow tests/conftest.py for
`from conftest import ...` in folders collected later.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest

from hookd.store.postgres_connect import connect, migrate
from hookd.store.postgres_url import parse_url

TEMPLATE = "hookd_template"
SERVER_USER = "postgres"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: from PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent

    def version(initdb: Path) -> list[int]:
        return [int(part) for part in initdb.parts[-3].split(".") if part.isdigit()]

    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    return versions[-1].parent if versions else None


def unavailable(reason: str) -> NoReturn:
    """Skip (a developer's machine) or fail (CI) because PostgreSQL cannot run here."""
    message = f"PostgreSQL tests cannot run: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL server in its own directory. `url(name)` reaches database `name`."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.directory = Path(tempfile.mkdtemp(prefix="hookd-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        if self._as_postgres:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(self.binaries / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.directory / "server.log"
            detail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}{detail}")

    def initialize(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "--auth=trust", f"--username={SERVER_USER}",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=on "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.directory / "server.log"),
            "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def remove(self) -> None:
        """Stop the server (if it runs) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(), autocommit=True)

    def build_template(self) -> None:
        with self.admin() as connection:
            connection.execute(f"CREATE DATABASE {TEMPLATE}")

        async def apply() -> None:
            async with await connect(parse_url(self.url(TEMPLATE))) as connection:
                await migrate(connection)

        asyncio.run(apply())

    def new_database(self) -> str:
        """A fresh database cloned from the migrated template; returns its URL."""
        name = f"test_{next(self._names)}"
        with self.admin() as connection:
            for _ in range(50):  # the template's last session may still be ending
                try:
                    connection.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"the template database stayed in use; cannot create {name}")
        return self.url(name)


_cluster: Cluster | None = None


def shared_cluster() -> Cluster:
    """The session's cluster, started (with its template) on first use; skips or fails the
    asking test when PostgreSQL cannot run here."""
    global _cluster
    if _cluster is None:
        binaries = find_binaries()
        if binaries is None:
            unavailable("initdb/pg_ctl not found (apt-get install postgresql)")
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                unavailable(f"running as root needs a {SERVER_USER!r} user (useradd {SERVER_USER})")
        cluster = Cluster(binaries)
        atexit.register(cluster.remove)  # even if the session ends without its teardown
        cluster.initialize()
        cluster.start()
        cluster.build_template()
        _cluster = cluster
    return _cluster


def stop_shared_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.remove()
        _cluster = None


@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[Cluster]:
    """The session's PostgreSQL server, stopped and removed at the end."""
    yield shared_cluster()
    stop_shared_cluster()


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres: Cluster) -> str:
    """The URL of a database of this test's own, with hookd's schema."""
    return postgres.new_database()


def table_columns(
    sqlite_file: Path, postgres_url: str, tables: Sequence[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each of `tables`' columns, in order: in a SQLite file hookd's store has migrated, and
    in the PostgreSQL database at `postgres_url`."""
    with sqlite3.connect(sqlite_file) as lite:
        sqlite_columns = {
            table: [row[1] for row in lite.execute(f"PRAGMA table_info({table})")]
            for table in tables
        }
    lite.close()
    with psycopg.connect(postgres_url) as connection:
        postgres_columns = {
            table: [
                row[0]
                for row in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position",
                    (table,),
                )
            ]
            for table in tables
        }
    return sqlite_columns, postgres_columns
