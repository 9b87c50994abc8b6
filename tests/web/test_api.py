"""The JSON API against a live `hookd serve`: lists, filters, cursors, one delivery, jobs,
logs (plain and streamed), replay, cancel and retry, and the errors for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import weblive
from weblive import accepted, deliver, get_json, issue, jobs_of, push, wait_job

from conftest import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with weblive.serving(tmp_path_factory.mktemp("api"), weblive.CONFIG, "--workers", "2") as s:
        yield s


@pytest.fixture(scope="module")
def mix(live: LiveServer) -> dict[str, Any]:
    """A few deliveries of different kinds, oldest first."""
    made = {
        "push_a": accepted(live.url, "push", push("acme/site")),
        "push_b": accepted(live.url, "push", push("acme/other")),
        "ci": accepted(live.url, "build", {"n": 1}, endpoint="ci"),
        "star": accepted(
            live.url, "star", {"action": "created", "repository": {"full_name": "acme/site"}}
        ),
    }
    rejected = weblive.post(f"{live.url}/hooks/github", json={}, headers={"X-GitHub-Event": "push"})
    assert rejected.status_code == 401
    return made


def api(live: LiveServer, path: str, **params: Any) -> httpx.Response:
    return weblive.get(f"{live.url}{path}", params=params)


def test_lists_deliveries_newest_first_as_a_json_array(
    live: LiveServer, mix: dict[str, Any]
) -> None:
    items = api(live, "/api/deliveries").json()
    assert isinstance(items, list)
    ids = [item["id"] for item in items]
    assert ids == sorted(ids, reverse=True)
    assert ids.index(mix["star"]["id"]) < ids.index(mix["push_a"]["id"])
    first = next(item for item in items if item["id"] == mix["push_a"]["id"])
    assert first["event"] == "push"
    assert first["repository"] == "acme/site"
    assert first["hooks"] == ["steps"]
    assert len(first["jobs"]) == 1
    assert first["received_at"].endswith("Z")


def test_filters_by_endpoint_event_status_hook_and_repository(
    live: LiveServer, mix: dict[str, Any]
) -> None:
    def ids(**params: Any) -> set[str]:
        return {item["id"] for item in api(live, "/api/deliveries", **params).json()}

    assert mix["ci"]["id"] in ids(endpoint="ci")
    assert mix["push_a"]["id"] not in ids(endpoint="ci")
    assert {mix["push_a"]["id"], mix["push_b"]["id"]} <= ids(event="push")
    assert mix["star"]["id"] not in ids(event="push")
    assert mix["push_b"]["id"] in ids(repository="acme/other")
    assert mix["push_a"]["id"] not in ids(repository="acme/other")
    assert mix["ci"]["id"] in ids(hook="broken")
    assert mix["push_a"]["id"] not in ids(hook="broken")
    rejected = api(live, "/api/deliveries", status="rejected").json()
    assert rejected and all(item["status"] == "rejected" for item in rejected)
    assert "X-Hub-Signature-256" in rejected[0]["reason"]


def test_filters_by_time_range(live: LiveServer, mix: dict[str, Any]) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api(live, "/api/deliveries", since=later).json() == []
    assert len(api(live, "/api/deliveries", until=later).json()) >= len(mix)
    received = get_json(live.url, f"/api/deliveries/{mix['ci']['id']}")["received_at"]
    window = api(live, "/api/deliveries", since=received, until=later).json()
    assert mix["ci"]["id"] in {item["id"] for item in window}
    assert mix["push_a"]["id"] not in {item["id"] for item in window}


def test_pages_through_with_before_cursor_and_link_header(
    live: LiveServer, mix: dict[str, Any]
) -> None:
    everything = [item["id"] for item in api(live, "/api/deliveries").json()]
    seen: list[str] = []
    path = "/api/deliveries?limit=2"
    while path:
        answer = weblive.get(f"{live.url}{path}")
        seen += [item["id"] for item in answer.json()]
        link = answer.headers.get("link")
        path = link.split(">", 1)[0].lstrip("<") if link else ""
        assert not link or link.endswith('rel="next"')
    assert seen == everything


def test_after_cursor_returns_only_newer_deliveries(live: LiveServer, mix: dict[str, Any]) -> None:
    newer = api(live, "/api/deliveries", after=mix["push_b"]["id"]).json()
    ids = [item["id"] for item in newer]
    assert mix["ci"]["id"] in ids and mix["star"]["id"] in ids
    assert mix["push_a"]["id"] not in ids and mix["push_b"]["id"] not in ids


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-01-01T00:00:00"}, "until"),
        ({"since": "1700000000"}, "since"),
        ({"before": "not-an-id"}, "before"),
        ({"after": "01m8f32cw4e6kc0cw1ngasyxtj"}, "after"),
    ],
)
def test_rejects_a_malformed_filter_with_400_naming_it(
    live: LiveServer, params: dict[str, str], names: str
) -> None:
    answer = api(live, "/api/deliveries", **params)
    assert answer.status_code == 400
    assert f"'{names}'" in answer.json()["error"]


def test_rejects_a_malformed_job_filter(live: LiveServer) -> None:
    answer = api(live, "/api/jobs", status="exploded")
    assert answer.status_code == 400
    assert "'status'" in answer.json()["error"]


def test_one_delivery_has_redacted_headers_payload_trace_and_jobs(
    live: LiveServer, mix: dict[str, Any]
) -> None:
    detail = get_json(live.url, f"/api/deliveries/{mix['push_a']['id']}")
    headers = {name.lower(): value for name, value in detail["headers"]}
    assert headers["x-hub-signature-256"] == "[redacted]"
    assert headers["x-github-event"] == "push"
    assert detail["payload_json"]["repository"]["full_name"] == "acme/site"
    assert json.loads(detail["payload"]) == detail["payload_json"]
    assert detail["trace"][0] == {
        "hook": "steps",
        "matched": True,
        "reason": detail["trace"][0]["reason"],
    }
    skipped = {entry["hook"]: entry for entry in detail["trace"]}["sleepy"]
    assert skipped["matched"] is False and "issues" in skipped["reason"]
    assert [job["hook"] for job in detail["job_details"]] == ["steps"]
    assert detail["jobs"] == [job["id"] for job in detail["job_details"]]


def test_redacts_a_generic_endpoints_own_signature_header(
    live: LiveServer, mix: dict[str, Any]
) -> None:
    detail = get_json(live.url, f"/api/deliveries/{mix['ci']['id']}")
    headers = {name.lower(): value for name, value in detail["headers"]}
    assert headers["x-ci-proof"] == "[redacted]"
    assert headers["x-ci-event"] == "build"


def test_parses_the_payload_of_a_form_encoded_delivery(live: LiveServer) -> None:
    answer = deliver(live.url, "star", {"action": "deleted", "x": [1, 2]}, form=True)
    assert answer.status_code == 202
    detail = get_json(live.url, f"/api/deliveries/{answer.json()['id']}")
    assert detail["payload_json"] == {"action": "deleted", "x": [1, 2]}
    assert detail["payload"].startswith("payload=")


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/api/deliveries/01ARZ3NDEKTSV4RRFFQ69G5FAV", "delivery"),
        ("POST", "/api/deliveries/01ARZ3NDEKTSV4RRFFQ69G5FAV/replay", "delivery"),
        ("GET", "/api/jobs/nothing-here", "job"),
        ("GET", "/api/jobs/nothing-here/log", "job"),
        ("POST", "/api/jobs/nothing-here/cancel", "job"),
        ("POST", "/api/jobs/nothing-here/retry", "job"),
    ],
)
def test_unknown_ids_are_404_with_a_sentence(
    live: LiveServer, method: str, path: str, kind: str
) -> None:
    answer = weblive.request(method, f"{live.url}{path}")
    assert answer.status_code == 404
    assert answer.json()["error"].startswith(f"There is no {kind} ")


def test_a_wrong_method_is_405_naming_the_allowed_ones(live: LiveServer) -> None:
    answer = weblive.request("DELETE", f"{live.url}/api/deliveries")
    assert answer.status_code == 405
    assert "GET" in answer.headers["allow"]
    assert answer.json()["error"]


def test_replay_records_a_copy_that_runs_its_hooks_again(
    live: LiveServer, mix: dict[str, Any]
) -> None:
    original = mix["push_a"]["id"]
    answer = weblive.post(f"{live.url}/api/deliveries/{original}/replay")
    assert answer.status_code == 201
    replayed = answer.json()
    assert replayed["replay_of"] == original
    assert replayed["hooks"] == ["steps"]
    assert answer.headers["location"] == f"/api/deliveries/{replayed['id']}"
    copy = get_json(live.url, f"/api/deliveries/{replayed['id']}")
    assert copy["replay_of"] == original
    assert copy["delivery"] == get_json(live.url, f"/api/deliveries/{original}")["delivery"]
    job = wait_job(live.url, replayed["jobs"][0])
    assert job["status"] == "succeeded"


def test_replaying_a_rejected_request_is_409(live: LiveServer, mix: dict[str, Any]) -> None:
    rejected = api(live, "/api/deliveries", status="rejected").json()[0]
    answer = weblive.post(f"{live.url}/api/deliveries/{rejected['id']}/replay")
    assert answer.status_code == 409
    assert "rejected" in answer.json()["error"]


def test_the_cli_replays_through_the_same_logic(live: LiveServer, mix: dict[str, Any]) -> None:
    result = live.hookd("replay", mix["push_b"]["id"], "--json")
    replayed = json.loads(result.stdout)
    assert replayed["replay_of"] == mix["push_b"]["id"]
    assert (
        get_json(live.url, f"/api/deliveries/{replayed['id']}")["replay_of"] == mix["push_b"]["id"]
    )


def test_a_finished_jobs_log_is_plain_text(live: LiveServer, mix: dict[str, Any]) -> None:
    job = wait_job(live.url, jobs_of(live.url, mix["push_a"]["id"])[0])
    answer = api(live, f"/api/jobs/{job['id']}/log")
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "".join(f"step {i}\n" for i in range(5))
    assert api(live, f"/api/jobs/{job['id']}/log", offset=7).text.startswith("step 1")


def read_events(
    live: LiveServer, job_id: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every event of a job's log stream, until the server ends it."""
    events: list[dict[str, Any]] = []
    asked = {"Accept": "text/event-stream", **(headers or {})}
    url = f"{live.url}/api/jobs/{job_id}/log"
    with weblive.client() as http, http.stream("GET", url, headers=asked) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        for line in answer.iter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return events


def test_a_running_jobs_log_streams_as_events_until_the_end(live: LiveServer) -> None:
    made = accepted(live.url, "push", push("acme/stream"))
    job_id = jobs_of(live.url, made["id"])[0]
    events = read_events(live, job_id)
    logs = [event for event in events if event["event"] == "log"]
    assert "".join(json.loads(event["data"]) for event in logs) == "".join(
        f"step {i}\n" for i in range(5)
    )
    assert [int(event["id"]) for event in logs] == sorted(int(event["id"]) for event in logs)
    assert events[-1]["event"] == "end"
    end = json.loads(events[-1]["data"])
    job = get_json(live.url, f"/api/jobs/{job_id}")
    assert (end["status"], end["exit_code"], end["error"]) == ("succeeded", 0, None)
    assert end["finished_at"][:19] == job["finished_at"][:19]


def test_a_log_stream_resumes_from_last_event_id(live: LiveServer, mix: dict[str, Any]) -> None:
    job_id = jobs_of(live.url, mix["push_a"]["id"])[0]
    wait_job(live.url, job_id)
    events = read_events(live, job_id, {"Last-Event-ID": "14"})
    text = "".join(json.loads(event["data"]) for event in events if event["event"] == "log")
    assert text == "step 2\nstep 3\nstep 4\n"


def test_cancels_a_running_job(live: LiveServer) -> None:
    made = accepted(live.url, "issues", issue("opened"))
    job_id = jobs_of(live.url, made["id"])[0]
    wait_job(live.url, job_id, ("running",))
    answer = weblive.post(f"{live.url}/api/jobs/{job_id}/cancel")
    assert answer.status_code == 200
    assert answer.json()["cancel_requested"] is True
    assert wait_job(live.url, job_id)["status"] == "cancelled"
    again = weblive.post(f"{live.url}/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert "already ended" in again.json()["error"]


def test_retries_an_ended_job_and_refuses_a_running_one(live: LiveServer) -> None:
    made = accepted(live.url, "build", {"n": 2}, endpoint="ci")
    job_id = jobs_of(live.url, made["id"])[0]
    failed = wait_job(live.url, job_id)
    assert (failed["status"], failed["exit_code"]) == ("failed", 3)
    answer = weblive.post(f"{live.url}/api/jobs/{job_id}/retry")
    assert answer.status_code == 200
    assert answer.json()["status"] in ("queued", "running", "failed")
    assert wait_job(live.url, job_id)["attempts"] == 1
    sleeper = jobs_of(live.url, accepted(live.url, "issues", issue("opened"))["id"])[0]
    wait_job(live.url, sleeper, ("running",))
    refused = weblive.post(f"{live.url}/api/jobs/{sleeper}/retry")
    assert refused.status_code == 409
    weblive.post(f"{live.url}/api/jobs/{sleeper}/cancel")


def test_lists_jobs_with_filters(live: LiveServer, mix: dict[str, Any]) -> None:
    wait_job(live.url, jobs_of(live.url, mix["ci"]["id"])[0])
    broken = api(live, "/api/jobs", hook="broken").json()
    assert broken and {job["hook"] for job in broken} == {"broken"}
    mine = api(live, "/api/jobs", delivery=mix["push_a"]["id"]).json()
    assert [job["delivery_id"] for job in mine] == [mix["push_a"]["id"]]
    failed = api(live, "/api/jobs", status="failed").json()
    assert all(job["status"] == "failed" for job in failed)


def test_openapi_document_describes_every_route(live: LiveServer) -> None:
    document = get_json(live.url, "/api/openapi.json")
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/deliveries", "/api/deliveries/{id}", "/api/deliveries/{id}/replay", "/api/jobs",
        "/api/jobs/{id}", "/api/jobs/{id}/log", "/api/jobs/{id}/cancel", "/api/jobs/{id}/retry",
        "/api/catch-up",
        "/api/reload",
    }  # fmt: skip
    schemas = document["components"]["schemas"]
    assert {"Delivery", "DeliveryDetail", "Job", "Replayed", "Reloaded", "Error"} <= set(schemas)
    names = {p["name"] for p in document["paths"]["/api/deliveries"]["get"]["parameters"]}
    assert {
        "endpoint",
        "event",
        "status",
        "hook",
        "repository",
        "since",
        "until",
        "before",
    } <= names
