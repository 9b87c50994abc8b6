"""Reload on PostgreSQL: two receivers and a worker share one database, each with its own
copy of hookd.yaml; each reloads its own file and decides by its own configuration."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import deliveries
import pytest
from test_scale_out import start_worker, wait_until

import pg  # the PostgreSQL server fixture, shared by every test folder
from conftest import LiveServer, start_server, write_config

postgres_fixture = pg.postgres_fixture

CONFIG = """
server:
  port: 0
  database: {database}
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
{hooks}
"""
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}


def config(database: str, *hooks: str) -> str:
    listed = "".join(f'  {name}:\n    on: push\n    run: "true"\n' for name in hooks)
    return CONFIG.format(database=database, hooks=listed.rstrip("\n"))


@pytest.fixture
def processes(
    postgres: Any, tmp_path: Path
) -> Iterator[tuple[str, list[LiveServer], subprocess.Popen[bytes]]]:
    database = postgres.new_database() + "?timeout=1"
    folders = [tmp_path / name for name in ("a", "b")]
    for folder in (tmp_path, *folders):
        folder.mkdir(exist_ok=True)
        write_config(folder, config(database, "first"))
    receivers = [start_server(folder, "--workers", "0", "--watch", "0") for folder in folders]
    worker = start_worker(tmp_path, "worker")
    try:
        yield database, receivers, worker
    finally:
        for server in receivers:
            server.stop(signal.SIGKILL)
        worker.kill()
        worker.wait()


def decided_by(server: LiveServer, delivery_id: str) -> str:
    detail = deliveries.client().get(f"{server.url}/api/deliveries/{delivery_id}").json()
    return str(detail["config"])


def test_each_process_reloads_its_own_file(
    processes: tuple[str, list[LiveServer], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    database, (one, other), worker = processes
    before = deliveries.accept(other, deliveries.github("push", PUSH))
    old = decided_by(other, before["id"])

    # A new hook reaches the worker first (its own file, SIGHUP), then a receiver.
    write_config(tmp_path, config(database, "first", "second"))
    worker.send_signal(signal.SIGHUP)
    log = tmp_path / "worker.log"
    wait_until(lambda: "hooks added: second" in log.read_text(), "the worker to reload", worker)
    write_config(one.directory, config(database, "first", "second"))
    reloaded = deliveries.client().post(f"{one.url}/api/reload").json()
    assert reloaded["outcome"] == "applied" and reloaded["previous"] == old

    # The reloaded receiver decides by its new file; the other still by its own.
    here = deliveries.accept(one, deliveries.github("push", PUSH))
    there = deliveries.accept(other, deliveries.github("push", PUSH))
    assert here["hooks"] == ["first", "second"] and there["hooks"] == ["first"]
    assert decided_by(other, here["id"]) == reloaded["config"]
    assert decided_by(one, there["id"]) == old
    jobs = deliveries.wait_finished(one, here["id"], count=2, timeout=30)
    assert sorted((job["hook"], job["status"]) for job in jobs) == [
        ("first", "succeeded"), ("second", "succeeded"),
    ]  # fmt: skip
