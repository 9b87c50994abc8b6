"""`on:` filters and `if:` against a live server: the 202 answer's `hooks`, the trace stored
with the delivery (`hookd show --json`), and the dry run (`hookd match`) agree, with the
meaning GitHub Actions gives each filter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import deliveries
import pytest

from conftest import LiveServer, start_server, write_config

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
  gitlab:
    replay_window: 0
    forge: gitlab
    secret: gitlab-token-1
hooks:
  one-event:
    endpoint: github
    on: push
    run: "true"
  event-list:
    endpoint: github
    on: [push, create]
    run: "true"
  every-event:
    endpoint: github
    on: "*"
    run: "true"
  pr-types:
    endpoint: github
    on: {pull_request: {types: [opened, closed]}}
    run: "true"
  pr-default:
    endpoint: github
    on: pull_request
    run: "true"
  branches:
    endpoint: github
    on: {push: {branches: [main, "release/**", "!release/old"]}}
    run: "true"
  one-level:
    endpoint: github
    on: {push: {branches: ["feature/*"]}}
    run: "true"
  branches-ignore:
    endpoint: github
    on: {push: {branches-ignore: ["dev*", "tmp/**"]}}
    run: "true"
  tags:
    endpoint: github
    on: {push: {tags: ["v*", "!v0.*"]}}
    run: "true"
  tags-ignore:
    endpoint: github
    on: {push: {tags-ignore: ["*-rc*"]}}
    run: "true"
  paths:
    endpoint: github
    on: {push: {paths: ["site/**", "!site/drafts/**"]}}
    run: "true"
  top-level-md:
    endpoint: github
    on: {push: {paths: ["*.md"]}}
    run: "true"
  docs-md:
    endpoint: github
    on: {push: {paths: ["docs/**/*.md"]}}
    run: "true"
  paths-ignore:
    endpoint: github
    on: {push: {paths-ignore: ["docs/**"]}}
    run: "true"
  not-a-bot:
    endpoint: github
    on: push
    if: "sender.login != 'dependabot[bot]'"
    run: "true"
  missing-name:
    endpoint: github
    on: push
    if: "nonexistent.field == 'x'"
    run: "true"
  gl-push:
    endpoint: gitlab
    on: {push: {branches: [main]}}
    run: "true"
  gl-mr:
    endpoint: gitlab
    on: {pull_request: {types: [opened], branches: [main]}}
    run: "true"
"""

GITHUB_HOOKS = [
    "one-event", "event-list", "every-event", "pr-types", "pr-default", "branches", "one-level",
    "branches-ignore", "tags", "tags-ignore", "paths", "top-level-md", "docs-md", "paths-ignore",
    "not-a-bot", "missing-name",
]  # fmt: skip
GITLAB_HOOKS = ["gl-push", "gl-mr"]


def push(ref: str, files: tuple[str, ...] = (), sender: str = "octocat") -> dict[str, Any]:
    """A GitHub push payload; `files` are modified by its one commit (none: no commits)."""
    commits = [
        {"id": "c" * 40, "message": "change", "added": [], "modified": list(files), "removed": []}
    ]
    return {
        "ref": ref,
        "before": "b" * 40,
        "after": "c" * 40,
        "repository": {"full_name": "octo/site", "name": "site"},
        "sender": {"login": sender},
        "commits": commits if files else [],
    }


def pull_request(action: str, base: str = "main") -> dict[str, Any]:
    return {
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "base": {"ref": base},
            "head": {"ref": "topic", "sha": "d" * 40},
        },
        "repository": {"full_name": "octo/site"},
        "sender": {"login": "octocat"},
    }


def gitlab_push(ref: str) -> dict[str, Any]:
    kind = "tag_push" if ref.startswith("refs/tags/") else "push"
    return {
        "object_kind": kind,
        "ref": ref,
        "before": "b" * 40,
        "after": "c" * 40,
        "checkout_sha": "c" * 40,
        "project": {"path_with_namespace": "group/site", "git_http_url": "https://gl/x.git"},
        "commits": [{"id": "c" * 40, "added": ["README.md"], "modified": [], "removed": []}],
    }


def merge_request(action: str, target: str = "main", oldrev: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "iid": 3,
        "action": action,
        "target_branch": target,
        "source_branch": "topic",
        "last_commit": {"id": "e" * 40},
    }
    if oldrev:
        attributes["oldrev"] = oldrev
    return {
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "group/site"},
        "object_attributes": attributes,
    }


@dataclass(frozen=True)
class Case:
    """A delivery, the hook looked at, and whether and why that hook matched."""

    id: str
    hook: str
    matched: bool
    reason: str
    event: str = "push"
    payload: dict[str, Any] = field(default_factory=dict)
    gitlab: str | None = None  # the X-Gitlab-Event header; None for a GitHub delivery


BRANCHES = "[main, release/**, !release/old]"

CASES = [
    # event names: one, a list, and "*"
    Case("event-name", "one-event", True, "matched on.push", payload=push("refs/heads/main")),
    Case("event-name-other", "one-event", False, "on: event 'issues' is not one of [push]",
         event="issues", payload={"action": "opened", "issue": {"number": 1}}),
    Case("event-list", "event-list", True, "matched on.create", event="create",
         payload={"ref": "topic", "ref_type": "branch", "repository": {"full_name": "octo/site"}}),
    Case("event-list-other", "event-list", False, "on: event 'delete' is not one of [push, create]",
         event="delete", payload={"ref": "topic", "ref_type": "branch"}),
    Case("every-event", "every-event", True, "matched on: '*'", event="star",
         payload={"action": "created", "starred_at": "2024-01-01T00:00:00Z"}),
    # types, and GitHub's default types for pull_request
    Case("types", "pr-types", True, "matched on.pull_request", event="pull_request",
         payload=pull_request("opened")),
    Case("types-other", "pr-types", False,
         "on.pull_request.types: action 'edited' is not one of [opened, closed]",
         event="pull_request", payload=pull_request("edited")),
    Case("types-default", "pr-default", True, "matched on.pull_request", event="pull_request",
         payload=pull_request("synchronize")),
    Case("types-default-other", "pr-default", False,
         "on.pull_request.types: action 'closed' is not one of [opened, synchronize, reopened] "
         "(GitHub's default for pull_request)",
         event="pull_request", payload=pull_request("closed")),
    # branches, with ** and a ! exclusion
    Case("branches", "branches", True, "matched on.push", payload=push("refs/heads/main")),
    Case("branches-double-star", "branches", True, "matched on.push",
         payload=push("refs/heads/release/1.0/hotfix")),
    Case("branches-excluded", "branches", False,
         "on.push.branches: 'release/old' is excluded by '!release/old'",
         payload=push("refs/heads/release/old")),
    Case("branches-none", "branches", False, f"on.push.branches: 'dev' matches none of {BRANCHES}",
         payload=push("refs/heads/dev")),
    Case("branches-tag", "branches", False,
         "on.push.branches: 'refs/tags/v1.0' is a tag, not a branch",
         payload=push("refs/tags/v1.0")),
    # * stops at /, ** does not
    Case("single-star", "one-level", True, "matched on.push",
         payload=push("refs/heads/feature/login")),
    Case("single-star-deeper", "one-level", False,
         "on.push.branches: 'feature/login/ui' matches none of [feature/*]",
         payload=push("refs/heads/feature/login/ui")),
    # branches-ignore
    Case("branches-ignore", "branches-ignore", False,
         "on.push.branches-ignore: 'dev-1' is ignored by 'dev*'", payload=push("refs/heads/dev-1")),
    Case("branches-ignore-deep", "branches-ignore", False,
         "on.push.branches-ignore: 'tmp/a/b' is ignored by 'tmp/**'",
         payload=push("refs/heads/tmp/a/b")),
    Case("branches-ignore-other", "branches-ignore", True, "matched on.push",
         payload=push("refs/heads/main")),
    # tags, tags-ignore
    Case("tags", "tags", True, "matched on.push", payload=push("refs/tags/v1.2.0")),
    Case("tags-excluded", "tags", False, "on.push.tags: 'v0.9' is excluded by '!v0.*'",
         payload=push("refs/tags/v0.9")),
    Case("tags-none", "tags", False, "on.push.tags: 'release-1' matches none of [v*, !v0.*]",
         payload=push("refs/tags/release-1")),
    Case("tags-branch", "tags", False, "on.push.tags: 'refs/heads/main' is a branch, not a tag",
         payload=push("refs/heads/main")),
    Case("tags-ignore", "tags-ignore", False,
         "on.push.tags-ignore: 'v2.0-rc1' is ignored by '*-rc*'",
         payload=push("refs/tags/v2.0-rc1")),
    Case("tags-ignore-other", "tags-ignore", True, "matched on.push",
         payload=push("refs/tags/v2.0")),
    # paths, with ** and a ! exclusion; not checked for tags
    Case("paths", "paths", True, "matched on.push",
         payload=push("refs/heads/main", ("site/index.html",))),
    Case("paths-excluded", "paths", False,
         "on.push.paths: no changed file matches [site/**, !site/drafts/**]",
         payload=push("refs/heads/main", ("site/drafts/post.md",))),
    Case("paths-one-of-many", "paths", True, "matched on.push",
         payload=push("refs/heads/main", ("site/drafts/post.md", "site/about.html"))),
    Case("paths-no-commits", "paths", False, "on.push.paths: the delivery lists no changed files",
         payload=push("refs/heads/main")),
    Case("paths-on-tag", "paths", True, "matched on.push", payload=push("refs/tags/v3")),
    Case("paths-single-star", "top-level-md", True, "matched on.push",
         payload=push("refs/heads/main", ("README.md",))),
    Case("paths-single-star-deeper", "top-level-md", False,
         "on.push.paths: no changed file matches [*.md]",
         payload=push("refs/heads/main", ("docs/README.md",))),
    Case("paths-double-star-no-folder", "docs-md", True, "matched on.push",
         payload=push("refs/heads/main", ("docs/README.md",))),
    Case("paths-double-star-deep", "docs-md", True, "matched on.push",
         payload=push("refs/heads/main", ("docs/a/b/c.md",))),
    Case("paths-double-star-other", "docs-md", False,
         "on.push.paths: no changed file matches [docs/**/*.md]",
         payload=push("refs/heads/main", ("docs/a/b.txt",))),
    Case("paths-ignore", "paths-ignore", False,
         "on.push.paths-ignore: every changed file matches [docs/**]",
         payload=push("refs/heads/main", ("docs/a.md", "docs/b/c.md"))),
    Case("paths-ignore-some", "paths-ignore", True, "matched on.push",
         payload=push("refs/heads/main", ("docs/a.md", "src/app.py"))),
    # if:
    Case("if-true", "not-a-bot", True, "matched on.push and if: sender.login != 'dependabot[bot]'",
         payload=push("refs/heads/main")),
    Case("if-false", "not-a-bot", False, "if: sender.login != 'dependabot[bot]' is false",
         payload=push("refs/heads/main", sender="dependabot[bot]")),
    Case("if-missing-name", "missing-name", False,
         "if: expression \"nonexistent.field == 'x'\": 'nonexistent' is undefined",
         payload=push("refs/heads/main")),
    # GitLab events under GitHub's names
    Case("gitlab-push", "gl-push", True, "matched on.push", gitlab="Push Hook",
         payload=gitlab_push("refs/heads/main")),
    Case("gitlab-push-other", "gl-push", False, "on.push.branches: 'dev' matches none of [main]",
         gitlab="Push Hook", payload=gitlab_push("refs/heads/dev")),
    Case("gitlab-tag-push", "gl-push", False,
         "on.push.branches: 'refs/tags/v1' is a tag, not a branch",
         gitlab="Tag Push Hook", payload=gitlab_push("refs/tags/v1")),
    Case("gitlab-merge-request", "gl-mr", True, "matched on.pull_request",
         gitlab="Merge Request Hook", payload=merge_request("open")),
    Case("gitlab-merge-request-update", "gl-mr", False,
         "on.pull_request.types: action 'synchronize' is not one of [opened]",
         gitlab="Merge Request Hook", payload=merge_request("update", oldrev="f" * 40)),
    Case("gitlab-merge-request-target", "gl-mr", False,
         "on.pull_request.branches: 'dev' matches none of [main]",
         gitlab="Merge Request Hook", payload=merge_request("open", target="dev")),
]  # fmt: skip


@dataclass(frozen=True)
class Sent:
    answer: dict[str, Any]
    shown: dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("filters")
    write_config(folder, CONFIG)
    live = start_server(folder, "--workers", "0")  # only the rules matter here
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def sent(server: LiveServer) -> dict[str, Sent]:
    """Every case delivered once; then each stored delivery read back with `hookd show`."""
    outgoing = [
        deliveries.gitlab(case.gitlab, case.payload)
        if case.gitlab
        else deliveries.github(case.event, case.payload)
        for case in CASES
    ]
    answers = dict(zip([case.id for case in CASES], deliveries.accept_all(server, outgoing)))
    shown = {
        name: deliveries.hookd_json(server, "show", answer["id"])
        for name, answer in answers.items()
    }
    return {name: Sent(answers[name], shown[name]) for name in answers}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_filter_decides_and_the_trace_says_why(case: Case, sent: dict[str, Sent]) -> None:
    answer, shown = sent[case.id].answer, sent[case.id].shown
    assert answer["status"] == ("queued" if answer["hooks"] else "unmatched"), answer
    assert (case.hook in answer["hooks"]) is case.matched, answer
    assert {"hook": case.hook, "matched": case.matched, "reason": case.reason} in shown["trace"]
    # The trace covers every hook of the endpoint, in the order written, and agrees with
    # the answer and the stored record about which ran.
    assert [entry["hook"] for entry in shown["trace"]] == (
        GITLAB_HOOKS if case.gitlab else GITHUB_HOOKS
    )
    matched = [entry["hook"] for entry in shown["trace"] if entry["matched"]]
    assert matched == answer["hooks"] == shown["hooks"]
    assert len(shown["jobs"]) == len(matched)
    assert shown["event"] == ("pull_request" if "Merge" in (case.gitlab or "") else case.event)


def test_push_runs_exactly_the_hooks_whose_filters_hold(sent: dict[str, Sent]) -> None:
    answer = sent["paths-single-star"].answer  # main, README.md changed, sender octocat
    assert answer["event"] == "push"
    assert answer["hooks"] == [
        "one-event", "event-list", "every-event", "branches", "branches-ignore", "top-level-md",
        "paths-ignore", "not-a-bot",
    ]  # fmt: skip


def test_gitlab_events_are_matched_under_githubs_names(sent: dict[str, Sent]) -> None:
    assert sent["gitlab-push"].answer["event"] == "push"
    assert sent["gitlab-push"].answer["hooks"] == ["gl-push"]
    assert sent["gitlab-merge-request"].shown["forge_event"] == "Merge Request Hook"
    assert sent["gitlab-merge-request"].shown["action"] == "opened"
    assert sent["gitlab-merge-request"].answer["hooks"] == ["gl-mr"]


def test_match_on_a_stored_delivery_gives_the_stored_trace(
    server: LiveServer, sent: dict[str, Sent]
) -> None:
    stored = sent["branches-excluded"]
    dry = deliveries.hookd_json(server, "match", stored.answer["id"])
    assert dry["trace"] == stored.shown["trace"]
    assert dry["hooks"] == stored.answer["hooks"]
    text = server.hookd("match", stored.answer["id"]).stdout
    assert "branches: would not run: on.push.branches: 'release/old' is excluded by " in text
    assert "one-event: would run: matched on.push\n" in text
    assert "missing-name: would not run: if: expression" in text


def test_match_on_a_payload_file_runs_nothing(server: LiveServer, tmp_path: Path) -> None:
    payload = tmp_path / "push.json"
    payload.write_text(json.dumps(push("refs/heads/release/2.0", ("site/index.html",))))
    before = deliveries.list_jobs(server)
    text = server.hookd("match", "--payload", str(payload), "--event", "push").stdout
    lines = dict(line.split(": ", 1) for line in text.splitlines())
    assert lines["branches"] == "would run: matched on.push"
    assert lines["paths"] == "would run: matched on.push"
    assert (
        lines["tags"]
        == "would not run: on.push.tags: 'refs/heads/release/2.0' is a branch, not a tag"
    )
    assert lines["pr-types"] == "would not run: on: event 'push' is not one of [pull_request]"
    assert lines["one-level"] == (
        "would not run: on.push.branches: 'release/2.0' matches none of [feature/*]"
    )
    assert set(lines) == set(GITHUB_HOOKS)
    assert deliveries.list_jobs(server) == before  # a dry run records and runs nothing


def test_match_on_a_gitlab_payload_file(server: LiveServer, tmp_path: Path) -> None:
    payload = tmp_path / "mr.json"
    payload.write_text(json.dumps(merge_request("open")))
    dry = deliveries.hookd_json(
        server,
        "match",
        "--payload",
        str(payload),
        "--event",
        "pull_request",
        "--endpoint",
        "gitlab",
    )
    assert dry["hooks"] == ["gl-mr"]
    unmatched = "on: event 'pull_request' is not one of [push]"
    assert dry["trace"] == [
        {"hook": "gl-push", "matched": False, "reason": unmatched},
        {"hook": "gl-mr", "matched": True, "reason": "matched on.pull_request"},
    ]
