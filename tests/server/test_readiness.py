"""What `/readyz` says, against live `hookd serve` processes: ready only when a delivery
could be committed now (not with the disk full, the file damaged, or the database away),
details only for who holds the token; and the store recovers by itself once the disk has
room again or PostgreSQL is back, without a restart.

The full disk is a small tmpfs mounted for the test (as root, in CI too); where mounting is
not permitted that test is skipped, except in CI (`CI` set), where it fails."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import deliveries
import httpx
import pytest

import pg  # the PostgreSQL server fixture, shared by every test folder
from conftest import LiveServer, start_server, write_config

postgres_fixture = pg.postgres_fixture

TOKEN = "readiness-test-token"
CONFIG = """
server:
  port: 0
  database: {database}
  token: {token}
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
hooks: {{}}
"""
PAD = os.urandom(10_000).hex()  # 20 kB of JSON string that no page compresses away
Factory = Callable[..., LiveServer]


def config(database: str) -> str:
    return CONFIG.format(database=database, token=TOKEN)


def readyz(server: LiveServer, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/readyz", headers=headers, timeout=30)


def wait_ready(
    server: LiveServer, status: int, token: str | None = TOKEN, timeout: float = 30
) -> httpx.Response:
    """Poll /readyz until it answers `status` (a probe's answer is kept for a second);
    return that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = readyz(server, token)
        if answer.status_code == status:
            return answer
        assert time.monotonic() < deadline, f"/readyz still answers {answer.text}"
        time.sleep(0.2)


def push() -> deliveries.Outgoing:
    """A push whose body is its own (an identical body would be answered as a replay)."""
    return deliveries.github(
        "push", {"ref": "refs/heads/main", "after": uuid.uuid4().hex, "pad": PAD}
    )


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Mount a tmpfs of the given size in MB; unmounted after the test."""
    mounted: list[Path] = []

    def mount(megabytes: int) -> Path:
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            reason = f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}"
            if os.environ.get("CI"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def test_strangers_learn_only_ready_or_not(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory(config("sqlite:///hookd.db?timeout=0.3"), "--workers", "0")
    assert readyz(server).status_code == 200
    assert readyz(server).json() == {"status": "ready"}
    detailed = readyz(server, TOKEN).json()
    assert detailed == {"status": "ready", "database": "sqlite:///hookd.db?timeout=0.3"}
    assert readyz(server, "wrong-token").json() == {"status": "ready"}
    lock = deliveries_lock(tmp_path / "hookd.db")
    try:
        refused = wait_ready(server, 503)
        assert "database is locked" in refused.json()["error"]
        stranger = readyz(server)
        assert stranger.status_code == 503
        assert stranger.json() == {"status": "unavailable"}
    finally:
        lock.close()
    wait_ready(server, 200)


def deliveries_lock(path: Path) -> sqlite3.Connection:
    """Another connection holding the write lock until closed."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    return connection


def test_a_full_disk_is_not_ready_and_room_freed_heals_it_without_a_restart(
    server_factory: Factory, tmp_path: Path, tmpfs: Callable[[int], Path]
) -> None:
    # A delivery committed alone writes ~20 pages of WAL (its row, its body, its jobs, the
    # indexes, its digest and configuration rows): 6 MB of room, for a margin over 50.
    disk = tmpfs(8)
    server = server_factory(config(f"sqlite:///{disk}/hookd.db"), "--workers", "0")
    ballast = disk / "ballast"
    ballast.write_bytes(os.urandom(2 * 1024 * 1024))
    accepted = 0
    for _ in range(1000):  # 8 MB hold far fewer than 1000 deliveries of 20 kB
        answer = deliveries.post(server, push())
        if answer.status_code != 202:
            break
        accepted += 1
        if accepted % 25 == 0:
            # What the WAL holds must be copied into the database file before the WAL can
            # shrink, and the database file grows to take it: freed room heals the disk
            # once it holds that, at most the last second's deliveries (here 0.5 MB).
            time.sleep(1.2)
    assert answer.status_code == 503, answer.text
    assert accepted > 50
    full = wait_ready(server, 503)
    assert "full" in full.json()["error"], full.text
    assert deliveries.post(server, push()).status_code == 503

    ballast.unlink()
    wait_ready(server, 200)
    for _ in range(40):  # more than one: the room freed is not eaten up by the WAL
        deliveries.accept(server, push())
    assert server.process.poll() is None
    assert readyz(server).status_code == 200


def test_random_bytes_over_the_database_pages_make_it_not_ready(
    server_factory: Factory, tmp_path: Path
) -> None:
    server = server_factory(config("sqlite:///hookd.db"), "--workers", "0")
    deliveries.accept_all(server, [push() for _ in range(100)])
    time.sleep(1.5)  # a checkpoint copies the deliveries into the file
    wait_ready(server, 200)  # its write starts the WAL afresh, so pages are read from the file
    time.sleep(1.5)
    database = tmp_path / "hookd.db"
    size = database.stat().st_size
    assert size > 1024 * 1024
    with database.open("r+b") as file:
        file.seek(4096)  # page 1 (header and schema) stays: the rest is noise
        file.write(os.urandom(size - 4096))
    damaged = wait_ready(server, 503)
    assert "damaged" in damaged.json()["error"], damaged.text
    assert readyz(server).json() == {"status": "unavailable"}
    assert server.process.poll() is None


def test_after_each_postgresql_restart_the_first_delivery_to_each_receiver_is_stored(
    postgres: Any, tmp_path: Path
) -> None:
    database = postgres.new_database()
    receivers = []
    for n in range(2):
        folder = tmp_path / f"receiver{n}"
        folder.mkdir()
        write_config(folder, config(database))
        receivers.append(start_server(folder, "--workers", "0"))
    try:
        with ThreadPoolExecutor(16) as pool:  # both pools grow to several connections
            sent = [push() for _ in range(64)]
            posted = pool.map(lambda n: deliveries.post(receivers[n % 2], sent[n]), range(64))
            assert {answer.status_code for answer in posted} == {202}
        stranger = readyz(receivers[0]).text
        assert stranger == '{"status":"ready"}'
        assert readyz(receivers[0], TOKEN).json()["database"] == database
        for _ in range(3):
            postgres.stop()
            try:
                with ThreadPoolExecutor(2) as pool:  # each waits up to 2 s for its probe
                    refused = pool.map(lambda r: wait_ready(r, 503, token=None), receivers)
                    assert [answer.json() for answer in refused] == [{"status": "unavailable"}] * 2
            finally:
                postgres.start()  # returns once it accepts connections
            for receiver in receivers:
                deliveries.accept(receiver, push())
            for receiver in receivers:
                wait_ready(receiver, 200)
    finally:
        for receiver in receivers:
            receiver.stop()
