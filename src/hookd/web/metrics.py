"""Prometheus metrics, on hookd's own registry, every name prefixed `hookd_`.

Counters are incremented where things happen: the receiver calls `count_delivery` and
`count_rejection`, the worker pool `count_job` when an attempt's end is recorded, and
`hookd.web.timed_store.TimedStore` times each store operation. The queue depth is read
from the store when `/metrics` is scraped, so it is right for every process sharing the
database. Each process exports its own counters, as Prometheus expects.

No label value comes from a request unbounded: endpoints and hooks are the config's names,
outcomes and rejection reasons fixed sets, and an event the endpoint's forge does not define
(and none of its hooks names) is counted as `other` (`EventLabels`).
"""

from __future__ import annotations

from typing import Any

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
from hookd.core.forge_profiles import profile
from hookd.core.vocabulary import JobStatus
from hookd.store.base import Store
from hookd.store.records import JobOutcome

# One sample per counter, not a `_created` twin for each: scrapes stay small.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
REGISTRY = CollectorRegistry()
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)

DELIVERIES = Counter(
    "hookd_deliveries",
    "Requests to webhook endpoints, by endpoint, event and outcome "
    "(queued, unmatched, pong, duplicate, rejected, error).",
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
CONFIG_RELOADS = Counter(
    "hookd_config_reloads",
    "Reloads of the configuration, by outcome (applied, unchanged, failed: the configuration "
    "in force stayed).",
    ["outcome"],
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
    forge defines it (its profile's `known_events`) or one of the endpoint's hooks names it
    under `on:`, else `other`. A generic endpoint's sender defines its own events: those its
    hooks wait for are counted by name."""

    OTHER = "other"

    def __init__(self, config: Config) -> None:
        self._known: dict[str, frozenset[str]] = {}
        for name, endpoint in config.endpoints.items():
            named = {
                spec.event for rule in config.rules.get(name, ()) for spec in rule.trigger.events
            }
            self._known[name] = profile(endpoint.forge).known_events | named

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


def count_job(hook: str, outcome: JobOutcome, seconds: float) -> None:
    """Count one job attempt of `hook` whose end the store recorded, `seconds` after its
    claim: under its status, or `retrying` when another attempt follows."""
    JOB_DURATION.labels(hook).observe(seconds)
    JOBS.labels(hook, "retrying" if outcome.retry_at is not None else outcome.status).inc()


def count_reload(outcome: str) -> None:
    """Count one reload of the configuration (`hookd.reload`) under its outcome."""
    CONFIG_RELOADS.labels(outcome).inc()
