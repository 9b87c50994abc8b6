"""Standard Webhooks deliveries, signed by the spec's own Python library (`standardwebhooks`)
as the sender, to a live `hookd serve`: `forge: standard` and a GitLab endpoint with
`signature: standard` (its signing token)."""

from __future__ import annotations

import base64
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deliveries import Outgoing, encode, hookd_json, post
from standardwebhooks.webhooks import Webhook

from conftest import LiveServer, run_hookd, start_server, write_config

OLD_KEY = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW_KEY = "whsec_" + base64.b64encode(b"n" * 32).decode()
GITLAB_KEY = "whsec_" + base64.b64encode(b"g" * 32).decode()
OTHER_KEY = "whsec_" + base64.b64encode(b"x" * 32).decode()

CONFIG = f"""
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  standard:
    forge: standard
    secret: [{OLD_KEY}, {NEW_KEY}]
  tight:
    forge: standard
    secret: {NEW_KEY}
    timestamp_tolerance: 20s
  gitlab:
    forge: gitlab
    signature: standard
    secret: {GITLAB_KEY}
hooks:
  invoices:
    endpoint: standard
    on: invoice.paid
    run: ["true"]
  pushes:
    endpoint: gitlab
    on: {{push: {{branches: [main]}}}}
    run: ["true"]
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("standard")
    write_config(directory, CONFIG)
    server = start_server(directory, "--workers", "0")
    yield server
    server.stop(signal.SIGKILL)


def delivery(
    key: str,
    payload: dict[str, Any] | None = None,
    *,
    path: str = "/hooks/standard",
    at: datetime | None = None,
    webhook_id: str | None = None,
) -> Outgoing:
    """Signed by the spec's library, as a Standard Webhooks sender signs."""
    body = encode(payload or {"type": "invoice.paid", "data": {"id": str(uuid.uuid4())}})
    timestamp = at or datetime.now(UTC)
    msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    signature = Webhook(key).sign(msg_id, timestamp, body.decode())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    return Outgoing(path, body, headers)


def refusal(live: LiveServer, outgoing: Outgoing) -> str:
    response = post(live, outgoing)
    assert response.status_code == 401, response.text
    reason: str = response.json()["error"]
    assert reason.endswith("."), reason
    return reason


def test_a_delivery_signed_by_the_library_is_accepted(live: LiveServer) -> None:
    outgoing = delivery(NEW_KEY)
    response = post(live, outgoing)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["delivery"] == outgoing.headers["webhook-id"]
    assert (answer["event"], answer["hooks"]) == ("invoice.paid", ["invoices"])
    shown = hookd_json(live, "show", answer["id"], "--json")
    assert (shown["forge"], shown["forge_event"]) == ("standard", "invoice.paid")


def test_a_rotated_secret_list_accepts_either_secret(live: LiveServer) -> None:
    for key in (OLD_KEY, NEW_KEY):
        assert post(live, delivery(key)).status_code == 202
    assert "does not match" in refusal(live, delivery(OTHER_KEY))


def test_a_signature_header_with_several_signatures_matches_on_any(live: LiveServer) -> None:
    outgoing = delivery(NEW_KEY)
    wrong = delivery(OTHER_KEY, webhook_id=outgoing.headers["webhook-id"])
    signatures = (wrong.headers["webhook-signature"], "v1a,c2lnbmF0dXJl")
    outgoing.headers["webhook-signature"] = " ".join(
        (*signatures, outgoing.headers["webhook-signature"])
    )
    assert post(live, outgoing).status_code == 202


def test_a_timestamp_ten_minutes_old_is_refused(live: LiveServer) -> None:
    old = delivery(NEW_KEY, at=datetime.now(UTC) - timedelta(minutes=10))
    assert "too old" in refusal(live, old)


def test_a_timestamp_from_the_future_is_refused(live: LiveServer) -> None:
    ahead = delivery(NEW_KEY, at=datetime.now(UTC) + timedelta(minutes=10))
    assert "from the future" in refusal(live, ahead)


def test_the_tolerance_is_set_per_endpoint(live: LiveServer) -> None:
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    assert post(live, delivery(NEW_KEY, at=a_minute_ago)).status_code == 202
    late = delivery(NEW_KEY, path="/hooks/tight", at=a_minute_ago)
    assert "tolerance of 20 seconds" in refusal(live, late)


def test_the_same_webhook_id_twice_is_a_duplicate(live: LiveServer) -> None:
    msg_id = f"msg_{uuid.uuid4().hex}"
    first = post(live, delivery(NEW_KEY, webhook_id=msg_id))
    assert first.status_code == 202
    # A retry: the same id, a new timestamp and signature, and here even another body.
    again = post(live, delivery(NEW_KEY, webhook_id=msg_id))
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"
    assert again.json()["id"] == first.json()["id"]


def test_a_wrong_signature_is_refused(live: LiveServer) -> None:
    outgoing = delivery(NEW_KEY)
    outgoing.headers["webhook-id"] = "msg_other"  # the id is signed
    assert "webhook-signature signature does not match" in refusal(live, outgoing)


def test_a_missing_signature_is_refused(live: LiveServer) -> None:
    outgoing = delivery(NEW_KEY)
    del outgoing.headers["webhook-signature"]
    assert "webhook-signature header is missing" in refusal(live, outgoing)
    no_timestamp = delivery(NEW_KEY)
    del no_timestamp.headers["webhook-timestamp"]
    assert "webhook-timestamp header is missing" in refusal(live, no_timestamp)


def test_a_truncated_signature_is_refused(live: LiveServer) -> None:
    outgoing = delivery(NEW_KEY)
    outgoing.headers["webhook-signature"] = outgoing.headers["webhook-signature"][:-4]
    assert "malformed" in refusal(live, outgoing)


def test_another_schemes_signature_is_refused(live: LiveServer) -> None:
    outgoing = delivery(NEW_KEY)
    digest = outgoing.headers["webhook-signature"].removeprefix("v1,")
    outgoing.headers["webhook-signature"] = f"v1a,{digest}"
    assert "no v1 signature" in refusal(live, outgoing)
    hub = delivery(NEW_KEY)
    hub.headers["webhook-signature"] = "sha256=" + base64.b64decode(digest).hex()
    assert "no v1 signature" in refusal(live, hub)


def test_a_gitlab_signing_token_delivery_is_accepted(live: LiveServer) -> None:
    payload = {"object_kind": "push", "ref": "refs/heads/main", "after": "c" * 40}
    outgoing = delivery(GITLAB_KEY, payload, path="/hooks/gitlab")
    outgoing.headers["X-Gitlab-Event"] = "Push Hook"
    outgoing.headers["Idempotency-Key"] = outgoing.headers["webhook-id"]
    response = post(live, outgoing)
    assert response.status_code == 202, response.text
    assert (response.json()["event"], response.json()["hooks"]) == ("push", ["pushes"])
    token_only = delivery(GITLAB_KEY, payload, path="/hooks/gitlab")
    token_only.headers["X-Gitlab-Event"] = "Push Hook"
    token_only.headers["X-Gitlab-Token"] = GITLAB_KEY
    del token_only.headers["webhook-signature"]
    assert "webhook-signature header is missing" in refusal(live, token_only)
    stale = delivery(
        GITLAB_KEY, payload, path="/hooks/gitlab", at=datetime.now(UTC) - timedelta(minutes=10)
    )
    stale.headers["X-Gitlab-Event"] = "Push Hook"
    assert "too old" in refusal(live, stale)


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("forge: standard", "has no secret"),
        ("forge: standard\n    secret: not base64!", "whsec_"),
        (
            "forge: github\n    signature: standard\n    secret: s",
            "does not take signature: standard",
        ),
    ],
)
def test_a_misconfigured_endpoint_is_refused_at_start(
    tmp_path: Path, endpoint: str, problem: str
) -> None:
    write_config(
        tmp_path,
        f"server:\n  port: 0\n  database: sqlite:///hookd.db\nendpoints:\n  e:\n    {endpoint}\n",
    )
    ran = run_hookd("serve", "--config", str(tmp_path / "hookd.yaml"), cwd=tmp_path, check=False)
    assert ran.returncode != 0
    assert problem in ran.stderr + ran.stdout
