"""`TimedStore` forwards each operation by its parameters' names and times it: the names must
be the same in `Store` and every backend, and each operation must grow its own series."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hookd.store.base import Store
from hookd.store.postgres import PostgresStore
from hookd.store.records import DeliveryQuery, JobQuery
from hookd.store.sqlite import SqliteStore
from hookd.web.metrics import REGISTRY
from hookd.web.timed_store import TimedStore

pytestmark = pytest.mark.anyio
OPERATIONS = [
    name
    for name, member in vars(Store).items()
    if inspect.iscoroutinefunction(member) and not name.startswith("_")
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("backend", [SqliteStore, PostgresStore, TimedStore])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_has_the_parameter_names_of_store(operation: str, backend: type) -> None:
    expected = list(inspect.signature(getattr(Store, operation)).parameters)
    assert list(inspect.signature(getattr(backend, operation)).parameters) == expected


def timed_count(operation: str) -> float:
    value = REGISTRY.get_sample_value("hookd_store_latency_seconds_count", {"operation": operation})
    return value or 0.0


@pytest.fixture
async def timed(tmp_path: Path) -> AsyncIterator[TimedStore]:
    store = TimedStore(SqliteStore(f"sqlite:///{tmp_path / 'hookd.db'}"))
    await store.open()
    yield store
    await store.close()


async def test_each_operation_is_timed_under_its_own_name(timed: TimedStore) -> None:
    now = datetime.now(UTC)
    calls = {
        "list_deliveries": lambda: timed.list_deliveries(DeliveryQuery()),
        "list_jobs": lambda: timed.list_jobs(JobQuery()),
        "count_jobs": lambda: timed.count_jobs(("queued",)),
        "claim_job": lambda: timed.claim_job("w1", now, 30.0),
        "session_revoked": lambda: timed.session_revoked(b"digest".hex(), now),
        "schema_version": timed.schema_version,
    }
    for operation, call in calls.items():
        before = timed_count(operation)
        await call()
        assert timed_count(operation) == before + 1, operation


async def test_waiting_for_jobs_is_not_timed(timed: TimedStore) -> None:
    before = timed_count("wait_for_jobs")
    await timed.wait_for_jobs(0.01)
    assert timed_count("wait_for_jobs") == before == 0
