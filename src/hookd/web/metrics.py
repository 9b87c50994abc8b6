"""Prometheus metrics, on hookd's own registry, every name prefixed `hookd_`.

Counters are incremented where things happen (the receiver calls `count_delivery` and
`count_rejection`, and `timed_store` sees every job attempt end); the queue depth is read
from the store when `/metrics` is scraped, so it is right for every process sharing the
database. Each process exports its own counters, as Prometheus expects.

No label value comes from a request unbounded: endpoints and hooks are the config's names,
outcomes and rejection reasons fixed sets, and an event the endpoint's forge does not define
(and none of its hooks names) is counted as `other` (`EventLabels`).
"""

from __future__ import annotations

import inspect
import time
from typing import Any, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest

from hookd.config import Config
from hookd.core.events import FORGE_EVENT_NAMES
from hookd.store.base import Store
from hookd.store.records import JobOutcome, JobRecord

# One sample per counter, not a `_created` twin for each: scrapes stay small.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
REGISTRY = CollectorRegistry()
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUE_STATUSES = ("queued", "running")

DELIVERIES = Counter(
    "hookd_deliveries",
    "Requests to webhook endpoints, by endpoint, event and outcome "
    "(queued, pong, duplicate, rejected, error).",
    ["endpoint", "event", "outcome"],
    registry=REGISTRY,
)
REJECTIONS = Counter(
    "hookd_rejected_requests",
    "Requests to webhook endpoints that were not deliveries, by endpoint and reason "
    "(signature, address, malformed, too_large, content_type, other; limited: answered 429 "
    "for a client over server.reject_limit).",
    ["endpoint", "reason"],
    registry=REGISTRY,
)
JOBS = Counter(
    "hookd_jobs",
    "Job attempts this process finished, by hook and outcome "
    "(succeeded, failed, timed_out, cancelled, or retrying when another attempt follows).",
    ["hook", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "hookd_job_duration_seconds",
    "How long job attempts ran, from claim to finish, by hook.",
    ["hook"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "hookd_queue_depth",
    "Jobs waiting (queued, including retries not yet due) or running, read from the store.",
    ["status"],
    registry=REGISTRY,
)
STORE_LATENCY = Histogram(
    "hookd_store_latency_seconds",
    "How long store operations took, by operation.",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


_DELIVERY_COUNTERS: dict[tuple[str, str, str], Any] = {}


def count_delivery(endpoint: str, event: str | None, status: int, outcome: str | None) -> None:
    """Count one request to an endpoint. `outcome` is the answer's `status` field; without
    one, a 5xx counts as `error` (a verified delivery the store could not take) and anything
    else as `rejected`. A rejected request's event is counted as `-`: its header was never
    verified, and a sender without the secret must not be able to invent label values."""
    if outcome is None:
        outcome = "error" if status >= 500 else "rejected"
    if outcome == "rejected":
        event = None
    key = (endpoint, event or "-", outcome)
    counter = _DELIVERY_COUNTERS.get(key)
    if counter is None:  # labels() validates and locks: once per label set, not per request
        counter = _DELIVERY_COUNTERS[key] = DELIVERIES.labels(*key)
    counter.inc()


REJECTION_REASONS = {
    400: "malformed",
    401: "signature",
    403: "address",
    408: "timeout",
    413: "too_large",
    415: "content_type",
    429: "limited",
    503: "busy",
}
"""The reason a rejected request is counted and logged under, by its status: a fixed set."""


def rejection_reason(status: int) -> str:
    return REJECTION_REASONS.get(status, "other")


_REJECTION_COUNTERS: dict[tuple[str, str], Any] = {}


def count_rejection(endpoint: str, reason: str) -> None:
    """Count one rejected request to `endpoint` (a config name) for `reason` (one of
    REJECTION_REASONS' values, or `other`)."""
    key = (endpoint, reason)
    counter = _REJECTION_COUNTERS.get(key)
    if counter is None:
        counter = _REJECTION_COUNTERS[key] = REJECTIONS.labels(*key)
    counter.inc()


class EventLabels:
    """The `event` label of each endpoint's deliveries: the event's name when the endpoint's
    forge defines it (core.events.FORGE_EVENT_NAMES) or one of the endpoint's hooks names it
    under `on:`, else `other`. A generic endpoint's sender defines its own events: those its
    hooks wait for are counted by name."""

    OTHER = "other"

    def __init__(self, config: Config) -> None:
        self._known: dict[str, frozenset[str]] = {}
        for name, endpoint in config.endpoints.items():
            named = {
                spec.event for rule in config.rules.get(name, ()) for spec in rule.trigger.events
            }
            self._known[name] = FORGE_EVENT_NAMES.get(endpoint.forge, frozenset()) | named

    def label(self, endpoint: str, event: str | None) -> str | None:
        if event is None or event in self._known.get(endpoint, ()):
            return event
        return self.OTHER


async def exposition(store: Store) -> bytes:
    """The text `/metrics` answers, with the queue depth read from the store just now."""
    counts = await store.count_jobs(QUEUE_STATUSES)
    for status, count in counts.items():
        QUEUE_DEPTH.labels(status).set(count)
    return generate_latest(REGISTRY)


class _TimedStore:
    """Forwards every attribute to the store; times each coroutine method into
    STORE_LATENCY, and counts job attempts from their claim to their finish."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._claimed: dict[str, tuple[str, float]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name in _UNTIMED or not inspect.iscoroutinefunction(target):
            return target
        timed = self._timed(name, target)
        setattr(self, name, timed)  # made once: later lookups find it without __getattr__
        return timed

    def _timed(self, name: str, target: Any) -> Any:
        histogram = STORE_LATENCY.labels(name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = await target(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)
            self._watch_jobs(name, _Call(args, kwargs), result)
            return result

        return timed

    def _watch_jobs(self, name: str, call: _Call, result: Any) -> None:
        if name == "claim_job" and isinstance(result, JobRecord):
            self._claimed[result.id] = (result.hook, time.perf_counter())
        elif name in ("finish_job", "release_job"):
            claimed = self._claimed.pop(call.get(0, "job_id"), None)
            outcome = call.get(2, "outcome")
            if claimed is not None and result is True and isinstance(outcome, JobOutcome):
                hook, started = claimed
                JOB_DURATION.labels(hook).observe(time.perf_counter() - started)
                status = "retrying" if outcome.retry_at is not None else outcome.status
                JOBS.labels(hook, status).inc()


# A wait, not work: timing it would measure idleness.
_UNTIMED = frozenset({"wait_for_jobs"})


class _Call:
    """A call's arguments, read by position or by name."""

    __slots__ = ("args", "kwargs")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args, self.kwargs = args, kwargs

    def get(self, index: int, name: str) -> Any:
        return self.args[index] if len(self.args) > index else self.kwargs.get(name)


def timed_store(store: Store) -> Store:
    """`store`, measured: what serve hands to the receiver, the API and the workers."""
    return cast(Store, _TimedStore(store))
