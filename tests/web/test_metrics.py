"""`/metrics` of a live server: deliveries, jobs, durations, queue depth and store latency,
every name prefixed `hookd_`, parsed with prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import weblive
from prometheus_client.parser import text_string_to_metric_families
from weblive import accepted, deliver, issue, jobs_of, push, wait_for, wait_job

from conftest import LiveServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with weblive.serving(tmp_path_factory.mktemp("metrics"), weblive.CONFIG, "--workers", "1") as s:
        yield s


def scrape(live: LiveServer) -> Samples:
    answer = weblive.get(f"{live.url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counts_deliveries_by_endpoint_event_and_outcome(live: LiveServer) -> None:
    before = scrape(live)
    first = deliver(live.url, "star", {"action": "created"}, delivery="fixed-delivery-id")
    again = deliver(live.url, "star", {"action": "created"}, delivery="fixed-delivery-id")
    assert (first.status_code, again.status_code) == (202, 200)
    unsigned = weblive.post(f"{live.url}/hooks/github", json={}, headers={"X-GitHub-Event": "star"})
    assert unsigned.status_code == 401
    after = scrape(live)
    name = "hookd_deliveries_total"
    for labels in (
        {"endpoint": "github", "event": "star", "outcome": "unmatched"},
        {"endpoint": "github", "event": "star", "outcome": "duplicate"},
        {"endpoint": "github", "event": "-", "outcome": "rejected"},
    ):
        assert value(after, name, **labels) - value(before, name, **labels) == 1, labels


def test_unverified_event_names_never_become_label_values(live: LiveServer) -> None:
    weblive.post(f"{live.url}/hooks/github", json={}, headers={"X-GitHub-Event": "made-up-event"})
    labels = {value for (_, pairs) in scrape(live) for _, value in pairs}
    assert "made-up-event" not in labels


def test_counts_job_outcomes_and_durations_by_hook(live: LiveServer) -> None:
    before = scrape(live)
    ok = jobs_of(live.url, accepted(live.url, "push", push())["id"])[0]
    bad = jobs_of(live.url, accepted(live.url, "build", {"n": 1}, endpoint="ci")["id"])[0]
    assert wait_job(live.url, ok)["status"] == "succeeded"
    assert wait_job(live.url, bad)["status"] == "failed"
    jobs = "hookd_jobs_total"

    def grown(samples: Samples, hook: str, outcome: str) -> float:
        return value(samples, jobs, hook=hook, outcome=outcome) - value(
            before, jobs, hook=hook, outcome=outcome
        )

    def counted() -> Samples | None:
        # The worker counts an attempt just after the store has recorded its end.
        samples = scrape(live)
        done = grown(samples, "steps", "succeeded") and grown(samples, "broken", "failed")
        return samples if done else None

    after = wait_for(counted, what="both jobs to be counted")
    assert grown(after, "steps", "succeeded") == grown(after, "broken", "failed") == 1
    count = "hookd_job_duration_seconds_count"
    assert value(after, count, hook="steps") - value(before, count, hook="steps") == 1
    spent = value(after, "hookd_job_duration_seconds_sum", hook="steps") - value(
        before, "hookd_job_duration_seconds_sum", hook="steps"
    )
    assert 0.8 <= spent < 10  # the hook prints five lines 0.2 s apart


def test_queue_depth_is_read_from_the_store_when_scraped(live: LiveServer) -> None:
    running = jobs_of(live.url, accepted(live.url, "issues", issue())["id"])[0]
    wait_job(live.url, running, ("running",))
    waiting = jobs_of(live.url, accepted(live.url, "issues", issue())["id"])[0]
    samples = scrape(live)
    assert value(samples, "hookd_queue_depth", status="running") == 1
    assert value(samples, "hookd_queue_depth", status="queued") == 1
    for job_id in (waiting, running):
        assert weblive.post(f"{live.url}/api/jobs/{job_id}/cancel").status_code == 200
    wait_job(live.url, running)
    samples = scrape(live)
    assert value(samples, "hookd_queue_depth", status="running") == 0
    assert value(samples, "hookd_queue_depth", status="queued") == 0


def test_store_latency_is_measured_per_operation(live: LiveServer) -> None:
    accepted(live.url, "push", push())
    weblive.get(f"{live.url}/api/deliveries")
    samples = scrape(live)
    for operation in ("record_delivery", "list_deliveries", "claim_job", "count_jobs"):
        assert value(samples, "hookd_store_latency_seconds_count", operation=operation) > 0
    assert value(samples, "hookd_store_latency_seconds_count", operation="wait_for_jobs") == 0


def test_every_metric_name_is_prefixed_hookd(live: LiveServer) -> None:
    names = {name for name, _ in scrape(live)}
    assert names
    assert all(name.startswith("hookd_") for name in names), sorted(names)
