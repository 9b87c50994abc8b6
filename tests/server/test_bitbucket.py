"""Bitbucket Cloud and Data Center against a live `hookd serve`: every corpus delivery,
signed as Bitbucket signs it (`X-Hub-Signature: sha256=<hex>` of the body), is accepted
with the facts its payload states; `on:` filters match and miss; signatures hookd cannot
check are refused with 401 and a sentence; and a push of several refs runs a hook once per
matching ref, each job with its own ref."""

from __future__ import annotations

import json
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deliveries import Outgoing, hookd_json, hookd_output, post, wait_finished

from conftest import CORPUS, LiveServer, run_hookd, start_server, write_config
from hookd.core.signatures import sign

CLOUD_SECRET = "bitbucket-cloud-secret"
DC_SECRET = "bitbucket-dc-secret"
A, B, C, D, E = ("a1" * 20, "b2" * 20, "c3" * 20, "d4" * 20, "e5" * 20)
ZERO = "0" * 40
ECHO = [
    "sh",
    "-c",
    'echo "ref=$HOOKD_REF before=$HOOKD_BEFORE sha=$HOOKD_SHA template=$1 after=$2"',
    "sh",
    "{{ hookd.ref }}",
    "{{ hookd.after }}",
]

CONFIG = f"""
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  bitbucket:
    forge: bitbucket
    secret: {CLOUD_SECRET}
    replay_window: 0
  bitbucket-server:
    forge: bitbucket-server
    secret: {DC_SECRET}
    replay_window: 0
hooks:
  cloud-main:
    endpoint: bitbucket
    on: {{push: {{branches: [main]}}}}
    run: {json.dumps(ECHO)}
  cloud-releases:
    endpoint: bitbucket
    on: {{push: {{branches: ["release/**"]}}}}
    run: {json.dumps(ECHO)}
  cloud-closed-to-master:
    endpoint: bitbucket
    on: {{pull_request: {{types: [closed], branches: [master]}}}}
    run: ["true"]
  cloud-reviews:
    endpoint: bitbucket
    on: {{pull_request_review: {{types: [submitted]}}}}
    run: ["true"]
  dc-features:
    endpoint: bitbucket-server
    on: {{push: {{branches: ["feature/**"]}}}}
    run: {json.dumps(ECHO)}
  dc-main:
    endpoint: bitbucket-server
    on: {{push: {{branches: [main]}}}}
    run: {json.dumps(ECHO)}
  dc-merged-to-master:
    endpoint: bitbucket-server
    on: {{pull_request: {{types: [closed], branches: [master]}}}}
    run: ["true"]
"""

CLOUD_FILES = sorted(CORPUS.glob("bitbucket/*/*.json"))
DC_FILES = sorted(CORPUS.glob("bitbucket-server/*/*.json"))

# What each event key is in hookd's words, written out here (not read from the profile).
CLOUD_EVENTS = {
    "repo:push": ("push", None),
    "repo:fork": ("fork", None),
    "repo:updated": ("repository", "edited"),
    "repo:commit_comment_created": ("commit_comment", "created"),
    "repo:commit_status_created": ("status", None),
    "repo:commit_status_updated": ("status", None),
    "issue:created": ("issues", "opened"),
    "issue:updated": ("issues", "edited"),
    "issue:comment_created": ("issue_comment", "created"),
    "pullrequest:created": ("pull_request", "opened"),
    "pullrequest:updated": ("pull_request", "synchronize"),
    "pullrequest:fulfilled": ("pull_request", "closed"),
    "pullrequest:rejected": ("pull_request", "closed"),
    "pullrequest:approved": ("pull_request_review", "submitted"),
    "pullrequest:unapproved": ("pull_request_review", "dismissed"),
    # The corpus's pull request comments are on a line of the diff (`comment.inline`).
    "pullrequest:comment_created": ("pull_request_review_comment", "created"),
    "pullrequest:comment_updated": ("pull_request_review_comment", "edited"),
    "pullrequest:comment_deleted": ("pull_request_review_comment", "deleted"),
}
DC_EVENTS = {
    "repo:refs_changed": ("push", None),
    "repo:modified": ("repository", "edited"),
    "repo:forked": ("fork", None),
    "repo:comment:added": ("commit_comment", "created"),
    "repo:comment:edited": ("commit_comment", "edited"),
    "repo:comment:deleted": ("commit_comment", "deleted"),
    "pr:opened": ("pull_request", "opened"),
    "pr:modified": ("pull_request", "edited"),
    "pr:merged": ("pull_request", "closed"),
    "pr:declined": ("pull_request", "closed"),
    "pr:deleted": ("pull_request", "closed"),
    "pr:reviewer:approved": ("pull_request_review", "submitted"),
    "pr:reviewer:needs_work": ("pull_request_review", "submitted"),
    "pr:reviewer:unapproved": ("pull_request_review", "dismissed"),
    "pr:reviewer:updated": ("pull_request", "review_requested"),
    "pr:comment:added": ("issue_comment", "created"),
    "pr:comment:edited": ("issue_comment", "edited"),
    "pr:comment:deleted": ("issue_comment", "deleted"),
}


def event_key(path: Path) -> str:
    """The corpus folder is the event key with `:` written as `.` (corpus/SOURCES.md)."""
    return path.parent.name.replace(".", ":")


def cloud_request(event: str, body: bytes, *, secret: str = CLOUD_SECRET) -> Outgoing:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": event,
        "X-Request-UUID": str(uuid.uuid4()),
        "X-Hook-UUID": "{0c1e3f5a-7b9d-4e2f-8a6c-1d3b5f7e9a0c}",
        "X-Attempt-Number": "1",
        "X-Hub-Signature": f"sha256={sign(secret.encode(), body)}",
    }
    return Outgoing("/hooks/bitbucket", body, headers)


def dc_request(event: str, body: bytes, *, secret: str = DC_SECRET) -> Outgoing:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian HttpClient 2.1.5",
        "X-Event-Key": event,
        "X-Request-Id": str(uuid.uuid4()),
        "X-Hub-Signature": f"sha256={sign(secret.encode(), body)}",
    }
    return Outgoing("/hooks/bitbucket-server", body, headers)


def delivered(outgoing: Outgoing) -> str:
    return outgoing.headers.get("X-Request-UUID") or outgoing.headers["X-Request-Id"]


def accept_bitbucket(server: LiveServer, outgoing: Outgoing) -> dict[str, Any]:
    response = post(server, outgoing)
    assert response.status_code == 202, (response.status_code, response.text)
    answer: dict[str, Any] = response.json()
    assert answer["delivery"] == delivered(outgoing)
    return answer


# -- what the payload says, read here the way a reader of Bitbucket's docs would ----------


def cloud_facts(key: str, payload: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(repository, ref, sha) of a Bitbucket Cloud payload."""
    repository = payload["repository"]["full_name"]
    if key == "repo:push":
        change = payload["push"]["changes"][0]
        new = change["new"]
        return repository, f"refs/heads/{new['name']}", new["target"]["hash"]
    if "pullrequest" in payload:
        return repository, None, payload["pullrequest"]["source"]["commit"]["hash"]
    if "commit" in payload:
        return repository, None, payload["commit"]["hash"]
    return repository, None, None


def dc_facts(key: str, payload: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(repository, ref, sha) of a Bitbucket Data Center payload: PROJECT/slug."""
    if "pullRequest" in payload:
        target = payload["pullRequest"]["toRef"]["repository"]
        repository = f"{target['project']['key']}/{target['slug']}"
        return repository, None, payload["pullRequest"]["fromRef"]["latestCommit"]
    repo = payload.get("repository") or payload["new"]
    repository = f"{repo['project']['key']}/{repo['slug']}"
    if key == "repo:refs_changed":
        change = payload["changes"][0]
        return repository, change["ref"]["id"], change["toHash"]
    return repository, None, payload.get("commit")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("bitbucket")
    write_config(directory, CONFIG)
    server = start_server(directory)
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def corpus(live: LiveServer) -> dict[Path, dict[str, Any]]:
    """Every Bitbucket corpus file, delivered once: its 202 answer."""
    answers = {}
    for path in CLOUD_FILES:
        answers[path] = accept_bitbucket(live, cloud_request(event_key(path), path.read_bytes()))
    for path in DC_FILES:
        answers[path] = accept_bitbucket(live, dc_request(event_key(path), path.read_bytes()))
    return answers


def stored(live: LiveServer, hookd_id: str) -> sqlite3.Row:
    """The delivery's row as hookd stored it (a real SQLite file)."""
    with sqlite3.connect(live.directory / "hookd.db") as database:
        database.row_factory = sqlite3.Row
        row = database.execute(
            "SELECT event, forge_event, action, repository, ref, sha FROM deliveries WHERE id = ?",
            (hookd_id,),
        ).fetchone()
    assert row is not None
    return row  # type: ignore[no-any-return]


def test_the_corpus_has_both_forges() -> None:
    assert len(CLOUD_FILES) == len(CLOUD_EVENTS) == 18
    assert len(DC_FILES) == len(DC_EVENTS) == 18
    assert {event_key(path) for path in CLOUD_FILES} == set(CLOUD_EVENTS)
    assert {event_key(path) for path in DC_FILES} == set(DC_EVENTS)


@pytest.mark.parametrize("path", CLOUD_FILES + DC_FILES, ids=lambda p: p.parent.name)
def test_every_corpus_delivery_is_accepted_with_the_facts_its_payload_states(
    live: LiveServer, corpus: dict[Path, dict[str, Any]], path: Path
) -> None:
    answer = corpus[path]
    key = event_key(path)
    cloud = path.parent.parent.name == "bitbucket"
    event, action = (CLOUD_EVENTS if cloud else DC_EVENTS)[key]
    assert answer["status"] == ("queued" if answer["hooks"] else "unmatched")
    assert answer["event"] == event
    payload = json.loads(path.read_bytes())
    row = stored(live, answer["id"])
    facts = (cloud_facts if cloud else dc_facts)(key, payload)
    assert (row["event"], row["forge_event"], row["action"]) == (event, key, action)
    assert (row["repository"], row["ref"], row["sha"]) == facts


def test_the_corpus_push_gives_its_ref_and_commits_to_the_job(
    live: LiveServer, corpus: dict[Path, dict[str, Any]]
) -> None:
    """Data Center's corpus push deletes feature/wip: dc-features runs, dc-main does not."""
    answer = corpus[next(path for path in DC_FILES if path.parent.name == "repo.refs_changed")]
    assert answer["hooks"] == ["dc-features"]
    (job,) = wait_finished(live, answer["id"])
    assert job["status"] == "succeeded"
    log = hookd_output(live, "logs", job["id"]).decode()
    assert "ref=refs/heads/feature/wip" in log
    assert f"before=32a0b8a740c2963c6f56bd8baf3dc05683d299e0 sha={ZERO}" in log


@pytest.mark.parametrize(
    ("folder", "hooks"),
    [
        ("bitbucket/pullrequest.fulfilled", ["cloud-closed-to-master"]),
        ("bitbucket/pullrequest.rejected", ["cloud-closed-to-master"]),
        ("bitbucket/pullrequest.created", []),
        ("bitbucket/pullrequest.approved", ["cloud-reviews"]),
        ("bitbucket/pullrequest.unapproved", []),
        ("bitbucket/repo.push", []),
        ("bitbucket-server/pr.merged", ["dc-merged-to-master"]),
        ("bitbucket-server/pr.opened", []),
        ("bitbucket-server/repo.refs_changed", ["dc-features"]),
    ],
)
def test_on_filters_match_and_miss(
    corpus: dict[Path, dict[str, Any]], folder: str, hooks: list[str]
) -> None:
    path = next(path for path in corpus if path.parent.relative_to(CORPUS).as_posix() == folder)
    assert corpus[path]["hooks"] == hooks


def test_the_trace_says_why_a_filter_missed(
    live: LiveServer, corpus: dict[Path, dict[str, Any]]
) -> None:
    path = next(path for path in CLOUD_FILES if path.parent.name == "pullrequest.created")
    shown = hookd_json(live, "show", corpus[path]["id"])
    reasons = {entry["hook"]: entry["reason"] for entry in shown["trace"]}
    assert reasons["cloud-closed-to-master"] == (
        "on.pull_request.types: action 'opened' is not one of [closed]"
    )
    push = next(path for path in CLOUD_FILES if path.parent.name == "repo.push")
    shown = hookd_json(live, "show", corpus[push]["id"])
    reasons = {entry["hook"]: entry["reason"] for entry in shown["trace"]}
    assert reasons["cloud-main"] == ("on.push.branches: 'name-of-branch' matches none of [main]")


# -- several refs in one push --------------------------------------------------------------


def cloud_change(name: str, old: str | None, new: str | None) -> dict[str, Any]:
    def side(commit: str | None) -> dict[str, Any] | None:
        if commit is None:
            return None
        return {"type": "branch", "name": name, "target": {"type": "commit", "hash": commit}}

    return {"old": side(old), "new": side(new), "created": old is None, "closed": new is None}


def cloud_push(*changes: dict[str, Any]) -> bytes:
    payload = {
        "actor": {"display_name": "Ada Example"},
        "repository": {"full_name": "hookd-example/website", "name": "website"},
        "push": {"changes": list(changes)},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def job_lines(live: LiveServer, jobs: list[dict[str, Any]]) -> dict[str, str]:
    """Each job's ref → what its command printed."""
    return {job["ref"]: hookd_output(live, "logs", job["id"]).decode().strip() for job in jobs}


def test_a_push_of_two_refs_runs_a_hook_once_for_the_one_that_matches(
    live: LiveServer,
) -> None:
    body = cloud_push(cloud_change("dev", A, B), cloud_change("main", C, D))
    answer = accept_bitbucket(live, cloud_request("repo:push", body))
    assert answer["hooks"] == ["cloud-main"]
    jobs = wait_finished(live, answer["id"])
    assert [(job["hook"], job["ref"], job["status"]) for job in jobs] == [
        ("cloud-main", "refs/heads/main", "succeeded")
    ]
    assert job_lines(live, jobs) == {
        "refs/heads/main": f"ref=refs/heads/main before={C} sha={D} "
        f"template=refs/heads/main after={D}"
    }
    trace = {entry["hook"]: entry for entry in hookd_json(live, "show", answer["id"])["trace"]}
    assert trace["cloud-main"]["matched"] is True
    assert trace["cloud-main"]["refs"] == ["refs/heads/main"]
    assert trace["cloud-main"]["reason"] == "matched on.push for refs/heads/main"
    assert trace["cloud-releases"]["matched"] is False
    assert trace["cloud-releases"]["refs"] == []
    assert trace["cloud-releases"]["reason"] == (
        "refs/heads/dev: on.push.branches: 'dev' matches none of [release/**]; "
        "refs/heads/main: on.push.branches: 'main' matches none of [release/**]"
    )


def test_a_push_of_two_matching_refs_runs_the_hook_once_for_each(live: LiveServer) -> None:
    body = cloud_push(
        cloud_change("release/1.0", A, B),
        cloud_change("feature/x", None, C),
        cloud_change("release/2.0", None, E),
    )
    answer = accept_bitbucket(live, cloud_request("repo:push", body))
    assert answer["hooks"] == ["cloud-releases", "cloud-releases"]
    jobs = wait_finished(live, answer["id"], count=2)
    assert sorted(job["ref"] for job in jobs) == [
        "refs/heads/release/1.0",
        "refs/heads/release/2.0",
    ]
    assert all(job["status"] == "succeeded" for job in jobs)
    assert job_lines(live, jobs) == {
        "refs/heads/release/1.0": f"ref=refs/heads/release/1.0 before={A} sha={B} "
        f"template=refs/heads/release/1.0 after={B}",
        "refs/heads/release/2.0": f"ref=refs/heads/release/2.0 before={ZERO} sha={E} "
        f"template=refs/heads/release/2.0 after={E}",
    }
    row = stored(live, answer["id"])
    assert (row["ref"], row["sha"]) == ("refs/heads/release/1.0", B)
    detail = httpx.get(f"{live.url}/api/deliveries/{answer['id']}", timeout=10).json()
    (releases,) = (entry for entry in detail["trace"] if entry["hook"] == "cloud-releases")
    assert releases["refs"] == ["refs/heads/release/1.0", "refs/heads/release/2.0"]
    api_jobs = [
        httpx.get(f"{live.url}/api/jobs/{job}", timeout=10).json() for job in detail["jobs"]
    ]
    assert sorted(job["ref"] for job in api_jobs) == [
        "refs/heads/release/1.0",
        "refs/heads/release/2.0",
    ]
    (main,) = (entry for entry in detail["trace"] if entry["hook"] == "cloud-main")
    assert "refs" in main and main["refs"] == []


def test_a_data_center_push_of_several_refs_runs_each_matching_one(live: LiveServer) -> None:
    payload = {
        "eventKey": "repo:refs_changed",
        "date": "2026-01-05T10:00:00+0100",
        "actor": {"name": "ada"},
        "repository": {"slug": "website", "project": {"key": "HOOKD"}},
        "changes": [
            {"ref": {"id": "refs/heads/main", "displayId": "main", "type": "BRANCH"},
             "refId": "refs/heads/main", "fromHash": A, "toHash": B, "type": "UPDATE"},
            {"ref": {"id": "refs/tags/v1", "displayId": "v1", "type": "TAG"},
             "refId": "refs/tags/v1", "fromHash": ZERO, "toHash": C, "type": "ADD"},
            {"ref": {"id": "refs/heads/feature/y", "displayId": "feature/y", "type": "BRANCH"},
             "refId": "refs/heads/feature/y", "fromHash": ZERO, "toHash": D, "type": "ADD"},
        ],
    }  # fmt: skip
    answer = accept_bitbucket(live, dc_request("repo:refs_changed", json.dumps(payload).encode()))
    assert sorted(answer["hooks"]) == ["dc-features", "dc-main"]
    jobs = wait_finished(live, answer["id"], count=2)
    assert {job["hook"]: job["ref"] for job in jobs} == {
        "dc-main": "refs/heads/main",
        "dc-features": "refs/heads/feature/y",
    }
    lines = job_lines(live, jobs)
    assert lines["refs/heads/feature/y"].startswith(
        f"ref=refs/heads/feature/y before={ZERO} sha={D}"
    )


def test_a_single_ref_push_runs_no_job_with_a_ref_of_its_own(live: LiveServer) -> None:
    body = cloud_push(cloud_change("main", A, E))
    answer = accept_bitbucket(live, cloud_request("repo:push", body))
    (job,) = wait_finished(live, answer["id"])
    assert job["ref"] is None
    assert hookd_output(live, "logs", job["id"]).decode().strip() == (
        f"ref=refs/heads/main before={A} sha={E} template=refs/heads/main after={E}"
    )
    trace = hookd_json(live, "show", answer["id"])["trace"]
    assert trace[0] == {"hook": "cloud-main", "matched": True, "reason": "matched on.push"}


# -- signatures ----------------------------------------------------------------------------


@pytest.mark.parametrize("forge", ["bitbucket", "bitbucket-server"])
@pytest.mark.parametrize(
    ("signature", "sentence"),
    [
        ("wrong", "The X-Hub-Signature signature does not match the body."),
        (None, "The X-Hub-Signature header is missing"),
        ("truncated", "The X-Hub-Signature header is malformed: expected sha256=<hex sha256>."),
        ("sha1", "The X-Hub-Signature header is malformed: expected sha256=<hex sha256>."),
    ],
)
def test_a_signature_hookd_cannot_accept_is_refused_with_401_and_a_sentence(
    live: LiveServer, forge: str, signature: str | None, sentence: str
) -> None:
    body = cloud_push(cloud_change("main", A, str(uuid.uuid4().hex) + "00000000"))
    make, secret = (
        (cloud_request, CLOUD_SECRET) if forge == "bitbucket" else (dc_request, DC_SECRET)
    )
    outgoing = make("repo:push" if forge == "bitbucket" else "repo:refs_changed", body)
    right = outgoing.headers.pop("X-Hub-Signature")
    if signature == "wrong":
        outgoing.headers["X-Hub-Signature"] = f"sha256={sign(b'not the secret', body)}"
    elif signature == "truncated":
        outgoing.headers["X-Hub-Signature"] = right[:-6]
    elif signature == "sha1":
        outgoing.headers["X-Hub-Signature"] = f"sha1={sign(secret.encode(), body, 'sha1')}"
    response = post(live, outgoing)
    assert response.status_code == 401, response.text
    assert sentence in response.text
    outgoing.headers["X-Hub-Signature"] = right
    accepted = accept_bitbucket(live, outgoing)
    assert accepted["status"] == ("queued" if accepted["hooks"] else "unmatched")


def test_data_center_diagnostics_ping_answers_pong(live: LiveServer) -> None:
    response = post(live, dc_request("diagnostics:ping", b'{"test":true}'))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pong"


@pytest.mark.parametrize("forge", ["bitbucket", "bitbucket-server"])
def test_an_endpoint_without_a_secret_is_refused_at_start(tmp_path: Path, forge: str) -> None:
    write_config(
        tmp_path,
        f"""
        server: {{port: 0, database: sqlite:///hookd.db}}
        endpoints:
          bb: {{forge: {forge}}}
        hooks: {{}}
        """,
    )
    ran = run_hookd("serve", "--config", str(tmp_path / "hookd.yaml"), cwd=tmp_path, check=False)
    assert ran.returncode != 0
    assert "has no secret: set secret or secret_file" in ran.stderr


# -- hookd send and hookd init ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "event", "hooks"),
    [
        ("bitbucket", "push", ["cloud-main"]),
        ("bitbucket", "repo:push", ["cloud-main"]),
        ("bitbucket", "pull_request", []),
        ("bitbucket-server", "push", ["dc-main"]),
        ("bitbucket-server", "pr:opened", []),
    ],
)
def test_hookd_send_delivers_a_signed_sample(
    live: LiveServer, endpoint: str, event: str, hooks: list[str]
) -> None:
    ran = live.hookd("send", event, "--endpoint", endpoint, "--url", f"{live.url}/hooks/{endpoint}")
    assert f"/hooks/{endpoint} -> 202" in ran.stdout
    answer = json.loads(ran.stdout.splitlines()[1])
    assert answer["hooks"] == hooks
    shown = hookd_json(live, "show", answer["id"])
    assert shown["forge_event"] in {
        "repo:push",
        "pullrequest:created",
        "repo:refs_changed",
        "pr:opened",
    }
    assert shown["repository"] in {"hookd-example/website", "HOOKD/website"}


@pytest.mark.parametrize("forge", ["bitbucket", "bitbucket-server"])
def test_hookd_init_writes_an_endpoint_for_the_forge(tmp_path: Path, forge: str) -> None:
    run_hookd("init", str(tmp_path), "--forge", forge, cwd=tmp_path)
    ran = run_hookd("check", "--config", str(tmp_path / "hookd.yaml"), cwd=tmp_path)
    assert "OK (1 endpoints, 1 hooks)" in ran.stdout
    text = (tmp_path / "hookd.yaml").read_text()
    assert f"  {forge}:" in text and f"forge: {forge} " in text
    assert f"/hooks/{forge}" in text
