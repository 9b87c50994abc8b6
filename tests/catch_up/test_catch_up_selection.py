"""Which recorded attempts make a delivery to ask for again (`hookd.catch_up.selection`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hookd.catch_up.selection import (
    ASK,
    ASKED,
    HELD,
    failures,
    github_attempt,
    gitlab_attempt,
    verdict,
)


def item(forge_id: int, guid: str, code: int, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": forge_id, "guid": guid, "delivered_at": at, "redelivery": False,
        "status": "OK" if code == 200 else f"Invalid HTTP Response: {code}",
        "status_code": code, "event": "issues", "action": "opened", **extra,
    }  # fmt: skip


def test_a_delivery_with_any_2xx_attempt_was_delivered_and_the_newest_failure_is_asked() -> None:
    attempts = [
        github_attempt(x)
        for x in [
            item(1, "a", 503, "2026-12-01T10:00:00Z"),
            item(2, "a", 200, "2026-12-01T10:05:00Z"),  # a redelivery that arrived
            item(3, "b", 0, "2026-12-01T11:00:00Z"),
            item(4, "b", 502, "2026-12-01T11:30:00Z"),
            item(5, "c", 404, "2026-12-01T09:00:00Z"),
        ]
    ]
    found = failures([a for a in attempts if a is not None])
    assert [(f.key, f.forge_id) for f in found] == [("c", "5"), ("b", "4")]
    assert found[1].event == "issues.opened"
    assert found[1].failed_at == datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    assert found[1].failure == "Invalid HTTP Response: 502"
    assert found[0].failure == "Invalid HTTP Response: 404"


def test_items_without_an_id_or_guid_are_skipped() -> None:
    assert github_attempt({"guid": "a", "status_code": 500}) is None
    assert github_attempt({"id": 1, "status_code": 500}) is None


def test_gitlab_events_are_known_by_their_idempotency_key() -> None:
    event = {
        "id": 9, "trigger": "push_hooks", "response_status": "internal error",
        "created_at": "2026-12-01T10:00:00.000Z",
        "request_headers": {"X-Gitlab-Event": "Push Hook", "Idempotency-Key": "k-1"},
    }  # fmt: skip
    attempt = gitlab_attempt(event)
    assert attempt is not None
    assert (attempt.key, attempt.forge_id, attempt.status, attempt.succeeded) == (
        "k-1", "9", None, False,
    )  # fmt: skip
    older = {**event, "request_headers": {"X-Gitlab-Event-UUID": "u-1"}}
    assert getattr(gitlab_attempt(older), "key", None) == "u-1"
    assert gitlab_attempt({**event, "request_headers": {}}) is None
    ok = gitlab_attempt({**event, "response_status": "200"})
    assert ok is not None and ok.succeeded


def test_held_before_asked_before_ask() -> None:
    assert verdict("a", held={"a"}, asked={"a"}) == HELD
    assert verdict("a", held=set(), asked={"a"}) == ASKED
    assert verdict("a", held={"b"}, asked={"c"}) == ASK
