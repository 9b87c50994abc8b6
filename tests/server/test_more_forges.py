"""Gitea's own event names, Forgejo's and Gogs' headers and GitLab's job hooks, delivered to a
live `hookd serve`: each recorded under GitHub's event name, matched by `on:` as GitHub's."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from deliveries import Outgoing, accept, encode, gitlab, hookd_json

from conftest import LiveServer, start_server, write_config
from hookd.core.signatures import sign

GITEA_SECRET = "gitea-secret"

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  gitea:
    forge: gitea
    secret: gitea-secret
  gitlab:
    forge: gitlab
    secret: gitlab-token-1
hooks:
  approvals:
    endpoint: gitea
    on: {pull_request_review: {types: [submitted]}}
    run: ["true"]
  wiki:
    endpoint: gitea
    on: gollum
    run: ["true"]
  review-comments:
    endpoint: gitea
    on: pull_request_review_comment
    run: ["true"]
  conversation:
    endpoint: gitea
    on: issue_comment
    run: ["true"]
  unlabeled:
    endpoint: gitea
    on: {pull_request: {types: [unlabeled]}}
    run: ["true"]
  jobs:
    endpoint: gitlab
    on: job
    run: ["true"]
"""

REPOSITORY = {"full_name": "team/site", "name": "site", "owner": {"login": "team"}}
PULL = {"number": 7, "title": "t", "head": {"ref": "topic", "sha": "a" * 40}}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("more-forges")
    write_config(directory, CONFIG)
    server = start_server(directory, "--workers", "0")
    yield server
    server.stop(signal.SIGKILL)


def gitea(event: str, event_type: str | None, payload: dict[str, Any]) -> Outgoing:
    """As Gitea sends it: the coarse event, the finer type, and the bare hex signature."""
    body = encode({**payload, "nonce": str(uuid.uuid4())})
    digest = sign(GITEA_SECRET.encode(), body)
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Event": event,
        "X-Gitea-Signature": digest,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    if event_type is not None:
        headers["X-Gitea-Event-Type"] = event_type
    return Outgoing("/hooks/gitea", body, headers)


def review(state: str) -> dict[str, Any]:
    return {
        "action": "reviewed",
        "number": 7,
        "pull_request": PULL,
        "repository": REPOSITORY,
        "review": {"type": state, "content": "fine"},
    }


@pytest.mark.parametrize(
    ("event", "event_type"),
    [
        ("pull_request_approved", "pull_request_review_approved"),
        ("pull_request_rejected", "pull_request_review_rejected"),
        ("pull_request_approved", None),
    ],
)
def test_a_gitea_review_matches_on_pull_request_review(
    live: LiveServer, event: str, event_type: str | None
) -> None:
    answer = accept(live, gitea(event, event_type, review(event_type or event)))
    assert answer["event"] == "pull_request_review"
    assert answer["hooks"] == ["approvals"]
    [row] = hookd_json(live, "deliveries", "--json", "--hook", "approvals", "--limit", "1000")[:1]
    assert row["id"] == answer["id"]
    assert row["action"] == "submitted"
    assert row["repository"] == "team/site"


def test_a_gitea_wiki_delivery_matches_on_gollum(live: LiveServer) -> None:
    payload = {"action": "edited", "repository": REPOSITORY, "page": "Home", "comment": ""}
    answer = accept(live, gitea("wiki", "wiki", payload))
    assert answer["event"] == "gollum"
    assert answer["hooks"] == ["wiki"]


def test_a_gitea_comment_is_a_review_comment_or_a_conversation_comment_as_the_body_says(
    live: LiveServer,
) -> None:
    on_review = accept(
        live, gitea("pull_request_comment", "pull_request_review_comment", review("comment"))
    )
    assert (on_review["event"], on_review["hooks"]) == (
        "pull_request_review_comment",
        ["review-comments"],
    )
    conversation = {
        "action": "created",
        "issue": {"number": 7},
        "comment": {"id": 1, "body": "hi"},
        "is_pull": True,
        "repository": REPOSITORY,
    }
    on_pull = accept(live, gitea("issue_comment", "pull_request_comment", conversation))
    assert (on_pull["event"], on_pull["hooks"]) == ("issue_comment", ["conversation"])


def test_gitea_label_cleared_is_unlabeled(live: LiveServer) -> None:
    payload = {"action": "label_cleared", "number": 7, "pull_request": PULL}
    answer = accept(live, gitea("pull_request", "pull_request_label", payload))
    assert (answer["event"], answer["hooks"]) == ("pull_request", ["unlabeled"])
    labeled = {"action": "label_updated", "number": 7, "pull_request": PULL}
    assert accept(live, gitea("pull_request", "pull_request_label", labeled))["hooks"] == []


def test_a_gitlab_job_hook_names_its_repository(live: LiveServer) -> None:
    payload = {
        "object_kind": "build",
        "ref": "main",
        "sha": "b" * 40,
        "build_id": int(uuid.uuid4().int % 10**9),
        "project_id": 31,
        "project_name": "Team / tools",
        "repository": {
            "name": "tools",
            "homepage": "https://gitlab.example.com/team/tools",
            "git_http_url": "https://gitlab.example.com/team/tools.git",
        },
    }
    answer = accept(live, gitlab("Job Hook", payload))
    assert (answer["event"], answer["hooks"]) == ("job", ["jobs"])
    rows = hookd_json(live, "deliveries", "--json", "--repository", "team/tools")
    assert [row["id"] for row in rows] == [answer["id"]]
