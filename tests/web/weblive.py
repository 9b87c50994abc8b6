"""What the web tests share: a config with hooks that print, wait and fail; signed
deliveries posted to a live `hookd serve`; waiting on jobs through `/api`.

Imported by the tests in this folder (`import weblive`); servers come from tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from conftest import SECRET, LiveServer, start_server, write_config

CI_SECRET = "ci-secret"
TOKEN = "s3cret-dashboard-token-for-tests"
FINISHED = ("succeeded", "failed", "timed_out", "cancelled")
PY = json.dumps(sys.executable)

STEPS = "import time\\nfor i in range(5):\\n print('step', i, flush=True)\\n time.sleep(0.2)"
# steps: prints five lines over about a second, then succeeds.
# sleepy: prints one line and sleeps (to cancel it, or to see it queued).
# broken: fails with exit status 3.
CONFIG = f"""
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "{SECRET}"
  ci:
    replay_window: 0
    forge: generic
    secret: {CI_SECRET}
    signature: {{header: X-Ci-Proof, algorithm: sha256, prefix: ""}}
    event_header: X-Ci-Event
    delivery_header: X-Ci-Delivery
hooks:
  steps:
    endpoint: github
    on: push
    run: [{PY}, "-c", "{STEPS}"]
  sleepy:
    endpoint: github
    on: {{issues: {{types: [opened]}}}}
    run: [{PY}, "-c", "import time; print('sleeping', flush=True); time.sleep(60)"]
  broken:
    endpoint: ci
    on: build
    run: [{PY}, "-c", "import sys; print('oops'); sys.exit(3)"]
"""


def client(**options: Any) -> httpx.Client:
    """An HTTP client for the loopback server. Plain HTTP only, so no CA bundle is loaded
    (that costs about 0.2 s per client)."""
    return httpx.Client(verify=False, timeout=10, **options)


def request(method: str, url: str, **options: Any) -> httpx.Response:
    with client() as http:
        return http.request(method, url, **options)


def get(url: str, **options: Any) -> httpx.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return request("POST", url, **options)


def push(
    repository: str = "acme/site", ref: str = "refs/heads/main", **extra: Any
) -> dict[str, Any]:
    """A small GitHub push payload."""
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": "a" * 40,
        "repository": {"full_name": repository, "name": repository.split("/")[-1]},
        "commits": [{"id": "a" * 40, "added": ["README.md"], "modified": [], "removed": []}],
        "sender": {"login": "octocat"},
        **extra,
    }


def issue(action: str = "opened", repository: str = "acme/site") -> dict[str, Any]:
    return {"action": action, "issue": {"number": 1}, "repository": {"full_name": repository}}


def deliver(
    url: str,
    event: str,
    payload: Mapping[str, Any],
    *,
    endpoint: str = "github",
    delivery: str | None = None,
    form: bool = False,
) -> httpx.Response:
    """POST `payload` to an endpoint as its forge would, correctly signed."""
    body = json.dumps(payload).encode()
    delivery = delivery or str(uuid.uuid4())
    if form:
        body = urlencode({"payload": body.decode()}).encode()
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    if endpoint == "ci":
        proof = hmac.new(CI_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Ci-Proof": proof, "X-Ci-Event": event, "X-Ci-Delivery": delivery}
    else:
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-Hub-Signature-256": f"sha256={signature}",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
        }
    headers["Content-Type"] = content_type
    return post(f"{url}/hooks/{endpoint}", content=body, headers=headers)


def accepted(url: str, event: str, payload: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """Deliver and return the 202 answer (`id`, `hooks`, ...), failing on anything else."""
    answer = deliver(url, event, payload, **options)
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "a condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get_json(url: str, path: str, headers: Mapping[str, str] | None = None) -> Any:
    answer = get(f"{url}{path}", headers=dict(headers or {}))
    assert answer.status_code == 200, (path, answer.status_code, answer.text)
    return answer.json()


def jobs_of(url: str, delivery_id: str, headers: Mapping[str, str] | None = None) -> list[str]:
    detail = get_json(url, f"/api/deliveries/{delivery_id}", headers)
    return [job["id"] for job in detail["job_details"]]


def wait_job(
    url: str,
    job_id: str,
    statuses: tuple[str, ...] = FINISHED,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = get_json(url, f"/api/jobs/{job_id}", headers)
        return job if job["status"] in statuses else None

    return wait_for(check, what=f"job {job_id} to be {' or '.join(statuses)}")  # type: ignore[no-any-return]


@contextlib.contextmanager
def serving(folder: Path, config: str = CONFIG, *extra: str) -> Iterator[LiveServer]:
    """A live `hookd serve` with `config` in `folder`, killed afterwards."""
    write_config(folder, config)
    server = start_server(folder, *extra)
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


def with_token(config: str = CONFIG) -> str:
    return config.replace("server:\n", f"server:\n  token: {TOKEN}\n", 1)
