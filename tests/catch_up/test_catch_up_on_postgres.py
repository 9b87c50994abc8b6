"""Catch-up on PostgreSQL: one process at a time, and each failed delivery asked for once,
with two real `hookd serve` processes started together on one database."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hooks import GITHUB_TOKEN, FakeHooks

import pg  # the PostgreSQL server fixture, shared by every test folder
from conftest import LiveServer, start_server, write_config
from hookd.catch_up.run import catch_up
from hookd.config import load_config
from hookd.store import store_for
from hookd.store.postgres import PostgresStore

postgres_fixture = pg.postgres_fixture
postgres_url_fixture = pg.postgres_url_fixture

HOOK = "/repos/octo/hello/hooks/7"
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}
CONFIG = """
server:
  port: 0
  database: {database}
endpoints:
  github:
    forge: github
    secret: x
    api_url: {forge}
    api_token: {token}
    catch_up:
      interval: 1h
      hooks: [{{repository: octo/hello, id: 7}}]
hooks: {{}}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def forge() -> Iterator[FakeHooks]:
    with FakeHooks(hooks={HOOK}) as fake:
        yield fake


def configure(directory: Path, database: str, forge: FakeHooks) -> Path:
    text = CONFIG.format(database=database, forge=forge.url, token=GITHUB_TOKEN)
    return write_config(directory, text)


def test_two_servers_on_one_database_ask_for_each_failure_once(
    postgres_url: str, forge: FakeHooks, tmp_path: Path
) -> None:
    failed = [forge.github(HOOK, "push", PUSH) for _ in range(6)]  # nothing listens: all fail
    forge.delay = 0.2
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
        configure(folder, postgres_url, forge)
    servers: list[LiveServer] = []
    threads = [
        threading.Thread(target=lambda f=folder: servers.append(start_server(f, "--workers", "0")))
        for folder in folders
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(servers) == 2
        deadline = time.monotonic() + 20
        while len(forge.posts()) < len(failed) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # time for a second request, if one were coming
        forge.settle()
        asked = Counter(post.path.split("/")[-2] for post in forge.posts())
        originals = {
            str(a["id"]) for a in forge.attempts[HOOK] if a["key"] in failed and not a["redelivery"]
        }
        assert set(asked) == originals
        assert set(asked.values()) == {1}
        logs = "".join(server.log() for server in servers)
        assert logs.count("catch-up: requested github") == len(failed)
    finally:
        for server in servers:
            server.stop(signal.SIGKILL)


@pytest.mark.anyio
async def test_one_catch_up_at_a_time(postgres_url: str, forge: FakeHooks, tmp_path: Path) -> None:
    failed = forge.github(HOOK, "push", PUSH)
    forge.delay = 0.5
    config = load_config(configure(tmp_path, postgres_url, forge))
    stores = [PostgresStore(postgres_url), PostgresStore(postgres_url)]
    for store in stores:
        await store.open()
    try:
        results: list[Any] = await asyncio.gather(*(catch_up(config, s) for s in stores))
        assert sorted(result is None for result in results) == [False, True]
        done = next(result for result in results if result is not None)
        assert [(line.failure.key, line.outcome) for line in done.lines] == [(failed, "requested")]
        records = await stores[0].catch_up().requests(10)
        assert [(r.delivery, r.outcome, r.answer_status) for r in records] == [
            (failed, "requested", 202)
        ]
    finally:
        for store in stores:
            await store.close()


def test_both_backends_have_the_same_catch_up_tables(postgres_url: str, tmp_path: Path) -> None:
    tables = ("catch_up_hooks", "catch_up_scans", "catch_up_requests")
    lite_store = store_for(f"sqlite:///{tmp_path / 'hookd.db'}")

    async def migrate() -> None:
        await lite_store.open()
        await lite_store.close()

    asyncio.run(migrate())
    sqlite_columns, postgres_columns = pg.table_columns(tmp_path / "hookd.db", postgres_url, tables)
    assert postgres_columns == sqlite_columns
    assert sqlite_columns["catch_up_requests"][:5] == [
        "id",
        "endpoint",
        "forge",
        "hook",
        "delivery",
    ]
