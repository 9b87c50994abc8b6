"""`paths:` decided on the files a forge's API lists, against a live server: a GitHub pull
request's files (paginated), a GitLab push whose commits the payload cut, a Gitea pull
request's files and a Bitbucket Cloud pull request's diffstat (each over two pages), from a
fake API on loopback; fetched once per delivery; GitHub Actions' rule, stated, when the
files cannot be determined; `hookd.changed_files` in a `run:` template."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import deliveries
import fake_files_api
import pytest

from conftest import LiveServer, start_server, write_config
from hookd.changed_files.apis import FILE_APIS
from hookd.changed_files.fetch import MAX_ANSWER_BYTES, MAX_NAME_BYTES, MAX_PAGES, fetch
from hookd.core.delivery import Delivery

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  gh:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
    api_url: "@URL@"
    api_token: ghp_files_token
  gh-bare:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
  gl:
    replay_window: 0
    forge: gitlab
    secret: gitlab-token-1
    api_url: "@URL@/api/v4"
    api_token: glpat-files-token
  gitea:
    replay_window: 0
    forge: gitea
    secret: gitea-secret
    api_url: "@URL@/api/v1"
    api_token: gitea-files-token
  bitbucket:
    replay_window: 0
    forge: bitbucket
    secret: bitbucket-secret
    api_url: "@URL@"
    api_token: bitbucket-files-token
hooks:
  bitbucket-docs:
    endpoint: bitbucket
    on: {pull_request: {paths: ["docs/**"]}}
    run: ["echo", "{{ hookd.changed_files | length }} files"]
  gitea-docs:
    endpoint: gitea
    on: {pull_request: {paths: ["docs/**"]}}
    run: ["echo", "{{ hookd.changed_files | length }} files"]
  gitea-src:
    endpoint: gitea
    on: {pull_request: {paths: ["src/**"]}}
    run: "true"
  pr-docs:
    endpoint: gh
    on: {pull_request: {paths: ["docs/**"]}}
    run:
      - echo
      - "{{ hookd.changed_files | length }} files; {{ hookd.changed_files[:1] | join('') }}"
  pr-src:
    endpoint: gh
    on: {pull_request: {paths: ["src/**"]}}
    run: "true"
  bare-docs:
    endpoint: gh-bare
    on: {pull_request: {paths: ["docs/**"]}}
    run: "true"
  gl-docs:
    endpoint: gl
    on: {push: {paths: ["docs/**"]}}
    run: ["echo", "{{ hookd.changed_files | join(',') }}"]
"""

RULE = "the hook runs, as GitHub Actions runs a workflow whose changed files cannot be determined"


@pytest.fixture(scope="module")
def api() -> Iterator[fake_files_api.FakeFilesApi]:
    with fake_files_api.FakeFilesApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, api: fake_files_api.FakeFilesApi
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("paths-files")
    write_config(directory, CONFIG.replace("@URL@", api.url))
    live = start_server(directory)
    yield live
    live.stop()


def pull_request(number: int) -> dict[str, Any]:
    return {
        "action": "opened",
        "number": number,
        "pull_request": {"number": number, "base": {"ref": "main"}, "head": {"sha": "a" * 40}},
        "repository": {"full_name": "octo/site", "name": "site"},
    }


def by_hook(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {job["hook"]: job for job in jobs}


def log(server: LiveServer, job: dict[str, Any]) -> str:
    return deliveries.hookd_output(server, "logs", job["id"]).decode()


def test_a_pull_requests_paths_are_decided_on_the_files_the_api_lists(
    server: LiveServer, api: fake_files_api.FakeFilesApi
) -> None:
    files = [f"lib/module{n:03}.py" for n in range(150)] + ["docs/guide.md"]
    api.pulls[("octo/site", 7)] = files
    answer = deliveries.send(server, "pull_request", pull_request(7), path="/hooks/gh")
    shown = deliveries.hookd_json(server, "show", answer["id"])
    pending = "decided when the job starts, on the files GitHub's API lists"
    assert {
        "hook": "pr-docs", "matched": True,
        "reason": f"matched on.pull_request; on.pull_request.paths: {pending}",
    } in shown["trace"]  # fmt: skip
    jobs = by_hook(deliveries.wait_finished(server, answer["id"], count=2))
    assert jobs["pr-docs"]["status"] == "succeeded"
    assert jobs["pr-docs"]["paths_filter"] == {
        "event": "pull_request", "key": "paths", "patterns": ["docs/**"]
    }  # fmt: skip
    assert "151 files; lib/module000.py" in log(server, jobs["pr-docs"])
    assert jobs["pr-src"]["status"] == "cancelled"
    reason = (
        "on.pull_request.paths: no changed file matches [src/**] "
        "(151 files from GitHub's pull request files API)"
    )
    assert jobs["pr-src"]["error"] == reason
    assert reason in log(server, jobs["pr-src"])
    # Two pending hooks, one delivery: its two pages (100 + 51 files) asked for once.
    assert api.count(r"/repos/octo/site/pulls/7/files") == 2
    pages = [target for target, _ in api.requests if "/pulls/7/files" in target]
    assert sorted(pages) == sorted(
        [f"/repos/octo/site/pulls/7/files?per_page=100{page}" for page in ("", "&page=2")]
    )


def test_a_gitlab_push_cut_at_20_commits_is_decided_on_the_compare(
    server: LiveServer, api: fake_files_api.FakeFilesApi
) -> None:
    commits = [
        {"id": f"{n:040x}", "added": [], "modified": ["src/app.py"], "removed": []}
        for n in range(20)
    ]
    before, after = "1" * 40, "2" * 40
    payload = {
        "object_kind": "push", "ref": "refs/heads/main", "before": before, "after": after,
        "checkout_sha": after, "project_id": 15,
        "project": {"id": 15, "path_with_namespace": "group/site"},
        "commits": commits, "total_commits_count": 25,
    }  # fmt: skip
    # The 21st commit, not in the payload, touched docs/.
    api.gitlab_compares[("15", f"{before}..{after}")] = ["src/app.py", "docs/intro.md"]
    answer = deliveries.accept(server, deliveries.gitlab("Push Hook", payload, path="/hooks/gl"))
    (job,) = deliveries.wait_finished(server, answer["id"])
    assert job["hook"] == "gl-docs"
    assert job["status"] == "succeeded"
    assert "src/app.py,docs/intro.md" in log(server, job)
    assert api.count(r"^/api/v4/projects/15/repository/compare") == 1


def test_without_credentials_the_trace_states_the_rule(server: LiveServer) -> None:
    answer = deliveries.send(server, "pull_request", pull_request(8), path="/hooks/gh-bare")
    shown = deliveries.hookd_json(server, "show", answer["id"])
    assert shown["trace"] == [{
        "hook": "bare-docs", "matched": True,
        "reason": "matched on.pull_request; on.pull_request.paths: the changed files cannot be "
        "determined (the payload does not list them and endpoint 'gh-bare' has no "
        f"api_token); {RULE}",
    }]  # fmt: skip
    (job,) = deliveries.wait_finished(server, answer["id"])
    assert job["status"] == "succeeded"
    assert job["paths_filter"] is None


def test_when_the_api_fails_the_hook_runs_by_the_rule(
    server: LiveServer, api: fake_files_api.FakeFilesApi
) -> None:
    api.fail(r"/pulls/9/files", 500)
    answer = deliveries.send(server, "pull_request", pull_request(9), path="/hooks/gh")
    jobs = by_hook(deliveries.wait_finished(server, answer["id"], count=2))
    assert {job["status"] for job in jobs.values()} == {"succeeded"}
    written = log(server, jobs["pr-src"])
    assert (
        "on.pull_request.paths: the changed files cannot be determined "
        "(GET /repos/octo/site/pulls/9/files answered 500: Server Error); " + RULE
    ) in written
    assert "ghp_files_token" not in written
    assert "ghp_files_token" not in server.log()


def test_a_diff_at_the_forges_cap_is_too_large_and_the_hook_runs(
    server: LiveServer, api: fake_files_api.FakeFilesApi
) -> None:
    api.pulls[("octo/site", 10)] = [f"lib/f{n:04}.py" for n in range(3000)]
    answer = deliveries.send(server, "pull_request", pull_request(10), path="/hooks/gh")
    jobs = by_hook(deliveries.wait_finished(server, answer["id"], count=2))
    assert jobs["pr-src"]["status"] == "succeeded"
    assert (
        "on.pull_request.paths: the changed files cannot be determined (the diff is too "
        "large: GitHub's pull request files API lists 3000 files or more, the most it "
        f"lists); {RULE}"
    ) in log(server, jobs["pr-src"])
    # Too large is an answer too: kept with the delivery, asked for once (30 pages of 100).
    assert api.count(r"/repos/octo/site/pulls/10/files") == 30


def gitea_pull_request(number: int) -> deliveries.Outgoing:
    """A Gitea pull_request delivery, signed as Gitea signs (hex HMAC-SHA256 of the body in
    `X-Gitea-Signature`)."""
    payload = {
        "action": "opened",
        "number": number,
        "pull_request": {"number": number, "base": {"ref": "main"}, "head": {"sha": "b" * 40}},
        "repository": {"full_name": "octo/site", "name": "site"},
    }
    body = deliveries.encode(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Gitea-Event": "pull_request",
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": hmac.new(b"gitea-secret", body, hashlib.sha256).hexdigest(),
    }
    return deliveries.Outgoing("/hooks/gitea", body, headers)


def test_a_gitea_pull_requests_paths_are_decided_on_the_files_its_api_lists(
    server: LiveServer, api: fake_files_api.FakeFilesApi
) -> None:
    # Two pages of Gitea's 50, the docs file on the second.
    api.gitea_pulls[("octo/site", 3)] = [f"lib/m{n:02}.go" for n in range(60)] + ["docs/a.md"]
    response = deliveries.post(server, gitea_pull_request(3))
    assert response.status_code == 202, response.text
    jobs = by_hook(deliveries.wait_finished(server, response.json()["id"], count=2))
    assert jobs["gitea-docs"]["status"] == "succeeded"
    assert "61 files" in log(server, jobs["gitea-docs"])
    assert jobs["gitea-src"]["status"] == "cancelled"
    assert jobs["gitea-src"]["error"] == (
        "on.pull_request.paths: no changed file matches [src/**] "
        "(61 files from the pull request files API)"
    )
    assert api.count(r"^/api/v1/repos/octo/site/pulls/3/files") == 2


def test_a_bitbucket_pull_requests_paths_are_decided_on_its_diffstat(
    server: LiveServer, api: fake_files_api.FakeFilesApi
) -> None:
    # Two diffstat pages of 500, the docs file on the second.
    api.bitbucket_pulls[("octo/site", 4)] = [f"lib/m{n:03}.py" for n in range(510)] + ["docs/b.md"]
    payload = {
        "pullrequest": {
            "id": 4, "destination": {"branch": {"name": "main"}},
            "source": {"branch": {"name": "feature"}, "commit": {"hash": "c" * 12}},
        },
        "repository": {"full_name": "octo/site", "name": "site"},
    }  # fmt: skip
    body = deliveries.encode(payload)
    signature = hmac.new(b"bitbucket-secret", body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Event-Key": "pullrequest:created",
        "X-Request-UUID": str(uuid.uuid4()),
        "X-Hub-Signature": f"sha256={signature}",
    }
    response = deliveries.post(server, deliveries.Outgoing("/hooks/bitbucket", body, headers))
    assert response.status_code == 202, response.text
    (job,) = deliveries.wait_finished(server, response.json()["id"])
    assert (job["hook"], job["status"]) == ("bitbucket-docs", "succeeded")
    assert "511 files" in log(server, job)
    assert api.count(r"^/2.0/repositories/octo/site/pullrequests/4/diffstat") == 2


@pytest.mark.parametrize(
    ("number", "name", "reason"),
    [
        # One answer past MAX_ANSWER_BYTES, read no further than that.
        (11, "docs/" + "a" * (9 * 1024 * 1024), f"answered more than {MAX_ANSWER_BYTES} bytes"),
        (12, "docs/" + "b" * MAX_NAME_BYTES, f"a file name longer than {MAX_NAME_BYTES} bytes"),
    ],
)
def test_an_answer_past_the_fetchs_bounds_is_undetermined_and_the_server_keeps_serving(
    server: LiveServer, api: fake_files_api.FakeFilesApi, number: int, name: str, reason: str
) -> None:
    api.pulls[("octo/site", number)] = [name]
    answer = deliveries.send(server, "pull_request", pull_request(number), path="/hooks/gh")
    jobs = by_hook(deliveries.wait_finished(server, answer["id"], count=2))
    assert {job["status"] for job in jobs.values()} == {"succeeded"}
    written = log(server, jobs["pr-src"])
    assert reason in written and RULE in written
    assert deliveries.client().get(server.url + "/healthz").status_code == 200


def test_a_listing_past_the_page_bound_is_too_large(api: fake_files_api.FakeFilesApi) -> None:
    api.pulls[("octo/site", 13)] = [f"lib/p{n:02}.py" for n in range(MAX_PAGES + 1)]
    payload = pull_request(13)
    delivery = Delivery(
        endpoint="gh", forge="github", event="pull_request", forge_event="pull_request",
        action="opened", delivery_id="d-13", content_type="application/json", headers=(),
        body=b"{}", payload=payload,
    )  # fmt: skip
    listing = FILE_APIS["github"].listing(delivery)
    assert not isinstance(listing, str)
    one_a_page = replace(listing, params={"per_page": "1"})
    headers = FILE_APIS["github"].headers(fake_files_api.GITHUB_TOKEN)
    fetched = asyncio.run(fetch(api.url, headers, one_a_page))
    assert fetched.files is None
    assert fetched.reason == (
        f"the diff is too large: GitHub's pull request files API lists more than {MAX_PAGES} pages"
    )
    assert api.count(r"/repos/octo/site/pulls/13/files") == MAX_PAGES
