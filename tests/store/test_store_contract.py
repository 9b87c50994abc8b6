"""The `Store` contract, one suite run against every backend: SQLite on a file in tmp_path,
PostgreSQL on a database of the test's own (see pg.py). Where a test opens several stores on
one database, they stand for several processes (receivers or workers) sharing it."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from hookd.core.delivery import Delivery
from hookd.errors import NotFound
from hookd.store import store_for
from hookd.store.base import Store
from hookd.store.migrations import migrations
from hookd.store.records import (
    DeliveryQuery,
    JobOutcome,
    JobProcess,
    JobQuery,
    JobRecord,
    KeptFiles,
    NewJob,
    Recorded,
    RejectedRequest,
    ReplayGuard,
)
from pg import postgres_fixture, postgres_url_fixture  # noqa: F401 - fixtures

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
LEASE = 30.0
OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hookd.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[OpenStore]:
    """Opens another store on the test's database (another process's view of it)."""
    opened: list[Store] = []

    async def another() -> Store:
        store = store_for(store_url)
        await store.open()
        opened.append(store)
        return store

    yield another
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


def make_delivery(
    delivery_id: str | None = "",
    *,
    endpoint: str = "github",
    event: str = "push",
    repository: str = "octo/hello",
) -> Delivery:
    """A GitHub push; `delivery_id` "" gives it a fresh forge id, None gives it none."""
    payload = {"ref": "refs/heads/main", "after": "c0ffee", "repository": {"full_name": repository}}
    body = orjson.dumps(payload) + " \xe9t\xe9\n".encode()
    forge_id = str(uuid.uuid4()) if delivery_id == "" else delivery_id
    return Delivery(
        endpoint=endpoint, forge="github", event=event, forge_event=event, action=None,
        delivery_id=forge_id, content_type="application/json",
        headers=(("X-GitHub-Event", event), ("X-GitHub-Delivery", forge_id or "")),
        body=body, payload=payload,
    )  # fmt: skip


async def record(
    store: Store,
    delivery: Delivery | None = None,
    jobs: Sequence[NewJob] = (NewJob("deploy", max_attempts=3),),
    *,
    at: datetime = T0,
    replay_of: str | None = None,
    guard: ReplayGuard | None = None,
) -> Recorded:
    return await store.record_delivery(
        delivery or make_delivery(), received_at=at, remote_addr="127.0.0.1",
        trace=[{"hook": job.hook, "matched": True, "reason": None} for job in jobs],
        jobs=jobs, replay_of=replay_of, guard=guard,
    )  # fmt: skip


WINDOW = timedelta(hours=72)


def guarded(delivery: Delivery) -> ReplayGuard:
    """Replay protection for `delivery` over GitHub's 72 hours."""
    return ReplayGuard(hashlib.sha256(delivery.body).digest(), WINDOW)


BODY_SHA = hashlib.sha256(b'{"captured":true}').digest()


def sha(delivery: Delivery) -> bytes:
    return hashlib.sha256(delivery.body).digest()


def same_body(delivery_id: str | None, *, endpoint: str = "github") -> Delivery:
    """One body under any delivery id: a captured delivery sent again."""
    return replace(make_delivery(delivery_id, endpoint=endpoint), body=b'{"captured":true}')


def grouped(group: str, *, cancel_in_progress: bool = False) -> tuple[NewJob, ...]:
    return (NewJob("deploy", 1, concurrency_group=group, cancel_in_progress=cancel_in_progress),)


async def claim(store: Store, worker: str = "w1", at: datetime = T0) -> JobRecord:
    job = await store.claim_job(worker, at, LEASE)
    assert job is not None, "expected a claimable job"
    return job


# Deliveries


async def test_records_a_delivery_with_its_jobs_in_one_call(store: Store) -> None:
    delivery = make_delivery()
    jobs = (NewJob("deploy", 3), NewJob("notify", 1))
    recorded = await record(store, delivery, jobs)
    assert (recorded.status, recorded.hooks, len(recorded.job_ids)) == (
        "accepted", ("deploy", "notify"), 2,
    )  # fmt: skip
    detail = await store.get_delivery(recorded.id)
    assert detail.body == delivery.body
    assert detail.headers == delivery.headers
    assert detail.trace[1] == {"hook": "notify", "matched": True, "reason": None}
    assert (detail.content_type, detail.forge_event) == ("application/json", "push")
    assert detail.record.jobs == recorded.job_ids
    assert (detail.record.repository, detail.record.received_at) == ("octo/hello", T0)
    assert (detail.record.remote_addr, detail.record.size) == ("127.0.0.1", len(delivery.body))
    job = await store.get_job(recorded.job_ids[0])
    assert (job.status, job.attempts, job.max_attempts, job.queued_at) == ("queued", 0, 3, T0)


async def test_each_job_keeps_the_ref_it_runs_for(store: Store) -> None:
    """A delivery of several refs gets a job per matching ref (a group's jobs are inserted
    apart from the delivery on PostgreSQL: both paths keep the ref)."""
    jobs = (
        NewJob("deploy", 1, ref="refs/heads/release/1"),
        NewJob("deploy", 1, ref="refs/heads/release/2", concurrency_group="g"),
        NewJob("notify", 1),
    )
    recorded = await record(store, make_delivery(), jobs)
    found = [await store.get_job(job_id) for job_id in recorded.job_ids]
    assert [job.ref for job in found] == ["refs/heads/release/1", "refs/heads/release/2", None]
    ungrouped = await record(store, make_delivery(), (NewJob("deploy", 1, ref="refs/tags/v1"),))
    assert (await store.get_job(ungrouped.job_ids[0])).ref == "refs/tags/v1"


async def test_a_large_body_is_kept_byte_for_byte_and_deduplicated(store: Store) -> None:
    """Over 1 MiB, a body is written and read back in pieces on both backends."""
    large = bytes(range(256)) * (3 * 4096) + b"\x00end"  # 3 MiB and a bit, every byte value
    delivery = replace(make_delivery("d-large"), body=large)
    original = await record(store, delivery)
    detail = await store.get_delivery(original.id)
    assert (detail.body, detail.record.size) == (large, len(large))
    again = await record(store, delivery, at=T0 + timedelta(seconds=1))
    assert (again.status, again.id) == ("duplicate", original.id)
    grouped_copy = replace(delivery, delivery_id="d-large-2")
    recorded = await record(store, grouped_copy, grouped("site"))
    assert (await store.get_delivery(recorded.id)).body == large


async def test_second_copy_of_a_delivery_is_a_duplicate_of_the_first(store: Store) -> None:
    delivery = make_delivery("d-1")
    original = await record(store, delivery)
    again = await record(store, delivery, at=T0 + timedelta(seconds=1))
    assert (again.status, again.id, again.job_ids) == ("duplicate", original.id, ())
    assert len(await store.list_jobs(JobQuery())) == 1
    newest = (await store.list_deliveries(DeliveryQuery()))[0]
    assert (newest.status, newest.duplicate_of, newest.jobs) == ("duplicate", original.id, ())


async def test_replay_is_accepted_again_with_its_own_id(store: Store) -> None:
    delivery = make_delivery("d-1")
    original = await record(store, delivery)
    replay = await record(store, delivery, replay_of=original.id)
    assert replay.status == "accepted" and replay.id != original.id
    assert (await store.get_delivery(replay.id)).record.replay_of == original.id
    assert (await record(store, delivery)).status == "duplicate"


async def test_dedupe_is_per_endpoint_and_needs_a_delivery_id(store: Store) -> None:
    assert (await record(store, make_delivery("d-1"))).status == "accepted"
    assert (await record(store, make_delivery("d-1", endpoint="gitea"))).status == "accepted"
    for _ in range(2):
        assert (await record(store, make_delivery(None))).status == "accepted"


async def test_concurrent_receivers_accept_a_delivery_once(open_store: OpenStore) -> None:
    receivers = [await open_store() for _ in range(3)]
    delivery = make_delivery("raced")
    results = await asyncio.gather(*(record(receivers[n % 3], delivery) for n in range(12)))
    accepted = [result for result in results if result.status == "accepted"]
    assert len(accepted) == 1
    assert {result.id for result in results} == {accepted[0].id}
    assert len(await receivers[0].list_jobs(JobQuery())) == 1


async def test_deliveries_recorded_at_once_are_decided_as_if_one_after_another(
    store: Store,
) -> None:
    """A batch of 88 (SQLite inserts runs of them a statement per table): fresh deliveries,
    with and without a configuration, a forge id seen before and one twice in the batch, a
    body twice in the batch, a job in a concurrency group and a replay between them."""
    seen = await record(store, make_delivery("seen-before"))
    fresh = [make_delivery() for _ in range(80)]
    twice = make_delivery("twice")
    copy_one, copy_two = same_body("copy-1"), same_body("copy-2")
    calls = [
        *(record(store, delivery) for delivery in fresh[:40]),
        record(store, make_delivery("seen-before")),
        record(store, twice),
        record(store, twice),
        record(store, copy_one, guard=guarded(copy_one)),
        record(store, copy_two, guard=guarded(copy_two)),
        record(store, make_delivery(), grouped("site")),
        record(store, make_delivery("seen-before"), replay_of=seen.id),
        store.record_delivery(
            make_delivery("configured"),
            received_at=T0,
            remote_addr=None,
            trace=[],
            jobs=[NewJob("a", 1), NewJob("b", 2)],
            config="0123456789ab",
        ),
        *(record(store, delivery) for delivery in fresh[40:]),
    ]
    results = await asyncio.gather(*calls)
    statuses = [result.status for result in results]
    assert statuses[:40] + statuses[45:] == ["accepted"] * 83
    assert (results[40].status, results[40].id) == ("duplicate", seen.id)
    # Of two copies at once, either may come first (on PostgreSQL, they race).
    for pair, same_body_too in ((results[41:43], False), (results[43:45], True)):
        first, second = sorted(pair, key=lambda result: result.status)
        assert (first.status, second.status, second.id) == ("accepted", "duplicate", first.id)
        assert second.same_body is same_body_too
    configured = results[47]
    assert configured.hooks == ("a", "b") and len(configured.job_ids) == 2
    assert (await store.get_delivery(configured.id)).record.config == "0123456789ab"
    jobs = await store.list_jobs(JobQuery(limit=500))
    accepted = [result for result in results if result.status == "accepted"]
    assert len(jobs) == 1 + sum(len(result.job_ids) for result in accepted) == 1 + 86
    assert {job.delivery_id for job in jobs} == {seen.id} | {result.id for result in accepted}
    for delivery, result in zip(fresh, [*results[:40], *results[48:]], strict=True):
        detail = await store.get_delivery(result.id)
        assert (detail.body, detail.record.delivery) == (delivery.body, delivery.delivery_id)
        assert detail.record.jobs == result.job_ids
    duplicates = await store.list_deliveries(DeliveryQuery(status="duplicate", limit=10))
    twice_first = next(result for result in results[41:43] if result.status == "accepted")
    assert sorted(row.duplicate_of or "" for row in duplicates) == sorted([seen.id, twice_first.id])


async def test_rejection_is_recorded_without_a_body(store: Store) -> None:
    rejected = RejectedRequest(
        endpoint="github", path="/hooks/github", status=401, reason="bad signature",
        remote_addr="10.0.0.1", size=512, received_at=T0, event="push", delivery="claimed-id",
    )  # fmt: skip
    [rejection_id] = await store.record_rejections([rejected])
    detail = await store.get_delivery(rejection_id)
    assert (detail.record.status, detail.record.reason, detail.body) == (
        "rejected", "bad signature", None,
    )  # fmt: skip
    assert (detail.record.size, detail.record.remote_addr) == (512, "10.0.0.1")
    assert (detail.record.event, detail.record.delivery) == ("push", "claimed-id")
    # what its headers claimed is kept, but it is no delivery: the id is not taken
    assert (await record(store, make_delivery("claimed-id"))).status == "accepted"


def rejection(endpoint: str = "github", at: datetime = T0) -> RejectedRequest:
    return RejectedRequest(endpoint, f"/hooks/{endpoint}", 401, "bad signature", None, 0, at)


async def test_rejected_requests_are_a_sample_of_the_newest_per_endpoint(store: Store) -> None:
    made = [*await store.record_rejections([rejection()] * 3, keep=5)]
    made += await store.record_rejections([rejection()] * 5, keep=5)
    [other] = await store.record_rejections([rejection("gitea")], keep=5)
    accepted = await record(store)

    async def listed(endpoint: str) -> list[str]:
        query = DeliveryQuery(endpoint=endpoint, status="rejected")
        return [found.id for found in await store.list_deliveries(query)]

    assert await listed("github") == made[::-1][:5]
    assert await listed("gitea") == [other]
    assert (await store.get_delivery(accepted.id)).record.status == "accepted"
    # A smaller sample is trimmed to at the next rejected request.
    [newest] = await store.record_rejections([rejection()], keep=2)
    assert await listed("github") == [newest, made[-1]]


async def test_an_identical_body_is_a_duplicate_of_the_first_whatever_its_id(store: Store) -> None:
    first = await record(store, same_body("d-1"), guard=guarded(same_body("d-1")))
    for delivery_id in ("d-2", None):
        again = same_body(delivery_id)
        recorded = await record(store, again, at=T0 + timedelta(hours=71), guard=guarded(again))
        assert (recorded.status, recorded.id, recorded.delivery) == ("duplicate", first.id, "d-1")
        assert recorded.same_body and recorded.job_ids == ()
    assert len(await store.list_jobs(JobQuery())) == 1
    assert [found.id for found in await store.list_deliveries(DeliveryQuery())] == [first.id]
    # A redelivery (its id seen too) is recorded as a duplicate, as without a guard.
    by_id = await record(store, same_body("d-1"), guard=guarded(same_body("d-1")))
    assert (by_id.status, by_id.id, by_id.same_body) == ("duplicate", first.id, False)
    newest = (await store.list_deliveries(DeliveryQuery()))[0]
    assert (newest.status, newest.duplicate_of, newest.delivery) == ("duplicate", first.id, "d-1")


async def test_an_identical_body_is_accepted_again_once_the_window_passed(store: Store) -> None:
    await record(store, same_body("d-1"), guard=guarded(same_body("d-1")))
    later = T0 + WINDOW + timedelta(seconds=1)
    second = await record(store, same_body("d-2"), at=later, guard=guarded(same_body("d-2")))
    assert second.status == "accepted"
    third = await record(
        store, same_body("d-3"), at=later + timedelta(hours=1), guard=guarded(same_body("d-3"))
    )
    assert (third.status, third.id, third.delivery) == ("duplicate", second.id, "d-2")


async def test_a_wider_window_asked_later_still_finds_an_older_body(store: Store) -> None:
    hour = timedelta(hours=1)
    first = await record(store, same_body("d-1"), guard=ReplayGuard(BODY_SHA, hour))
    other = replace(make_delivery("d-2"), body=b'{"other":true}')
    later = T0 + 2 * hour  # a narrow window has let the first body go by now
    await record(store, other, at=later, guard=ReplayGuard(sha(other), hour))
    again = await record(store, same_body("d-3"), at=later, guard=guarded(same_body("d-3")))
    assert (again.status, again.id) == ("duplicate", first.id)


async def test_a_receiver_sees_a_body_another_accepted_after_it_began(
    open_store: OpenStore,
) -> None:
    one, two = await open_store(), await open_store()
    for receiver, name in ((one, "warm-1"), (two, "warm-2")):  # both have checked bodies
        warm = replace(make_delivery(name), body=name.encode())
        await record(receiver, warm, guard=ReplayGuard(sha(warm), WINDOW))
    first = await record(two, same_body("d-1"), guard=guarded(same_body("d-1")))
    again = await record(one, same_body("d-2"), guard=guarded(same_body("d-2")))
    assert (again.status, again.id) == ("duplicate", first.id)


async def test_bodies_are_compared_per_endpoint_and_only_when_guarded(store: Store) -> None:
    first = await record(store, same_body("d-1"), guard=guarded(same_body("d-1")))
    gitea = same_body("d-1", endpoint="gitea")
    assert (await record(store, gitea, guard=guarded(gitea))).status == "accepted"
    assert (await record(store, same_body("d-2"))).status == "accepted"
    replayed = await record(store, same_body("d-1"), replay_of=first.id, guard=guarded(gitea))
    assert replayed.status == "accepted"


async def test_concurrent_receivers_accept_an_identical_body_once(open_store: OpenStore) -> None:
    receivers = [await open_store() for _ in range(3)]
    copies = [same_body(f"copy-{n}") for n in range(12)]
    results = await asyncio.gather(
        *(record(receivers[n % 3], copy, guard=guarded(copy)) for n, copy in enumerate(copies))
    )
    accepted = [result for result in results if result.status == "accepted"]
    assert len(accepted) == 1
    assert {result.id for result in results} == {accepted[0].id}
    first = next(copy.delivery_id for copy, r in zip(copies, results, strict=True) if r.job_ids)
    assert {result.delivery for result in results if result.status == "duplicate"} == {first}
    assert len(await receivers[0].list_jobs(JobQuery())) == 1


async def test_pruning_a_delivery_forgets_its_body(store: Store) -> None:
    await record(store, same_body("d-1"), jobs=(), guard=guarded(same_body("d-1")))
    assert await store.prune(T0 + timedelta(seconds=1)) == 1
    again = await record(store, same_body("d-2"), guard=guarded(same_body("d-2")))
    assert again.status == "accepted"


async def test_lists_deliveries_newest_first_with_filters(store: Store) -> None:
    # received a little before now, as in life: an id is made just after its arrival
    base = datetime.now(UTC) - timedelta(minutes=10)
    push = await record(store, at=base)
    issue = await record(
        store, make_delivery(event="issues", repository="octo/other"), (NewJob("triage", 1),),
        at=base + timedelta(minutes=1),
    )  # fmt: skip
    gitea = await record(store, make_delivery(endpoint="gitea"), (), at=base + timedelta(minutes=2))

    async def ids(**filters: object) -> list[str]:
        found = await store.list_deliveries(DeliveryQuery(**filters))  # type: ignore[arg-type]
        return [record.id for record in found]

    assert await ids() == [gitea.id, issue.id, push.id]
    assert await ids(limit=2) == [gitea.id, issue.id]
    assert await ids(endpoint="gitea") == [gitea.id]
    assert await ids(event="issues") == [issue.id]
    assert await ids(hook="deploy") == [push.id]
    assert await ids(repository="octo/other") == [issue.id]
    assert await ids(status="accepted", since=base + timedelta(seconds=30)) == [gitea.id, issue.id]
    assert await ids(until=base + timedelta(minutes=1)) == [push.id]
    assert await ids(status="rejected") == []


async def test_before_and_after_cursors_page_through_deliveries(store: Store) -> None:
    made = [(await record(store, jobs=())).id for _ in range(5)]
    first = await store.list_deliveries(DeliveryQuery(limit=2))
    second = await store.list_deliveries(DeliveryQuery(limit=2, before=first[-1].id))
    assert [r.id for r in first + second] == made[::-1][:4]
    newer = await store.list_deliveries(DeliveryQuery(after=made[2]))
    assert [r.id for r in newer] == [made[4], made[3]]


async def test_missing_records_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_delivery("01NOPE")
    with pytest.raises(NotFound):
        await store.get_job("01NOPE")
    with pytest.raises(NotFound):
        await store.read_log("01NOPE")


async def test_answers_the_probe_and_reports_the_newest_schema_version(store: Store) -> None:
    await store.probe()
    assert await store.schema_version() == max(m.version for m in migrations("sqlite"))


# Claims, leases and outcomes


async def test_claims_the_oldest_due_job_and_counts_the_attempt(store: Store) -> None:
    older = await record(store, at=T0)
    await record(store, at=T0 + timedelta(seconds=1))
    job = await claim(store, "w1", T0 + timedelta(seconds=2))
    assert (job.id, job.status, job.attempts) == (older.job_ids[0], "running", 1)
    assert job.started_at == T0 + timedelta(seconds=2)
    assert await store.claim_job("w1", T0 - timedelta(seconds=1), LEASE) is None


async def test_concurrent_workers_never_claim_one_job_twice(open_store: OpenStore) -> None:
    stores = [await open_store() for _ in range(3)]
    made = {job for _ in range(24) for job in (await record(stores[0])).job_ids}

    async def drain(store: Store, worker: str) -> list[str]:
        taken = []
        while (job := await store.claim_job(worker, T0, LEASE)) is not None:
            taken.append(job.id)
        return taken

    runs = await asyncio.gather(*(drain(stores[n % 3], f"w{n}") for n in range(6)))
    claimed = [job for run in runs for job in run]
    assert sorted(claimed) == sorted(made)


async def test_renewing_keeps_the_lease_and_reports_cancellation(store: Store) -> None:
    await record(store)
    job = await claim(store)
    lease = await store.renew_lease(job.id, "w1", T0 + timedelta(seconds=60))
    assert (lease.held, lease.cancel_requested) == (True, False)
    assert (await store.renew_lease(job.id, "w2", T0 + timedelta(seconds=60))).held is False
    # renewed: still held past the first lease's end
    assert await store.claim_job("w2", T0 + timedelta(seconds=LEASE + 1), LEASE) is None
    await store.cancel_job(job.id, T0)
    lease = await store.renew_lease(job.id, "w1", T0 + timedelta(seconds=60))
    assert (lease.held, lease.cancel_requested) == (True, True)


async def test_a_lapsed_lease_is_claimed_again_by_another_worker(store: Store) -> None:
    await record(store)
    first = await claim(store, "w1", T0)
    later = T0 + timedelta(seconds=LEASE + 1)
    second = await claim(store, "w2", later)
    assert (second.id, second.attempts) == (first.id, 2)
    assert (await store.renew_lease(first.id, "w1", later)).held is False
    assert await store.finish_job(first.id, "w1", JobOutcome("failed", 1), later) is False
    assert (await store.get_job(first.id)).status == "running"


async def test_finish_records_the_outcome_for_the_lease_holder(store: Store) -> None:
    await record(store)
    job = await claim(store)
    done = T0 + timedelta(seconds=5)
    outcome = JobOutcome("failed", exit_code=3, error="exited with status 3", result="r")
    assert await store.finish_job(job.id, "w2", outcome, done) is False
    assert await store.finish_job(job.id, "w1", outcome, done) is True
    finished = await store.get_job(job.id)
    assert (finished.status, finished.exit_code, finished.error, finished.result) == (
        "failed", 3, "exited with status 3", "r",
    )  # fmt: skip
    assert finished.finished_at == done
    assert await store.claim_job("w1", done + timedelta(hours=1), LEASE) is None


async def test_retry_at_queues_the_job_again_later(store: Store) -> None:
    await record(store)
    job = await claim(store)
    retry_at = T0 + timedelta(seconds=8)
    outcome = JobOutcome("failed", exit_code=1, error="boom", retry_at=retry_at)
    assert await store.finish_job(job.id, "w1", outcome, T0) is True
    queued = await store.get_job(job.id)
    assert (queued.status, queued.run_after, queued.attempts, queued.error) == (
        "queued", retry_at, 1, "boom",
    )  # fmt: skip
    assert await store.claim_job("w1", retry_at - timedelta(seconds=1), LEASE) is None
    again = await claim(store, "w1", retry_at)
    assert again.attempts == 2
    turned_away = JobOutcome("failed", retry_at=retry_at, count_attempt=False)
    await store.finish_job(job.id, "w1", turned_away, retry_at)
    assert (await store.get_job(job.id)).attempts == 1


async def test_release_hands_the_job_back_without_counting_the_attempt(store: Store) -> None:
    await record(store)
    job = await claim(store)
    await store.release_job(job.id, "w1", T0 + timedelta(seconds=1))
    released = await store.get_job(job.id)
    assert (released.status, released.attempts) == ("queued", 0)
    assert (await claim(store, "w2", T0 + timedelta(seconds=1))).id == job.id


async def test_cancel_stops_a_queued_job_and_asks_a_running_one(store: Store) -> None:
    queued_id = (await record(store)).job_ids[0]
    cancelled = await store.cancel_job(queued_id, T0)
    assert (cancelled.status, cancelled.error, cancelled.finished_at) == (
        "cancelled", "cancelled", T0,
    )  # fmt: skip
    await record(store)
    running = await claim(store)
    asked = await store.cancel_job(running.id, T0)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    await store.finish_job(running.id, "w1", JobOutcome("succeeded", 0), T0)
    assert (await store.cancel_job(running.id, T0)).status == "succeeded"


async def test_cancel_queued_jobs_cancels_only_the_queued_jobs_of_those_hooks(
    store: Store,
) -> None:
    jobs = tuple(NewJob(hook, max_attempts=1) for hook in ("gone", "kept", "also-gone"))
    first = await record(store, jobs=jobs)
    running = await claim(store)  # the oldest job: "gone" of the first delivery
    assert running.hook == "gone"
    second = await record(store, jobs=jobs)
    reason = "cancelled: its hook was removed from the configuration (0123456789ab)"
    assert await store.cancel_queued_jobs(["gone", "also-gone"], reason, T0) == 3
    found = {
        (job.delivery_id, job.hook): (job.status, job.error)
        for job in await store.list_jobs(JobQuery(limit=10))
    }
    assert found == {
        (first.id, "gone"): ("running", None),
        (first.id, "kept"): ("queued", None),
        (first.id, "also-gone"): ("cancelled", reason),
        (second.id, "gone"): ("cancelled", reason),
        (second.id, "kept"): ("queued", None),
        (second.id, "also-gone"): ("cancelled", reason),
    }
    assert await store.cancel_queued_jobs(["gone"], reason, T0) == 0


@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024])
async def test_an_accepted_delivery_keeps_the_configuration_that_decided_it(
    store: Store, size: int
) -> None:
    delivery = replace(make_delivery(), body=b"x" * size)
    recorded = await store.record_delivery(
        delivery, received_at=T0, remote_addr=None, trace=[], jobs=[], config="0123456789ab"
    )
    without = await record(store)
    assert (await store.get_delivery(recorded.id)).record.config == "0123456789ab"
    assert (await store.get_delivery(without.id)).record.config is None
    listed = {r.id: r.config for r in await store.list_deliveries(DeliveryQuery(limit=10))}
    assert listed == {recorded.id: "0123456789ab", without.id: None}
    # A duplicate's row keeps the configuration that decided it; pruning takes each
    # delivery's with it.
    duplicate = await store.record_delivery(
        delivery, received_at=T0, remote_addr=None, trace=[], jobs=[], config="ffffffffffff"
    )
    assert duplicate.status == "duplicate" and duplicate.id == recorded.id
    (row,) = await store.list_deliveries(DeliveryQuery(status="duplicate", limit=10))
    assert (row.duplicate_of, row.config) == (recorded.id, "ffffffffffff")
    assert (await store.get_delivery(row.id)).record.config == "ffffffffffff"
    assert await store.prune(T0 + timedelta(seconds=1)) == 2  # `without` has a queued job
    again = await store.record_delivery(
        make_delivery(), received_at=T0, remote_addr=None, trace=[], jobs=[], config="abc"
    )
    listed = {r.id: r.config for r in await store.list_deliveries(DeliveryQuery(limit=10))}
    assert listed == {again.id: "abc", without.id: None}


async def test_retry_job_requeues_a_finished_job_with_a_fresh_budget(store: Store) -> None:
    await record(store)
    job = await claim(store)
    await store.finish_job(job.id, "w1", JobOutcome("failed", 2, error="no"), T0)
    later = T0 + timedelta(minutes=5)
    again = await store.retry_job(job.id, later)
    assert (again.status, again.attempts, again.exit_code, again.error) == ("queued", 0, None, None)
    assert (again.run_after, again.finished_at, again.started_at) == (later, None, None)
    running = await claim(store, "w1", later)
    assert (await store.retry_job(running.id, later)).status == "running"


async def test_new_job_that_could_not_be_planned_is_recorded_finished(store: Store) -> None:
    failed = NewJob("deploy", 1, status="failed", error="'nope' is undefined")
    job = await store.get_job((await record(store, jobs=(failed,))).job_ids[0])
    assert (job.status, job.error, job.finished_at) == ("failed", "'nope' is undefined", T0)
    assert await store.claim_job("w1", T0, LEASE) is None


# Logs and listings


async def test_log_is_kept_in_order_and_capped_with_a_note(store: Store) -> None:
    job_id = (await record(store)).job_ids[0]
    assert await store.append_log(job_id, b"one\n", 10) == 4
    kept = await store.append_log(job_id, b"two three\n", 10)
    log = await store.read_log(job_id)
    assert log.startswith(b"one\ntwo th") and b"capped at 10 bytes" in log
    assert kept == len(log) - 4
    assert await store.append_log(job_id, b"more", 10) == 0
    assert await store.read_log(job_id, 4) == log[4:]
    assert (await store.get_job(job_id)).log_size == len(log)


async def test_log_read_from_an_offset_returns_only_what_follows(store: Store) -> None:
    job_id = (await record(store)).job_ids[0]
    chunks = [b"first ", b"", b"s\xc3\xa9cond\n", b"x" * 300, b"last"]
    for chunk in chunks:
        await store.append_log(job_id, chunk, 10_000)
    log = b"".join(chunks)
    for offset in range(len(log) + 2):
        assert await store.read_log(job_id, offset) == log[offset:], offset
    await store.append_log(job_id, b" more", 10_000)
    assert await store.read_log(job_id, len(log) - 2) == b"st more"


async def test_lists_jobs_newest_first_with_filters(store: Store) -> None:
    first = await record(store, jobs=(NewJob("deploy", 1), NewJob("notify", 1)))
    second = await record(store, jobs=(NewJob("deploy", 1),))
    await claim(store)

    async def ids(**filters: object) -> list[str]:
        return [job.id for job in await store.list_jobs(JobQuery(**filters))]  # type: ignore[arg-type]

    everything = [second.job_ids[0], first.job_ids[1], first.job_ids[0]]
    assert await ids() == everything
    assert await ids(limit=1) == everything[:1]
    assert await ids(hook="notify") == [first.job_ids[1]]
    assert await ids(delivery_id=first.id) == [first.job_ids[1], first.job_ids[0]]
    assert await ids(status="running") == [first.job_ids[0]]
    assert await ids(before=everything[0]) == everything[1:]
    counts = await store.count_jobs(["queued", "running", "failed"])
    assert counts == {"queued": 2, "running": 1, "failed": 0}


async def test_prune_deletes_old_deliveries_but_not_unfinished_work(store: Store) -> None:
    old_done = await record(store, jobs=(), at=T0)
    old_queued = await record(store, at=T0)
    recent = await record(store, jobs=(), at=T0 + timedelta(days=2))
    assert await store.prune(T0 + timedelta(days=1)) == 1
    left = {delivery.id for delivery in await store.list_deliveries(DeliveryQuery())}
    assert left == {old_queued.id, recent.id}
    assert old_done.id not in left


async def test_wait_for_jobs_wakes_when_work_is_recorded(store: Store) -> None:
    await store.wait_for_jobs(0.2)  # may wake early once: on starting to listen
    started = time.monotonic()
    await store.wait_for_jobs(0.2)  # nothing to do: returns at the timeout
    assert time.monotonic() - started >= 0.15
    waiter = asyncio.create_task(store.wait_for_jobs(10))
    await asyncio.sleep(0.3)
    woke_at = time.monotonic()
    await record(store)
    await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - woke_at < 2


# Concurrency groups


async def test_a_new_job_replaces_the_queued_one_of_its_group(store: Store) -> None:
    older = (await record(store, jobs=grouped("deploy-main"))).job_ids[0]
    other = (await record(store, jobs=grouped("deploy-dev"))).job_ids[0]
    newer = (await record(store, jobs=grouped("deploy-main"))).job_ids[0]
    replaced = await store.get_job(older)
    assert replaced.status == "cancelled" and newer in (replaced.error or "")
    assert (await store.get_job(other)).status == "queued"
    assert (await store.get_job(newer)).status == "queued"


async def test_a_job_waits_while_another_of_its_group_runs(store: Store) -> None:
    await record(store, jobs=grouped("g"))
    running = await claim(store)
    waiting = (await record(store, jobs=grouped("g"))).job_ids[0]
    assert (await store.get_job(running.id)).cancel_requested is False
    assert await store.claim_job("w2", T0, LEASE) is None
    await store.finish_job(running.id, "w1", JobOutcome("succeeded", 0), T0)
    assert (await claim(store, "w2")).id == waiting


async def test_cancel_in_progress_asks_the_running_job_of_its_group(store: Store) -> None:
    await record(store, jobs=grouped("g"))
    running = await claim(store)
    await record(store, jobs=grouped("g", cancel_in_progress=True))
    lease = await store.renew_lease(running.id, "w1", T0 + timedelta(seconds=60))
    assert lease.cancel_requested is True
    assert await store.claim_job("w2", T0, LEASE) is None


async def test_a_lapsed_job_of_a_group_is_reclaimed_before_the_next(store: Store) -> None:
    await record(store, jobs=grouped("g"))
    lapsed = await claim(store)
    await record(store, jobs=grouped("g"))
    later = T0 + timedelta(seconds=LEASE + 1)
    assert (await claim(store, "w2", later)).id == lapsed.id
    assert await store.claim_job("w3", later, LEASE) is None


async def test_concurrent_workers_start_one_job_per_group(open_store: OpenStore) -> None:
    stores = [await open_store() for _ in range(4)]
    groups = [f"group-{n}" for n in range(12)]
    for group in groups:  # per group: a job whose worker died, and a newer one waiting
        await record(stores[0], jobs=grouped(group))
        await claim(stores[0], "dead", T0)
        await record(stores[0], jobs=grouped(group))
    later = T0 + timedelta(seconds=LEASE + 1)

    async def drain(store: Store, worker: str) -> list[JobRecord]:
        taken = []
        for _ in range(len(groups) * 2):
            job = await store.claim_job(worker, later, LEASE)
            if job is not None:
                taken.append(job)
        return taken

    runs = await asyncio.gather(*(drain(store, f"w{n}") for n, store in enumerate(stores)))
    started = sorted(job.concurrency_group or "" for run in runs for job in run)
    assert started == sorted(groups)


async def test_a_signed_out_session_is_revoked_for_every_process_until_it_expires(
    open_store: OpenStore,
) -> None:
    one, other = await open_store(), await open_store()
    until = T0 + timedelta(days=7)
    assert not await other.session_revoked("digest-1", T0)
    await one.revoke_session("digest-1", until, T0)
    await one.revoke_session("digest-1", until, T0)  # signing out twice is no error
    assert await other.session_revoked("digest-1", T0 + timedelta(days=6))
    assert not await other.session_revoked("digest-2", T0)
    assert not await other.session_revoked("digest-1", until)


async def test_revoking_forgets_sessions_that_expired(store: Store) -> None:
    await store.revoke_session("old", T0 + timedelta(days=1), T0)
    await store.revoke_session("new", T0 + timedelta(days=9), T0 + timedelta(days=2))
    # Asked about a moment before "old" expired, only a row still kept could answer yes.
    assert not await store.session_revoked("old", T0)
    assert await store.session_revoked("new", T0)


# The processes of a job's attempts


async def test_keeps_a_jobs_processes_until_they_are_forgotten(
    open_store: OpenStore,
) -> None:
    writer, other = await open_store(), await open_store()
    await record(writer)
    job = await claim(writer)
    first = JobProcess(attempt=1, machine="boot-a", tag="t.1", pid=4242, started=1000)
    second = JobProcess(attempt=1, machine="boot-a", tag="t.1", pid=4243, started=1001)
    await writer.record_job_process(job.id, second)
    await writer.record_job_process(job.id, first)
    await writer.record_job_process(job.id, first)  # recorded once
    assert await other.job_processes(job.id) == [first, second]
    await writer.forget_job_processes(job.id)
    assert await other.job_processes(job.id) == []


async def test_a_pruned_jobs_processes_go_with_it(store: Store) -> None:
    recorded = await record(store, jobs=(NewJob("deploy", 1),))
    job = await claim(store)
    process = JobProcess(attempt=1, machine="boot-a", tag="t.1", pid=7, started=5)
    await store.record_job_process(job.id, process)
    await store.finish_job(job.id, "w1", JobOutcome(status="succeeded"), T0)
    assert await store.prune(T0 + timedelta(days=1)) == 1
    assert await store.job_processes(job.id) == []
    assert recorded.job_ids == (job.id,)


# A delivery's changed files (hookd.changed_files)


async def test_a_jobs_pending_paths_filter_is_kept_on_both_insert_paths(store: Store) -> None:
    pending = '{"event": "pull_request", "key": "paths", "patterns": ["docs/**"]}'
    jobs = (
        NewJob("docs", 1, paths_filter=pending),
        NewJob("grouped", 1, paths_filter=pending, concurrency_group="g"),
        NewJob("plain", 1),
    )
    recorded = await record(store, make_delivery(), jobs)
    found = [await store.get_job(job_id) for job_id in recorded.job_ids]
    assert [job.paths_filter for job in found] == [pending, pending, None]
    assert found[0].to_json()["paths_filter"]["patterns"] == ["docs/**"]


async def test_a_deliverys_files_are_kept_once_per_ref(store: Store, open_store: OpenStore) -> None:
    recorded = await record(store)
    assert await store.kept_files(recorded.id, "") is None
    listed = KeptFiles(("docs/a.md", "src/é.py"), "GitHub's pull request files API")
    await store.keep_files(recorded.id, "", listed, T0)
    # The first kept stays: a second fetch (another process's) does not replace it.
    await store.keep_files(recorded.id, "", KeptFiles(("other",), "again"), T0)
    other = await open_store()
    assert await other.kept_files(recorded.id, "") == listed
    too_large = KeptFiles(None, "GitHub's compare API", "the diff is too large")
    await store.keep_files(recorded.id, "refs/heads/b", too_large, T0)
    assert await other.kept_files(recorded.id, "refs/heads/b") == too_large
    assert await other.kept_files(recorded.id, "refs/heads/c") is None


async def test_a_pruned_deliverys_files_go_with_it(store: Store) -> None:
    recorded = await record(store, jobs=())
    await store.keep_files(recorded.id, "", KeptFiles(("a",), "the API"), T0)
    assert await store.prune(T0 + timedelta(days=1)) == 1
    assert await store.kept_files(recorded.id, "") is None
