"""INTERFACE.md §2 "Receiving", row by row, against a real `hookd serve` over HTTP."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from conftest import SECRET, LiveServer, start_server, write_config
from hookd.core.signatures import sign

KEY = SECRET.encode()
VECTOR_SHA256 = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
MAX_BODY = 1024

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
  max_body: 1KB
  reject_limit: 0
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
  payload:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
    path: /payload
  gitlab:
    replay_window: 0
    forge: gitlab
    secret: gitlab-token-1
  gitea:
    replay_window: 0
    forge: gitea
    secret: gitea-secret
  audit:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
  local-only:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
    allow_ips: [127.0.0.0/8]
  ten-only:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
    allow_ips: [10.0.0.0/8]
  proxied:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
    trusted_proxies: [127.0.0.1]
    allow_ips: [203.0.113.0/24]
  unproxied:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
    allow_ips: [203.0.113.0/24]
hooks:
  deploy:
    endpoint: github
    on: push
    run: ["true"]
"""

ENDPOINT_PATHS = [
    "/hooks/github",
    "/payload",
    "/hooks/gitlab",
    "/hooks/gitea",
    "/hooks/audit",
    "/hooks/local-only",
    "/hooks/ten-only",
    "/hooks/proxied",
    "/hooks/unproxied",
]

PUSH = b'{"ref":"refs/heads/main","after":"abc123","repository":{"full_name":"o/r"}}'
PING = b'{"zen":"Keep it logically awesome.","hook_id":1}'


# uvicorn rewrites the client address from X-Forwarded-For when the peer is in
# $FORWARDED_ALLOW_IPS (default 127.0.0.1) unless proxy_headers is off. The module's server
# trusts nothing there, so what is tested is hookd's own `trusted_proxies` logic;
# `test_forwarded_for_is_not_believed_with_uvicorns_defaults` checks the default.
UVICORN_TRUSTS_NOBODY = {"FORWARDED_ALLOW_IPS": "192.0.2.1"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module: each test uses its own delivery ids."""
    directory = tmp_path_factory.mktemp("receiving")
    write_config(directory, CONFIG)
    server = start_server(directory, "--workers", "0", env=UVICORN_TRUSTS_NOBODY)
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        yield http


def new_id() -> str:
    return str(uuid.uuid4())


def github(
    body: bytes = PUSH, event: str = "push", delivery: str | None = None, **extra: str
) -> dict[str, str]:
    """Headers GitHub sends with `body`, signed with the test secret."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or new_id(),
        "X-Hub-Signature-256": f"sha256={sign(KEY, body)}",
        **extra,
    }


def gitlab(token: str = "gitlab-token-1", **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": token,
        "Idempotency-Key": new_id(),
        **extra,
    }


def gitea(body: bytes = PUSH, signature: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": "push",
        "X-Gitea-Event-Type": "push",
        "X-Gitea-Delivery": new_id(),
        "X-Gitea-Signature": sign(b"gitea-secret", body) if signature is None else signature,
        **extra,
    }


def hookd_json(server: LiveServer, *args: str) -> Any:
    return json.loads(server.hookd(*args, "--json").stdout)


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error, str) and error
    return error


# 202 accepted


def test_accepts_signed_delivery_with_the_documented_answer(client: httpx.Client) -> None:
    delivery = new_id()
    response = client.post("/hooks/github", content=PUSH, headers=github(delivery=delivery))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert set(answer) == {"delivery", "id", "event", "hooks", "status"}
    assert answer["delivery"] == delivery
    assert answer["event"] == "push"
    assert answer["hooks"] == ["deploy"]
    assert answer["status"] == "queued"
    assert isinstance(answer["id"], str) and answer["id"]


def test_accepted_delivery_that_matches_no_hook_is_answered_unmatched(
    client: httpx.Client,
) -> None:
    body = b'{"action":"opened","number":1}'
    response = client.post("/hooks/github", content=body, headers=github(body, "pull_request"))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["hooks"] == []
    assert answer["event"] == "pull_request"
    assert answer["status"] == "unmatched"
    assert answer["reason"] == (
        "the one hook of endpoint 'github' does not run on this delivery; "
        f"`hookd show {answer['id']}` says why"
    )


def test_a_delivery_to_an_endpoint_without_hooks_is_unmatched_and_says_why(
    client: httpx.Client,
) -> None:
    response = client.post("/hooks/gitlab", content=PUSH, headers=gitlab())
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "unmatched"
    assert response.json()["reason"] == "no hook is configured for endpoint 'gitlab'"


def test_accepts_gitlab_delivery_with_its_token(client: httpx.Client) -> None:
    headers = gitlab()
    response = client.post("/hooks/gitlab", content=PUSH, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["event"] == "push"
    assert response.json()["delivery"] == headers["Idempotency-Key"]


def test_accepts_gitea_delivery_signed_with_bare_hex(client: httpx.Client) -> None:
    headers = gitea()
    response = client.post("/hooks/gitea", content=PUSH, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["delivery"] == headers["X-Gitea-Delivery"]


def test_endpoint_with_a_custom_path_answers_there(client: httpx.Client) -> None:
    response = client.post("/payload", content=PUSH, headers=github())
    assert response.status_code == 202, response.text
    assert client.post("/hooks/payload", content=PUSH, headers=github()).status_code == 404


# 200 pong and duplicate


def test_ping_answers_pong(client: httpx.Client) -> None:
    delivery = new_id()
    response = client.post("/hooks/github", content=PING, headers=github(PING, "ping", delivery))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pong"
    assert response.json()["delivery"] == delivery


def test_same_delivery_again_is_a_duplicate_and_runs_nothing(
    live: LiveServer, client: httpx.Client
) -> None:
    delivery = new_id()
    first = client.post("/hooks/github", content=PUSH, headers=github(delivery=delivery))
    assert first.status_code == 202, first.text
    original = first.json()["id"]
    assert first.json()["hooks"] == ["deploy"]
    for _ in range(2):
        again = client.post("/hooks/github", content=PUSH, headers=github(delivery=delivery))
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "duplicate"
        assert again.json()["id"] == original
    records = [
        row
        for row in hookd_json(live, "deliveries", "--limit", "10000")
        if row["delivery"] == delivery
    ]
    assert sorted(row["status"] for row in records) == ["accepted", "duplicate", "duplicate"]
    for row in records:
        if row["status"] == "accepted":
            assert row["id"] == original
            assert len(row["jobs"]) == 1
        else:
            assert row["duplicate_of"] == original
            assert row["jobs"] == []


def test_same_delivery_id_on_another_endpoint_is_not_a_duplicate(client: httpx.Client) -> None:
    delivery = new_id()
    first = client.post("/hooks/github", content=PUSH, headers=github(delivery=delivery))
    other = client.post("/payload", content=PUSH, headers=github(delivery=delivery))
    assert first.status_code == 202, first.text
    assert other.status_code == 202, other.text
    assert other.json()["id"] != first.json()["id"]


def test_repeated_gitlab_idempotency_key_is_a_duplicate(client: httpx.Client) -> None:
    headers = gitlab()
    first = client.post("/hooks/gitlab", content=PUSH, headers=headers)
    retry = client.post(
        "/hooks/gitlab", content=PUSH, headers={**headers, "X-Gitlab-Event-UUID": new_id()}
    )
    assert first.status_code == 202, first.text
    assert retry.status_code == 200, retry.text
    assert retry.json() == {**retry.json(), "status": "duplicate", "id": first.json()["id"]}


# 401


@pytest.mark.parametrize(
    "signature",
    [f"sha256={sign(b'wrong', PUSH)}", None, "sha256=nothex", "sha256=\xa0" + "a" * 63],
    ids=["wrong", "missing", "malformed", "non-ascii"],
)
def test_rejects_bad_github_signature_naming_the_header(
    client: httpx.Client, signature: str | None
) -> None:
    sent = github()
    del sent["X-Hub-Signature-256"]
    if signature is not None:
        sent["X-Hub-Signature-256"] = signature
    encoded = [(name.encode(), value.encode("latin-1")) for name, value in sent.items()]
    error = assert_error(client.post("/hooks/github", content=PUSH, headers=encoded), 401)
    assert "X-Hub-Signature-256" in error


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong", "missing"])
def test_rejects_bad_gitlab_token_naming_the_header(
    client: httpx.Client, token: str | None
) -> None:
    headers = gitlab()
    if token is None:
        del headers["X-Gitlab-Token"]
    else:
        headers["X-Gitlab-Token"] = token
    error = assert_error(client.post("/hooks/gitlab", content=PUSH, headers=headers), 401)
    assert "X-Gitlab-Token" in error


@pytest.mark.parametrize("signature", [sign(b"wrong", PUSH), ""], ids=["wrong", "empty"])
def test_rejects_bad_gitea_signature_naming_the_header(
    client: httpx.Client, signature: str
) -> None:
    response = client.post("/hooks/gitea", content=PUSH, headers=gitea(signature=signature))
    assert "X-Gitea-Signature" in assert_error(response, 401)


def test_sha1_only_signature_is_refused_naming_the_sha256_header(client: httpx.Client) -> None:
    headers = github()
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = f"sha1={sign(KEY, PUSH, 'sha1')}"
    error = assert_error(client.post("/hooks/github", content=PUSH, headers=headers), 401)
    assert "X-Hub-Signature-256" in error


# GitHub's documented test vector


def test_github_test_vector_passes_the_signature_check_end_to_end(client: httpx.Client) -> None:
    body = b"Hello, World!"
    headers = github(body, **{"X-Hub-Signature-256": f"sha256={VECTOR_SHA256}"})
    error = assert_error(client.post("/hooks/github", content=body, headers=headers), 400)
    assert "JSON" in error
    wrong = VECTOR_SHA256.replace("7", "8", 1)
    tampered = github(body, **{"X-Hub-Signature-256": f"sha256={wrong}"})
    assert_error(client.post("/hooks/github", content=body, headers=tampered), 401)


# 400


def test_rejects_body_that_is_not_json(client: httpx.Client) -> None:
    body = b'{"ref": "refs/heads/main"'
    error = assert_error(client.post("/hooks/github", content=body, headers=github(body)), 400)
    assert "JSON" in error


def test_rejects_json_that_is_not_an_object(client: httpx.Client) -> None:
    body = b'["push"]'
    assert_error(client.post("/hooks/github", content=body, headers=github(body)), 400)


def test_rejects_form_without_payload_field(client: httpx.Client) -> None:
    body = b"data=%7B%7D"
    headers = github(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    error = assert_error(client.post("/hooks/github", content=body, headers=headers), 400)
    assert "payload=" in error


@pytest.mark.parametrize(
    ("path", "headers", "missing"),
    [
        ("/hooks/github", github(), "X-GitHub-Event"),
        ("/hooks/gitlab", gitlab(), "X-Gitlab-Event"),
        ("/hooks/gitea", gitea(), "X-Gitea-Event"),
    ],
    ids=["github", "gitlab", "gitea"],
)
def test_rejects_missing_event_header(
    client: httpx.Client, path: str, headers: dict[str, str], missing: str
) -> None:
    # Gitea's finer X-Gitea-Event-Type names the event too: both are missing here.
    sent = {name: value for name, value in headers.items() if not name.startswith(missing)}
    error = assert_error(client.post(path, content=PUSH, headers=sent), 400)
    assert missing in error


# 413


def test_rejects_declared_body_over_max_body(client: httpx.Client) -> None:
    body = b'{"padding":"' + b"x" * MAX_BODY + b'"}'
    response = client.post("/hooks/github", content=body, headers=github(body))
    assert "1024" in assert_error(response, 413)


def test_rejects_chunked_body_over_max_body(client: httpx.Client) -> None:
    chunk = b"x" * 256
    chunks = 4096  # 1 MiB in all; the cap is 1 KiB

    def stream() -> Iterator[bytes]:
        yield b'{"padding":"'
        for _ in range(chunks):
            yield chunk
        yield b'"}'

    headers = github(b"unused")
    request = client.build_request("POST", "/hooks/github", content=stream(), headers=headers)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = client.send(request)
    assert_error(response, 413)


def test_accepts_body_of_exactly_max_body(client: httpx.Client) -> None:
    prefix, suffix = b'{"ref":"refs/heads/x","padding":"', b'"}'
    body = prefix + b"x" * (MAX_BODY - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY
    response = client.post("/hooks/github", content=body, headers=github(body))
    assert response.status_code == 202, response.text


# 415


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_rejects_unsupported_content_type(client: httpx.Client, content_type: str) -> None:
    headers = github(**{"Content-Type": content_type})
    assert_error(client.post("/hooks/github", content=PUSH, headers=headers), 415)


# 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/hooks/nope"),
        ("GET", "/hooks/nope"),
        ("POST", "/hooks"),
        ("POST", "/hooks/github/"),
    ],
)
def test_unknown_path_is_404_and_names_no_path(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, content=PUSH, headers=github())
    assert response.status_code == 404
    text = response.text.lower()
    for known in [*ENDPOINT_PATHS, "/hooks", "/healthz", "/readyz", "/payload"]:
        assert known not in text
    assert "github" not in text


# 405


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_an_endpoint_are_405_with_allow_post(
    client: httpx.Client, method: str
) -> None:
    response = client.request(method, "/hooks/github")
    error = assert_error(response, 405)
    assert response.headers["allow"] == "POST"
    assert "webhook" in error.lower()
    assert "POST" in error


# Form-encoded deliveries


def test_accepts_form_encoded_github_delivery_and_stores_the_form_bytes(
    live: LiveServer, client: httpx.Client
) -> None:
    payload = '{"ref":"refs/heads/main","after":"abc","head_commit":{"message":"a+b & c=d é"}}'
    body = b"payload=" + quote_plus(payload).encode()
    headers = github(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    response = client.post("/hooks/github", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["hooks"] == ["deploy"]
    shown = hookd_json(live, "show", response.json()["id"])
    assert shown["payload"] == body.decode()
    assert shown["content_type"] == "application/x-www-form-urlencoded"
    assert shown["repository"] is None
    assert shown["event"] == "push"


def test_accepts_form_encoded_gitea_delivery_signed_over_its_payload(
    client: httpx.Client,
) -> None:
    payload = '{"ref":"refs/heads/main","commits":[{"message":"x+y & z é"}]}'
    body = b"payload=" + quote_plus(payload).encode()
    headers = gitea(payload.encode(), **{"Content-Type": "application/x-www-form-urlencoded"})
    response = client.post("/hooks/gitea", content=body, headers=headers)
    assert response.status_code == 202, response.text
    over_form = gitea(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(client.post("/hooks/gitea", content=body, headers=over_form), 401)


# Rejections are recorded as metadata only


def test_rejected_request_is_recorded_without_its_body(
    live: LiveServer, client: httpx.Client
) -> None:
    marker = "marker-" + new_id()
    body = json.dumps({"ref": "refs/heads/main", "note": marker}).encode()
    headers = github(body, **{"X-Hub-Signature-256": f"sha256={sign(b'wrong', body)}"})
    assert_error(client.post("/hooks/audit", content=body, headers=headers), 401)
    rows = hookd_json(live, "deliveries", "--status", "rejected", "--endpoint", "audit")
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "rejected"
    assert "X-Hub-Signature-256" in row["reason"]
    assert row["size"] == len(body)
    assert row["remote_addr"] == "127.0.0.1"
    shown = live.hookd("show", row["id"], "--json").stdout
    assert marker not in shown
    detail = json.loads(shown)
    assert detail["payload"] is None
    assert detail["received_at"]


# allow_ips and X-Forwarded-For


def post_from(client: httpx.Client, path: str, *forwarded: str) -> httpx.Response:
    headers = list(github().items()) + [("X-Forwarded-For", hop) for hop in forwarded]
    return client.post(path, content=PUSH, headers=headers)


def test_allow_ips_accepts_an_allowed_address(client: httpx.Client) -> None:
    response = post_from(client, "/hooks/local-only")
    assert response.status_code == 202, response.text


def test_allow_ips_refuses_other_addresses(client: httpx.Client) -> None:
    response = post_from(client, "/hooks/ten-only")
    assert "127.0.0.1" in assert_error(response, 403)


def test_forwarded_for_is_believed_from_a_trusted_proxy(client: httpx.Client) -> None:
    response = post_from(client, "/hooks/proxied", "203.0.113.9")
    assert response.status_code == 202, response.text


def test_forwarded_for_is_not_believed_without_trusted_proxies(client: httpx.Client) -> None:
    response = post_from(client, "/hooks/unproxied", "203.0.113.9")
    assert "127.0.0.1" in assert_error(response, 403)


def test_forwarded_for_is_not_believed_with_uvicorns_defaults(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(CONFIG, "--workers", "0")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert_error(post_from(http, "/hooks/unproxied", "203.0.113.9"), 403)


@pytest.mark.parametrize(
    "forwarded",
    [("203.0.113.9, 198.51.100.7",), ("203.0.113.9", "198.51.100.7")],
    ids=["one-line", "two-lines"],
)
def test_forged_leftmost_forwarded_for_entry_is_not_believed(
    client: httpx.Client, forwarded: tuple[str, ...]
) -> None:
    # The proxy appended 198.51.100.7 (the real client) after what the client claimed.
    response = post_from(client, "/hooks/proxied", *forwarded)
    assert "198.51.100.7" in assert_error(response, 403)


# The process keeps serving


def test_keeps_serving_after_every_kind_of_rejection(
    live: LiveServer, client: httpx.Client
) -> None:
    bad: list[Callable[[], httpx.Response]] = [
        lambda: client.post(
            "/hooks/github", content=PUSH, headers=github(**{"X-Hub-Signature-256": "x"})
        ),
        lambda: client.post("/hooks/github", content=b"{", headers=github(b"{")),
        lambda: client.post(
            "/hooks/github", content=PUSH, headers=github(**{"Content-Type": "text/plain"})
        ),
        lambda: client.post("/hooks/github", content=b"x" * 5000, headers=github(b"x" * 5000)),
        lambda: client.get("/hooks/github"),
        lambda: client.post("/nowhere", content=PUSH),
        lambda: post_from(client, "/hooks/ten-only"),
        lambda: client.post(
            "/hooks/github",
            content=PUSH,
            headers=[
                (b"X-GitHub-Event", b"push"),
                (b"Content-Type", b"application/json"),
                (b"X-Hub-Signature-256", b"sha256=" + b"\xff" * 64),
            ],
        ),
    ]
    for attempt in bad:
        response = attempt()
        assert 400 <= response.status_code < 500, response.text
        good = client.post("/hooks/github", content=PUSH, headers=github())
        assert good.status_code == 202, good.text
    assert live.process.poll() is None
    assert client.get("/healthz").status_code == 200


# 503: the store cannot record


LOCKED_CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db?timeout=0.3
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks: {}
"""


def test_answers_503_when_the_store_cannot_record_and_202_once_it_can(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(LOCKED_CONFIG, "--workers", "0")
    delivery = new_id()
    headers = github(delivery=delivery)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        lock = sqlite3.connect(tmp_path / "hookd.db", isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            response = http.post("/hooks/github", content=PUSH, headers=headers)
            assert_error(response, 503)
            assert http.get("/healthz").status_code == 200
            assert http.get("/readyz").status_code == 503
            lock.execute("ROLLBACK")
        finally:
            lock.close()
        deadline = time.monotonic() + 10  # a readiness probe's answer is kept for a second
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "/readyz stayed 503 once the lock was released"
            time.sleep(0.1)
        retry = http.post("/hooks/github", content=PUSH, headers=headers)
        assert retry.status_code == 202, retry.text
        assert retry.json()["delivery"] == delivery
    rows = hookd_json(server, "deliveries")
    assert [(row["delivery"], row["status"]) for row in rows] == [(delivery, "accepted")]
