"""What a sender without the secret costs a live `hookd serve`: a bounded sample in the
database, a log line a second, exact counts in `/metrics` under bounded labels; a client that
keeps failing gets 429 and costs less still, while its signed deliveries are accepted."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from deliveries import encode, github, hookd_json, post
from prometheus_client.parser import text_string_to_metric_families

from conftest import LiveServer
from hookd.core.signatures import sign

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
  reject_limit: {limit}
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
  proxied:
    forge: github
    secret: "It's a Secret to Everybody"
    trusted_proxies: [127.0.0.1]
  generic:
    forge: generic
    secret: generic-secret
    event_header: X-Event
    signature: {{header: X-Signature, algorithm: sha256, prefix: "sha256="}}
hooks:
  built:
    endpoint: generic
    on: build
    run: ["true"]
"""

FLOOD_SECONDS = 10.0
CLAIMED = 60_000  # under the 64 KiB a request's headers may take
MB = 1024 * 1024


def serve(server_factory: object, limit: int = 20) -> LiveServer:
    live: LiveServer = server_factory(CONFIG.format(limit=limit), "--workers", "0")  # type: ignore[operator]
    return live


def unsigned(event: str = "push", delivery: str | None = None) -> dict[str, str]:
    """The headers of a GitHub delivery without its signature."""
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
    }


def footprint(live: LiveServer) -> int:
    """Bytes the server's database, its WAL and its log take on disk."""
    files = [live.directory / name for name in ("hookd.db", "hookd.db-wal", "hookd.db-shm")]
    return sum(path.stat().st_size for path in [*files, live.output] if path.exists())


def metrics(live: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{live.url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rejected(live: LiveServer, reason: str, endpoint: str = "github") -> float:
    labels = frozenset({("endpoint", endpoint), ("reason", reason)})
    return metrics(live).get(("hookd_rejected_requests_total", labels), 0.0)


def listed_rejections(live: LiveServer) -> list[dict[str, object]]:
    found: list[dict[str, object]] = hookd_json(
        live, "deliveries", "--status", "rejected", "--limit", "5000"
    )
    return found


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=32)) as client:
        yield client


def test_a_flood_of_unsigned_requests_writes_almost_nothing(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory)
    before = footprint(live)
    body = encode({"ref": "refs/heads/main"})
    headers = unsigned(event="e" * CLAIMED, delivery="d" * 1000)
    answers: dict[int, int] = {}
    retry_after: set[str] = set()
    deadline = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < deadline:
        answer = http.post(f"{live.url}/hooks/github", content=body, headers=headers)
        answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
        if answer.status_code == 429:
            retry_after.add(answer.headers["retry-after"])
    sent = sum(answers.values())
    assert answers[401] == 20, answers
    assert answers[429] == sent - 20 > 20, answers
    assert all(1 <= int(seconds) <= 60 for seconds in retry_after), retry_after
    grown = footprint(live) - before
    assert grown <= 5 * MB, f"{sent} rejected requests grew the database and log by {grown} B"
    sample = listed_rejections(live)
    assert len(sample) == 20
    assert all(len(str(row["event"])) <= 200 for row in sample)
    assert (rejected(live, "signature"), rejected(live, "limited")) == (20, sent - 20)
    total = metrics(live)[
        (
            "hookd_deliveries_total",
            frozenset({("endpoint", "github"), ("event", "-"), ("outcome", "rejected")}),
        )
    ]
    assert total == sent
    assert "e" * 201 not in live.log()
    print(f"\n{sent} rejected requests in {FLOOD_SECONDS:g}s grew files by {grown} B")


def test_with_no_reject_limit_the_sample_keeps_the_newest_thousand(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory, limit=0)
    before = footprint(live)
    body = encode({"ref": "refs/heads/main"})
    sent = 1500

    def reject(_: int) -> int:
        url = f"{live.url}/hooks/github"
        return http.post(url, content=body, headers=unsigned("e" * 300)).status_code

    # Many clients at once: each rejected request waits for the batch it is written in.
    with ThreadPoolExecutor(32) as pool:
        assert set(pool.map(reject, range(sent))) == {401}
    sample = listed_rejections(live)
    assert len(sample) == 1000
    assert rejected(live, "signature") == sent
    grown = footprint(live) - before
    assert grown <= 5 * MB, f"{sent} rejected requests grew the database and log by {grown} B"
    lines = [line for line in live.log().splitlines() if "outcome=rejected" in line]
    assert len(lines) < sent / 10, "rejected requests were logged one by one"
    print(f"\n{sent} rejected requests, none limited, grew files by {grown} B")


def series(live: LiveServer) -> int:
    text = httpx.get(f"{live.url}/metrics", timeout=10).text
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_random_event_names_add_at_most_five_series(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory)
    body = encode({"ref": "refs/heads/main"})
    # Once each: the store's timings of the operations these requests make are new series too
    # (bounded: one per operation), so they are counted before, not against the bound.
    http.post(f"{live.url}/hooks/github", content=body, headers=unsigned("push"))
    post(live, github("push", {"n": -1}))
    before = series(live)

    # A client per thread: one httpx client shared by threads while the server closes
    # idle connections read a socket another thread had closed (EBADF) under load.
    own = threading.local()
    clients: list[httpx.Client] = []

    def reject(_: int) -> int:
        if not hasattr(own, "client"):
            own.client = httpx.Client(timeout=10)
            clients.append(own.client)
        url = f"{live.url}/hooks/github"
        return own.client.post(url, content=body, headers=unsigned(uuid.uuid4().hex)).status_code

    try:
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(reject, range(5000))) == {401, 429}
    finally:
        for client in clients:
            client.close()
    for n in range(20):  # signed, so accepted: an event GitHub does not define is `other`
        post(live, github(uuid.uuid4().hex, {"n": n}))
    assert series(live) - before <= 5
    labels = {value for (_, pairs) in metrics(live) for _, value in pairs}
    assert "other" in labels


def test_a_client_over_the_limit_gets_429_but_its_signed_delivery_is_accepted(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory, limit=3)
    url = f"{live.url}/hooks/github"
    statuses = [http.post(url, content=b"{}", headers=unsigned()).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    limited = http.post(url, content=b"{}", headers=unsigned())
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "X-Hub-Signature-256" in limited.json()["error"]
    assert post(live, github("push", {"ref": "refs/heads/main"})).status_code == 202
    assert http.post(url, content=b"{}", headers=unsigned()).status_code == 429
    assert len(listed_rejections(live)) == 3


def test_the_limited_client_is_the_one_trusted_proxies_name(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory, limit=2)
    url = f"{live.url}/hooks/proxied"

    def status(client: str) -> int:
        headers = {**unsigned(), "X-Forwarded-For": client}
        return http.post(url, content=b"{}", headers=headers).status_code

    assert [status("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert status("203.0.113.8") == 401
    signed = github("push", {"ref": "refs/heads/x"}, path="/hooks/proxied")
    signed.headers["X-Forwarded-For"] = "203.0.113.7"
    assert post(live, signed).status_code == 202


def test_reject_limit_zero_never_answers_429(server_factory: object, http: httpx.Client) -> None:
    live = serve(server_factory, limit=0)
    url = f"{live.url}/hooks/github"
    statuses = {http.post(url, content=b"{}", headers=unsigned()).status_code for _ in range(40)}
    assert statuses == {401}


def test_rejected_requests_are_logged_once_a_second_then_counted(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory, limit=0)
    url = f"{live.url}/hooks/github"
    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        statuses = pool.map(
            lambda _: http.post(url, content=b"{}", headers=unsigned()).status_code, range(200)
        )
        assert set(statuses) == {401}
    seconds = time.monotonic() - started
    deadline = time.monotonic() + 15
    while True:
        lines = [line for line in live.log().splitlines() if "outcome=rejected" in line]
        more = [
            int(m)
            for m in re.findall(r"requests endpoint=github reason=\w+ more=(\d+)", live.log())
        ]
        if len(lines) + sum(more) == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(lines) + sum(more) == 200, live.log()
    assert len(lines) <= seconds + 2 and more  # one a second, and one to begin with


def test_a_generic_endpoints_events_are_labelled_by_the_hooks_that_wait_for_them(
    server_factory: object, http: httpx.Client
) -> None:
    live = serve(server_factory)

    def deliver(event: str, n: int) -> None:
        body = encode({"n": n})
        headers = {
            "Content-Type": "application/json",
            "X-Event": event,
            "X-Signature": "sha256=" + sign(b"generic-secret", body),
        }
        assert http.post(f"{live.url}/hooks/generic", content=body, headers=headers).is_success

    deliver("build", 1)
    deliver("made-up", 2)
    counted = metrics(live)
    # `build` runs the hook; no hook waits for `made-up`, counted as `other`: unmatched.
    for event, outcome in (("build", "queued"), ("other", "unmatched")):
        labels = frozenset({("endpoint", "generic"), ("event", event), ("outcome", outcome)})
        assert counted[("hookd_deliveries_total", labels)] == 1
    assert "made-up" not in {value for (_, pairs) in counted for _, value in pairs}
