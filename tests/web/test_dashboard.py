"""The dashboard as plain HTTP sees it: pages that read fully without JavaScript, filters in
the URL, escaped payloads, strict security headers, and buttons that are POST forms."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import weblive
from weblive import accepted, issue, jobs_of, push, wait_job

from conftest import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with weblive.serving(tmp_path_factory.mktemp("pages"), weblive.CONFIG, "--workers", "1") as s:
        yield s


@pytest.fixture(scope="module")
def made(live: LiveServer) -> dict[str, Any]:
    hostile = push("acme/site", head_commit={"message": "<script>alert('x')</script>"})
    return {
        "push": accepted(live.url, "push", hostile),
        "build": accepted(live.url, "build", {"n": 1}, endpoint="ci"),
    }


def page(live: LiveServer, path: str, status: int = 200) -> str:
    answer = weblive.get(f"{live.url}{path}")
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def test_the_deliveries_page_lists_each_delivery_without_javascript(
    live: LiveServer, made: dict[str, Any]
) -> None:
    html = page(live, "/")
    row = re.search(rf'<tr data-id="{made["push"]["id"]}">(.*?)</tr>', html, re.S)
    assert row, "the push is not listed"
    cells = row.group(1)
    for text in ("github", ">push<", "acme/site", made["push"]["delivery"], "accepted", "steps"):
        assert text in cells
    assert "UTC</time>" in cells
    assert 'data-live="' in html


def test_filters_live_in_the_url(live: LiveServer, made: dict[str, Any]) -> None:
    html = page(live, "/?endpoint=ci&event=&status=")
    assert made["build"]["id"] in html
    assert made["push"]["id"] not in html
    assert "<option selected>ci</option>" in html
    assert "Query parameter" in page(live, "/?status=lost", 400)


def test_the_delivery_page_shows_trace_jobs_headers_and_a_folded_payload(
    live: LiveServer, made: dict[str, Any]
) -> None:
    html = page(live, f"/deliveries/{made['push']['id']}")
    assert re.search(r'class="matched">.*?<strong>steps</strong>', html, re.S)
    assert re.search(r'class="skipped">.*?<strong>sleepy</strong>', html, re.S)
    job_id = jobs_of(live.url, made["push"]["id"])[0]
    assert f'href="/jobs/{job_id}"' in html
    assert 'x-hub-signature-256</th><td class="mono">[redacted]' in html.replace("\n", "")
    assert '<div class="json"><details open>' in html
    assert 'action="/deliveries/' in html and ">Replay</button>" in html


def test_payload_text_is_escaped_never_markup(live: LiveServer, made: dict[str, Any]) -> None:
    html = page(live, f"/deliveries/{made['push']['id']}")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def peak_memory_mb(live: LiveServer) -> float:
    status = Path(f"/proc/{live.process.pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert found
    return int(found[1]) / 1024


def test_a_large_delivery_page_shows_its_first_mebibyte_raw(live: LiveServer) -> None:
    """Over 1 MiB, the page shows the body's first MiB as text, neither parsed nor printed
    whole: receiving a 20 MB delivery and showing it adds about its own size to the
    server's peak memory (parsed, decoded and printed whole, it added several times it)."""
    large = {"action": "closed", "issue": {"body": "x" * (20 * 1024 * 1024)}}  # runs no hook
    before = peak_memory_mb(live)
    answer = accepted(live.url, "issues", large)
    html = page(live, f"/deliveries/{answer['id']}")
    grown = peak_memory_mb(live) - before
    size = len(json.dumps(large).encode())
    assert f": its first 1 MiB of {size} bytes</summary>" in html
    assert '<pre class="code">{&#34;action&#34;: &#34;closed&#34;' in html
    assert "Payload as JSON" not in html
    assert len(html) < 1024 * 1024 + 100_000
    assert grown < 45, f"peak memory grew by {grown:.1f} MB"


def test_pages_carry_a_strict_content_security_policy(live: LiveServer) -> None:
    answer = weblive.get(f"{live.url}/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answer.text


def test_replay_button_records_a_copy_and_shows_it(live: LiveServer, made: dict[str, Any]) -> None:
    with weblive.client(base_url=live.url) as browser:
        html = browser.get(f"/deliveries/{made['push']['id']}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf
        answer = browser.post(f"/deliveries/{made['push']['id']}/replay", data={"csrf": csrf[1]})
        assert answer.status_code == 303
        copy = browser.get(answer.headers["location"]).text
    assert "Replay of" in copy and made["push"]["id"] in copy


def test_the_job_page_shows_its_log_and_streams_while_it_runs(
    live: LiveServer, made: dict[str, Any]
) -> None:
    done = wait_job(live.url, jobs_of(live.url, made["build"]["id"])[0])
    html = page(live, f"/jobs/{done['id']}")
    assert "oops" in html and 'id="job-exit">3<' in html
    assert "data-stream" not in html
    running = jobs_of(live.url, accepted(live.url, "issues", issue())["id"])[0]
    wait_job(live.url, running, ("running",))
    html = page(live, f"/jobs/{running}")
    assert f'data-stream="/api/jobs/{running}/log?offset=' in html
    assert '<meta http-equiv="refresh" content="3">' in html
    weblive.post(f"{live.url}/api/jobs/{running}/cancel")


def test_unknown_records_are_404_pages(live: LiveServer) -> None:
    assert "No delivery 01ARZ3NDEKTSV4RRFFQ69G5FAV." in page(
        live, "/deliveries/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404
    )
    assert "no job" in page(live, "/jobs/nope", 404).lower()


def test_the_jobs_page_lists_and_filters(live: LiveServer, made: dict[str, Any]) -> None:
    html = page(live, "/jobs?hook=broken")
    assert ">broken</a>" in html and ">steps</a>" not in html


def test_static_files_are_served(live: LiveServer) -> None:
    css = weblive.get(f"{live.url}/static/hookd.css")
    js = weblive.get(f"{live.url}/static/hookd.js")
    assert css.status_code == js.status_code == 200
    assert "prefers-color-scheme" in css.text and "EventSource" in js.text
