"""Gitea's own event names, Forgejo's and Gogs' headers and GitLab's job hooks, delivered to a
live `hookd serve`: each recorded under GitHub's event name, matched by `on:` as GitHub's."""

from __future__ import annotations

import base64
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deliveries import Outgoing, accept, encode, gitlab, hookd_json, post, wait_finished

from conftest import CORPUS, LiveServer, run_hookd, start_server, write_config
from hookd.core.signatures import sign

GITEA_SECRET = "gitea-secret"
GOGS_SECRET = "gogs-secret"
FORGEJO_SECRET = "forgejo-secret"
GOGS_FILES = sorted(CORPUS.glob("gogs/*/*.json"))
AZURE_FILES = sorted(CORPUS.glob("azure-devops/*/*.json"))
AZURE_CREDENTIALS = base64.b64encode(b"hookd:azure-password").decode()
# What a job is told of its delivery, one line per job in the facts folder.
FACTS = (
    'printf "%s|%s|%s|%s|%s" "$HOOKD_EVENT" "$HOOKD_ACTION" "$HOOKD_REPOSITORY" "$HOOKD_REF" '
    '"$HOOKD_SHA" > "$0/$HOOKD_DELIVERY"'
)

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
  gogs:
    forge: gogs
    secret: gogs-secret
  forgejo:
    forge: forgejo
    secret: forgejo-secret
  azure:
    forge: azure-devops
    secret: "hookd:azure-password"
hooks:
  azure-facts:
    endpoint: azure
    on: "*"
    run: ["sh", "-c", {facts}, {folder}]
  azure-main:
    endpoint: azure
    on: {{push: {{branches: [main]}}}}
    run: ["true"]
  azure-develop:
    endpoint: azure
    on: {{push: {{branches: [develop]}}}}
    run: ["true"]
  azure-opened-to-master:
    endpoint: azure
    on: {{pull_request: {{types: [opened], branches: [master]}}}}
    run: ["true"]
  azure-closed:
    endpoint: azure
    on: {{pull_request: {{types: [closed]}}}}
    run: ["true"]
  gogs-facts:
    endpoint: gogs
    on: "*"
    run: ["sh", "-c", {facts}, {folder}]
  gogs-develop:
    endpoint: gogs
    on: {{push: {{branches: [develop]}}}}
    run: ["true"]
  gogs-main:
    endpoint: gogs
    on: {{push: {{branches: [main]}}}}
    run: ["true"]
  gogs-opened:
    endpoint: gogs
    on: {{pull_request: {{types: [opened]}}}}
    run: ["true"]
  gogs-closed:
    endpoint: gogs
    on: {{pull_request: {{types: [closed]}}}}
    run: ["true"]
  forgejo-reviews:
    endpoint: forgejo
    on: pull_request_review
    run: ["true"]
  approvals:
    endpoint: gitea
    on: {{pull_request_review: {{types: [submitted]}}}}
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
    on: {{pull_request: {{types: [unlabeled]}}}}
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
    (directory / "facts").mkdir()
    folder = json.dumps(str(directory / "facts"))
    write_config(directory, CONFIG.format(facts=json.dumps(FACTS), folder=folder))
    server = start_server(directory)
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


def gogs_request(body: bytes, event: str, secret: str = GOGS_SECRET) -> Outgoing:
    """As Gogs sends it: its own headers only, a bare hex signature of the body."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GogsServer",
        "X-Gogs-Delivery": str(uuid.uuid4()),
        "X-Gogs-Event": event,
        "X-Gogs-Signature": sign(secret.encode(), body),
    }
    return Outgoing("/hooks/gogs", body, headers)


def expected_facts(payload: dict[str, Any], event: str) -> str:
    """The facts as the payload says them, read here independently of hookd."""
    action = payload.get("action") or ""
    repository = payload["repository"]["full_name"]
    return f"{event}|{action}|{repository}|{payload.get('ref', '')}|{payload.get('after', '')}"


@pytest.mark.parametrize("path", GOGS_FILES, ids=lambda path: path.relative_to(CORPUS).as_posix())
def test_every_gogs_corpus_file_is_accepted_with_its_facts(live: LiveServer, path: Path) -> None:
    body = path.read_bytes()
    event = path.parent.name
    outgoing = gogs_request(body, event)
    response = post(live, outgoing)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["event"] == event
    assert answer["delivery"] == outgoing.headers["X-Gogs-Delivery"]
    wait_finished(live, answer["id"], count=len(answer["hooks"]))
    facts = live.directory / "facts" / outgoing.headers["X-Gogs-Delivery"]
    assert facts.read_text() == expected_facts(json.loads(body), event)
    expected_hooks = {"push": ["gogs-develop"], "pull_request": ["gogs-opened"]}
    assert sorted(answer["hooks"]) == sorted(["gogs-facts", *expected_hooks.get(event, [])])


def refusal(live: LiveServer, outgoing: Outgoing) -> str:
    response = post(live, outgoing)
    assert response.status_code == 401, response.text
    reason: str = response.json()["error"]
    assert reason.endswith("."), reason
    return reason


SIGNED_BY = {"gogs": "X-Gogs-Signature", "forgejo": "X-Forgejo-Signature"}


def signed(endpoint: str, secret: str, event: str = "push") -> Outgoing:
    body = encode({"ref": "refs/heads/main", "nonce": str(uuid.uuid4())})
    prefix = "Gogs" if endpoint == "gogs" else "Forgejo"
    headers = {
        "Content-Type": "application/json",
        f"X-{prefix}-Delivery": str(uuid.uuid4()),
        f"X-{prefix}-Event": event,
        SIGNED_BY[endpoint]: sign(secret.encode(), body),
    }
    return Outgoing(f"/hooks/{endpoint}", body, headers)


SECRETS = {"gogs": GOGS_SECRET, "forgejo": FORGEJO_SECRET}


@pytest.mark.parametrize("endpoint", sorted(SIGNED_BY))
def test_the_right_signature_is_accepted(live: LiveServer, endpoint: str) -> None:
    assert post(live, signed(endpoint, SECRETS[endpoint])).status_code == 202


@pytest.mark.parametrize("endpoint", sorted(SIGNED_BY))
def test_a_wrong_signature_is_refused(live: LiveServer, endpoint: str) -> None:
    reason = refusal(live, signed(endpoint, "not-the-secret"))
    assert f"{SIGNED_BY[endpoint]} signature does not match" in reason


@pytest.mark.parametrize("endpoint", sorted(SIGNED_BY))
def test_a_missing_signature_is_refused(live: LiveServer, endpoint: str) -> None:
    outgoing = signed(endpoint, SECRETS[endpoint])
    del outgoing.headers[SIGNED_BY[endpoint]]
    assert f"{SIGNED_BY[endpoint]} header is missing" in refusal(live, outgoing)


@pytest.mark.parametrize("endpoint", sorted(SIGNED_BY))
def test_a_truncated_signature_is_refused(live: LiveServer, endpoint: str) -> None:
    outgoing = signed(endpoint, SECRETS[endpoint])
    outgoing.headers[SIGNED_BY[endpoint]] = outgoing.headers[SIGNED_BY[endpoint]][:-2]
    assert "malformed" in refusal(live, outgoing)


@pytest.mark.parametrize("endpoint", sorted(SIGNED_BY))
def test_another_schemes_signature_is_refused(live: LiveServer, endpoint: str) -> None:
    outgoing = signed(endpoint, SECRETS[endpoint])
    header = SIGNED_BY[endpoint]
    outgoing.headers[header] = f"sha256={outgoing.headers[header]}"
    assert "malformed" in refusal(live, outgoing)
    github_style = signed(endpoint, SECRETS[endpoint])
    github_style.headers["X-Hub-Signature-256"] = "sha256=" + github_style.headers.pop(header)
    assert f"{header} header is missing" in refusal(live, github_style)


def test_forgejo_headers_alone_reach_a_forgejo_and_a_gitea_endpoint(live: LiveServer) -> None:
    approved = encode({**review("pull_request_review_approved"), "nonce": str(uuid.uuid4())})
    for endpoint, secret in (("forgejo", FORGEJO_SECRET), ("gitea", GITEA_SECRET)):
        delivery = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Forgejo-Delivery": delivery,
            "X-Forgejo-Event": "pull_request_approved",
            "X-Forgejo-Event-Type": "pull_request_review_approved",
            "X-Forgejo-Signature": sign(secret.encode(), approved),
        }
        response = post(live, Outgoing(f"/hooks/{endpoint}", approved, headers))
        assert response.status_code == 202, response.text
        answer = response.json()
        assert (answer["delivery"], answer["event"]) == (delivery, "pull_request_review")
        hook = "forgejo-reviews" if endpoint == "forgejo" else "approvals"
        assert answer["hooks"] == [hook]


@pytest.mark.parametrize("forge", ["gogs", "forgejo", "azure-devops"])
def test_an_endpoint_without_a_secret_is_refused_at_start(tmp_path: Path, forge: str) -> None:
    write_config(
        tmp_path,
        f"""
        server:
          port: 0
          database: sqlite:///hookd.db
        endpoints:
          {forge}:
            forge: {forge}
        """,
    )
    ran = run_hookd("serve", "--config", str(tmp_path / "hookd.yaml"), cwd=tmp_path, check=False)
    assert ran.returncode != 0
    assert "has no secret" in ran.stderr + ran.stdout


def azure_request(body: bytes, credentials: str = AZURE_CREDENTIALS) -> Outgoing:
    """As an Azure DevOps service hook sends it: Basic authentication, no event header."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if credentials:
        headers["Authorization"] = f"Basic {credentials}"
    return Outgoing("/hooks/azure", body, headers)


# What each corpus file is, read from the Azure DevOps service hooks documentation's terms:
# (event, action, repository, ref, sha, the hooks its on: filters match besides azure-facts).
AZURE_EXPECTED = {
    "git.push": (
        "push", "", "Fabrikam-Fiber-Git/Fabrikam-Fiber-Git", "refs/heads/main",
        "33b55f7cb7e7e245323987634f960cf4a6e6bc74", ["azure-main"],
    ),
    "git.pullrequest.created": (
        "pull_request", "opened", "Fabrikam/Fabrikam", "",
        "53d54ac915144006c2c9e90d2c7d3880920db49c", ["azure-opened-to-master"],
    ),
    "git.pullrequest.updated": (
        "pull_request", "closed", "Fabrikam/Fabrikam", "",
        "53d54ac915144006c2c9e90d2c7d3880920db49c", ["azure-closed"],
    ),
    "git.pullrequest.merged": (
        "pull_request", "closed", "Fabrikam/Fabrikam", "",
        "53d54ac915144006c2c9e90d2c7d3880920db49c", ["azure-closed"],
    ),
    "build.complete": ("build.complete", "", "", "", "", []),
}  # fmt: skip


@pytest.mark.parametrize("path", AZURE_FILES, ids=lambda path: path.parent.name)
def test_every_azure_devops_corpus_file_is_accepted_with_its_facts(
    live: LiveServer, path: Path
) -> None:
    body = path.read_bytes()
    payload = json.loads(body)
    assert payload["eventType"] == path.parent.name
    event, action, repository, ref, sha, hooks = AZURE_EXPECTED[path.parent.name]
    response = post(live, azure_request(body))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["delivery"], answer["event"]) == (payload["id"], event)
    assert sorted(answer["hooks"]) == sorted(["azure-facts", *hooks])
    wait_finished(live, answer["id"], count=len(answer["hooks"]))
    facts = live.directory / "facts" / payload["id"]
    assert facts.read_text() == f"{event}|{action}|{repository}|{ref}|{sha}"


def test_an_azure_devops_notification_is_accepted_once(live: LiveServer) -> None:
    body = encode({"id": str(uuid.uuid4()), "eventType": "git.push", "resource": {}})
    assert post(live, azure_request(body)).status_code == 202
    again = post(live, azure_request(body))
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        (base64.b64encode(b"hookd:wrong").decode(), "does not match"),
        (base64.b64encode(b"other:azure-password").decode(), "does not match"),
        ("", "Authorization header is missing"),
        (AZURE_CREDENTIALS[:-3], "malformed"),
    ],
    ids=["wrong", "wrong-user", "missing", "truncated"],
)
def test_wrong_azure_devops_credentials_are_refused(
    live: LiveServer, credentials: str, says: str
) -> None:
    body = encode({"id": str(uuid.uuid4()), "eventType": "git.push"})
    assert says in refusal(live, azure_request(body, credentials))


def test_another_authorization_scheme_is_refused(live: LiveServer) -> None:
    body = encode({"id": str(uuid.uuid4()), "eventType": "git.push"})
    outgoing = azure_request(body)
    outgoing.headers["Authorization"] = f"Bearer {AZURE_CREDENTIALS}"
    assert "not Basic" in refusal(live, outgoing)


def test_an_azure_devops_body_without_its_event_is_refused(live: LiveServer) -> None:
    response = post(live, azure_request(encode({"id": str(uuid.uuid4())})))
    assert response.status_code == 400
    assert "eventType" in response.json()["error"]


def test_an_azure_devops_secret_without_a_user_is_refused_at_start(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        server:
          port: 0
          database: sqlite:///hookd.db
        endpoints:
          azure:
            forge: azure-devops
            secret: only-a-password
        """,
    )
    ran = run_hookd("serve", "--config", str(tmp_path / "hookd.yaml"), cwd=tmp_path, check=False)
    assert ran.returncode != 0
    assert "user:password" in ran.stderr + ran.stdout


def test_an_azure_devops_push_of_two_refs_runs_a_hook_for_the_matching_one(
    live: LiveServer,
) -> None:
    before, main_after, feature_after = "1" * 40, "2" * 40, "3" * 40
    updates = [
        {"name": "refs/heads/feature/x", "oldObjectId": "0" * 40, "newObjectId": feature_after},
        {"name": "refs/heads/main", "oldObjectId": before, "newObjectId": main_after},
    ]
    repository = {"name": "app", "project": {"name": "web"}}
    body = encode({
        "id": str(uuid.uuid4()), "eventType": "git.push",
        "resource": {"refUpdates": updates, "repository": repository},
    })  # fmt: skip
    answer = post(live, azure_request(body)).json()
    assert sorted(answer["hooks"]) == ["azure-facts", "azure-facts", "azure-main"]
    jobs = wait_finished(live, answer["id"], count=3)
    refs = sorted((job["hook"], job["ref"]) for job in jobs)
    assert refs == [
        ("azure-facts", "refs/heads/feature/x"),
        ("azure-facts", "refs/heads/main"),
        ("azure-main", "refs/heads/main"),
    ]
