"""`gitlab:` API steps through a real `hookd serve` and its workers, against the fake GitLab
on loopback: the exact method, path, token header and JSON body of every step, templates
in fields, and the result URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_forge
import pytest
from fake_forge import GITLAB_SECRET, GITLAB_TOKEN, FakeForge, send_gitlab

from conftest import LiveServer, start_server, write_config
from hookd.config import load_config
from hookd.errors import ConfigError

SHA = "d4e5f6a" + "0" * 33
PROJECT = {
    "id": 15,
    "path_with_namespace": "group/site",
    "web_url": "https://gitlab.example/group/site",
}
MR_URL = "https://gitlab.example/group/site/-/merge_requests/3"

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
  workers: 2
endpoints:
  gitlab:
    forge: gitlab
    secret: {secret}
    api_url: {url}/api/v4
    api_token: {token}
hooks:
  open-mr:
    on: {{push: {{branches: ["feature/**"]}}}}
    gitlab:
      merge_request:
        target: main
        title: "Merge {{{{ ref | branch }}}}"
        description: "Pushed by {{{{ user_username }}}}"
        remove_source_branch: true
  auto-merge:
    on: {{push: {{branches: ["auto/**"]}}}}
    retries: 1
    gitlab:
      merge_request: {{target: main}}
      accept: {{sha: "{{{{ checkout_sha }}}}", squash: true}}
  thank:
    on: {{pull_request: {{types: [opened]}}}}
    gitlab:
      note: "Thanks @{{{{ user.username }}}} for !{{{{ object_attributes.iid }}}}"
  triage:
    on: issues
    gitlab:
      note: "Triaging #{{{{ object_attributes.iid }}}}"
  deployed:
    on: {{push: {{branches: [main]}}}}
    gitlab:
      status:
        state: success
        name: hookd/deploy
        description: "deployed {{{{ checkout_sha | short }}}}"
        target_url: "https://deploy.example/{{{{ checkout_sha }}}}"
        ref: "{{{{ ref | branch }}}}"
"""


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    with FakeForge() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(forge: FakeForge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("gitlab-steps")
    write_config(folder, CONFIG.format(secret=GITLAB_SECRET, url=forge.url, token=GITLAB_TOKEN))
    live = start_server(folder)
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def clean(forge: FakeForge) -> None:
    forge.reset()


def push(ref: str) -> dict[str, Any]:
    return {"object_kind": "push", "ref": ref, "before": "0" * 40, "after": SHA,
            "checkout_sha": SHA, "user_username": "mona", "project_id": 15, "project": PROJECT,
            "commits": []}  # fmt: skip


def merge_request_opened() -> dict[str, Any]:
    attributes = {"iid": 3, "action": "open", "source_branch": "topic", "target_branch": "main",
                  "url": MR_URL, "last_commit": {"id": SHA}}  # fmt: skip
    return {"object_kind": "merge_request", "user": {"username": "mona"}, "project": PROJECT,
            "object_attributes": attributes}  # fmt: skip


def test_push_to_feature_branch_opens_a_merge_request(server: LiveServer, forge: FakeForge) -> None:
    delivery = send_gitlab(server, "Push Hook", push("refs/heads/feature/login"))
    job = fake_forge.finished_job(server, delivery)
    search, create = forge.requests
    assert (search.method, search.path) == ("GET", "/api/v4/projects/15/merge_requests")
    assert search.query == {
        "state": "opened",
        "source_branch": "feature/login",
        "target_branch": "main",
    }
    assert (create.method, create.path) == ("POST", "/api/v4/projects/15/merge_requests")
    assert create.body == {
        "source_branch": "feature/login",
        "target_branch": "main",
        "title": "Merge feature/login",
        "description": "Pushed by mona",
        "remove_source_branch": True,
    }
    assert {r.headers["private-token"] for r in forge.requests} == {GITLAB_TOKEN}
    assert all(r.headers["user-agent"].startswith("hookd/") for r in forge.requests)
    assert job["status"] == "succeeded"
    assert job["result"].startswith("https://gitlab.example/group/site/-/merge_requests/")
    [listed] = fake_forge.jobs_of(server, delivery)
    assert listed["result"] == job["result"]


def test_an_open_merge_request_is_found_and_set_to_merge_when_the_pipeline_succeeds(
    server: LiveServer, forge: FakeForge
) -> None:
    url = "https://gitlab.example/group/site/-/merge_requests/8"
    forge.open_merge_requests.append(
        {"iid": 8, "source_branch": "auto/deps", "target_branch": "main", "web_url": url}
    )
    delivery = send_gitlab(server, "Push Hook", push("refs/heads/auto/deps"))
    job = fake_forge.finished_job(server, delivery)
    assert [(r.method, r.path) for r in forge.requests] == [
        ("GET", "/api/v4/projects/15/merge_requests"),
        ("PUT", "/api/v4/projects/15/merge_requests/8/merge"),
    ]
    assert forge.requests[1].body == {
        "sha": SHA,
        "squash": True,
        "auto_merge": True,
        "merge_when_pipeline_succeeds": True,
    }
    assert job["status"] == "succeeded"
    assert job["result"].splitlines() == [url, url]


def test_accept_right_after_opening_targets_the_new_merge_request(
    server: LiveServer, forge: FakeForge
) -> None:
    delivery = send_gitlab(server, "Push Hook", push("refs/heads/auto/new"))
    job = fake_forge.finished_job(server, delivery)
    created = forge.matching("POST", "/merge_requests$")[0]
    assert created.body == {
        "source_branch": "auto/new",
        "target_branch": "main",
        "title": "auto/new",
    }
    opened_url = job["result"].splitlines()[0]
    iid = opened_url.rsplit("/", 1)[1]
    [merge] = forge.matching("PUT", "/merge$")
    assert merge.path == f"/api/v4/projects/15/merge_requests/{iid}/merge"


def test_accept_is_tried_again_while_gitlab_says_not_mergeable_yet(
    server: LiveServer, forge: FakeForge
) -> None:
    forge.script("PUT", "/merge$", 405, body={"message": "405 Method Not Allowed"})
    delivery = send_gitlab(server, "Push Hook", push("refs/heads/auto/early"))
    job = fake_forge.finished_job(server, delivery)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert len(forge.matching("PUT", "/merge$")) == 2
    assert len(forge.matching("POST", "/merge_requests$")) == 1  # found open the second time
    assert "answered 405: 405 Method Not Allowed" in fake_forge.stored_log(server, job["id"])


def test_note_on_a_new_merge_request(server: LiveServer, forge: FakeForge) -> None:
    delivery = send_gitlab(server, "Merge Request Hook", merge_request_opened())
    job = fake_forge.finished_job(server, delivery)
    [note] = forge.requests
    assert (note.method, note.path) == ("POST", "/api/v4/projects/15/merge_requests/3/notes")
    assert note.body == {"body": "Thanks @mona for !3"}
    assert note.headers["private-token"] == GITLAB_TOKEN
    assert job["status"] == "succeeded"
    assert job["result"].startswith(f"{MR_URL}#note_")


def test_note_on_an_issue(server: LiveServer, forge: FakeForge) -> None:
    attributes = {"iid": 9, "action": "open", "url": f"{PROJECT['web_url']}/-/issues/9"}
    issue = {"object_kind": "issue", "user": {"username": "mona"}, "project": PROJECT,
             "object_attributes": attributes}  # fmt: skip
    delivery = send_gitlab(server, "Issue Hook", issue)
    job = fake_forge.finished_job(server, delivery)
    [note] = forge.requests
    assert (note.method, note.path) == ("POST", "/api/v4/projects/15/issues/9/notes")
    assert note.body == {"body": "Triaging #9"}
    assert job["result"].startswith("https://gitlab.example/group/site/-/issues/9#note_")


def test_commit_status_after_deploying(server: LiveServer, forge: FakeForge) -> None:
    delivery = send_gitlab(server, "Push Hook", push("refs/heads/main"))
    job = fake_forge.finished_job(server, delivery)
    [status] = forge.requests
    assert (status.method, status.path) == ("POST", f"/api/v4/projects/15/statuses/{SHA}")
    assert status.body == {
        "state": "success",
        "name": "hookd/deploy",
        "description": "deployed d4e5f6a",
        "target_url": f"https://deploy.example/{SHA}",
        "ref": "main",
    }
    assert job["status"] == "succeeded"
    assert job["result"] == "status success hookd/deploy on d4e5f6a"


def test_check_refuses_gitlab_steps_without_a_token_or_gitlab_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path,
        """
        endpoints:
          gitlab: {forge: gitlab, secret: s}
          github: {secret: s, api_token: t}
        hooks:
          a:
            endpoint: gitlab
            on: push
            gitlab: {note: hi, accept: {merge_request: x, squash: maybe}}
          b:
            endpoint: github
            on: push
            gitlab: {status: {state: succeeded}}
        """,
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(Path("hookd.yaml"), {})
    assert raised.value.problems == [
        "hookd.yaml:9: hooks.a.gitlab.accept.merge_request: expected a number or a template, "
        "got 'x'",
        "hookd.yaml:9: hooks.a.gitlab.accept.squash: Input should be a valid boolean, "
        "unable to interpret input",
        "hookd.yaml:9: hooks.a.gitlab: endpoint 'gitlab' needs api_token for API steps",
        "hookd.yaml:13: hooks.b.gitlab.status.state: 'succeeded' is not one of pending, "
        "running, success, failed, canceled, skipped",
        "hookd.yaml:13: hooks.b.gitlab: endpoint 'github' is a github endpoint: give it the "
        "gitlab api_url",
    ]
