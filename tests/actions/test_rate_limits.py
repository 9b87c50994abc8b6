"""How forge answers end an API step's attempt, through a real `hookd serve` against the
fake forge: a rate limit reschedules the job for the time the forge names without using
an attempt, a 5xx is retried with backoff, any other 4xx fails with the forge's message.
Then the rules themselves, on the headers GitHub and GitLab send."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import fake_forge
import httpx
import pytest
from fake_forge import (
    GITHUB_TOKEN,
    GITLAB_SECRET,
    GITLAB_TOKEN,
    FakeForge,
    send_github,
    send_gitlab,
)

from conftest import SECRET, LiveServer, start_server, write_config
from hookd.actions.forge_api import DEFAULT_WAIT, MAX_WAIT, forge_message, rate_limit_until

SHA = "c0ffee1" + "0" * 33
REPOSITORY = {"full_name": "octo/site", "name": "site", "owner": {"login": "octo"}}

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
  workers: 2
endpoints:
  github:
    replay_window: 0
    secret: "{secret}"
    api_url: {url}
    api_token: {github_token}
  gitlab:
    replay_window: 0
    forge: gitlab
    secret: {gitlab_secret}
    api_url: {url}/api/v4
    api_token: {gitlab_token}
hooks:
  limited:
    endpoint: github
    on: {{push: {{branches: [main]}}}}
    github: {{status: {{state: success, context: hookd/deploy}}}}
  flaky:
    endpoint: github
    on: {{push: {{branches: [flaky]}}}}
    retries: 1
    github: {{status: {{state: success}}}}
  rejected:
    endpoint: github
    on: {{push: {{branches: [rejected]}}}}
    retries: 1
    github: {{pull_request: {{base: main}}}}
  forbidden:
    endpoint: github
    on: {{push: {{branches: [forbidden]}}}}
    retries: 1
    github: {{comment: {{body: hi, number: 1}}}}
  slow:
    endpoint: github
    on: {{push: {{branches: [slow]}}}}
    timeout: 1s
    github: {{status: {{state: pending}}}}
  gitlab-limited:
    endpoint: gitlab
    on: {{push: {{branches: [main]}}}}
    gitlab: {{status: {{state: running}}}}
"""


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    with FakeForge() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(forge: FakeForge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("rate-limits")
    config = CONFIG.format(
        secret=SECRET, url=forge.url, github_token=GITHUB_TOKEN, gitlab_secret=GITLAB_SECRET,
        gitlab_token=GITLAB_TOKEN,
    )  # fmt: skip
    write_config(folder, config)
    live = start_server(folder)
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def clean(forge: FakeForge) -> None:
    forge.reset()


def push(branch: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{branch}", "after": SHA, "repository": REPOSITORY,
            "sender": {"login": "mona"}, "commits": []}  # fmt: skip


def gitlab_push() -> dict[str, Any]:
    return {"object_kind": "push", "ref": "refs/heads/main", "checkout_sha": SHA,
            "project": {"id": 15, "path_with_namespace": "group/site"}, "commits": []}  # fmt: skip


def test_429_with_retry_after_runs_again_that_much_later_without_using_an_attempt(
    server: LiveServer, forge: FakeForge
) -> None:
    forge.script(
        "POST", "/statuses/", 429, headers={"Retry-After": "2"},
        body={"message": "You have exceeded a secondary rate limit."},
    )  # fmt: skip
    delivery = send_github(server, "push", push("main"))
    first, second = forge.wait_for("POST", "/statuses/", count=2)
    assert 1.5 <= second.at - first.at <= 5
    assert second.body == first.body == {"state": "success", "context": "hookd/deploy"}
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"], job["max_attempts"]) == ("succeeded", 1, 1)
    log = fake_forge.stored_log(server, job["id"])
    assert "429" in log
    assert "this attempt does not count" in log


def test_403_with_the_rate_limit_spent_waits_until_its_reset(
    server: LiveServer, forge: FakeForge
) -> None:
    reset = int(time.time()) + 3
    forge.script(
        "POST", "/statuses/", 403, body={"message": "API rate limit exceeded for user ID 1."},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )  # fmt: skip
    delivery = send_github(server, "push", push("main"))
    first, second = forge.wait_for("POST", "/statuses/", count=2)
    assert 1.5 <= second.at - first.at <= 5
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"]) == ("succeeded", 1)


def test_gitlab_rate_limit_headers_reschedule_too(server: LiveServer, forge: FakeForge) -> None:
    reset = int(time.time()) + 2
    forge.script(
        "POST", "/statuses/", 429, body={"message": "Retry later"},
        headers={"RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)},
    )  # fmt: skip
    delivery = send_gitlab(server, "Push Hook", gitlab_push())
    first, second = forge.wait_for("POST", "/statuses/", count=2)
    assert second.at - first.at >= 0.5
    assert first.path == f"/api/v4/projects/15/statuses/{SHA}"
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"]) == ("succeeded", 1)


def test_500_is_retried_with_backoff_and_then_succeeds(
    server: LiveServer, forge: FakeForge
) -> None:
    forge.script("POST", "/statuses/", 500, body={"message": "Server Error"})
    delivery = send_github(server, "push", push("flaky"))
    first, second = forge.wait_for("POST", "/statuses/", count=2)
    assert second.at - first.at >= 0.9  # the first backoff is 1 to 2 seconds
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"], job["max_attempts"]) == ("succeeded", 2, 2)


def test_422_fails_with_the_forge_message_and_is_not_retried(
    server: LiveServer, forge: FakeForge
) -> None:
    errors = [{"resource": "PullRequest", "code": "custom",
               "message": "A pull request already exists for octo:rejected."}]  # fmt: skip
    forge.script("POST", "/pulls$", 422, body={"message": "Validation Failed", "errors": errors})
    delivery = send_github(server, "push", push("rejected"))
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"], job["max_attempts"]) == ("failed", 1, 2)
    assert job["error"] == (
        "github.pull_request: POST /repos/octo/site/pulls answered 422: Validation Failed "
        "(A pull request already exists for octo:rejected.)"
    )


def test_403_without_rate_limit_headers_fails_as_a_permission_error(
    server: LiveServer, forge: FakeForge
) -> None:
    forge.script(
        "POST", "/comments$", 403, body={"message": "Resource not accessible by integration"}
    )
    delivery = send_github(server, "push", push("forbidden"))
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert job["error"] == (
        "github.comment: POST /repos/octo/site/issues/1/comments answered 403: "
        "Resource not accessible by integration"
    )
    assert len(forge.requests) == 1


def test_steps_are_stopped_at_the_hook_timeout(server: LiveServer, forge: FakeForge) -> None:
    forge.script("POST", "/statuses/", 201, body={}, delay=3)
    delivery = send_github(server, "push", push("slow"))
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["error"]) == ("timed_out", "timed out after 1s")
    assert job["attempts"] == 1


NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def until(status: int, headers: dict[str, str], message: str = "") -> float | None:
    moment = rate_limit_until(status, httpx.Headers(headers), message, NOW)
    return None if moment is None else (moment - NOW).total_seconds()


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert until(429, {"Retry-After": "2"}) == 2
    assert until(403, {"Retry-After": "Fri, 01 May 2026 12:00:30 GMT"}) == 30


def test_exhausted_limit_waits_until_the_reset_second() -> None:
    reset = str(int(NOW.timestamp()) + 90)
    assert until(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}) == 90
    assert until(429, {"RateLimit-Remaining": "0", "RateLimit-Reset": reset}) == 90


def test_a_limit_that_names_no_time_waits_a_minute() -> None:
    assert until(429, {}) == DEFAULT_WAIT
    assert until(403, {}, "You have exceeded a secondary rate limit") == DEFAULT_WAIT


def test_waits_are_kept_between_a_second_and_an_hour() -> None:
    assert until(429, {"Retry-After": "0"}) == 1
    assert until(429, {"Retry-After": str(10**9)}) == MAX_WAIT
    past = str(int((NOW - timedelta(hours=1)).timestamp()))
    assert until(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": past}) == 1


def test_other_answers_are_no_rate_limit() -> None:
    assert until(403, {"x-ratelimit-remaining": "12"}, "Must have admin rights") is None
    assert until(500, {"Retry-After": "2"}) is None
    assert until(404, {}) is None


def test_forge_messages_are_read_from_each_forge_shape() -> None:
    gitlab = httpx.Response(400, json={"message": {"title": ["can't be blank"]}})
    assert forge_message(gitlab) == "title can't be blank"
    gitlab_error = httpx.Response(403, json={"error": "insufficient_scope"})
    assert forge_message(gitlab_error) == "insufficient_scope"
    github = httpx.Response(
        422,
        json={"message": "Validation Failed",
              "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}]},
    )  # fmt: skip
    assert forge_message(github) == "Validation Failed (Issue title missing_field)"
    assert forge_message(httpx.Response(502, text="<html>Bad gateway</html>")) == (
        "<html>Bad gateway</html>"
    )
    assert forge_message(httpx.Response(404)) == "Not Found"
