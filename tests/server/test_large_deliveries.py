"""Deliveries over 1 MiB are scanned for the parts their endpoint's rules read instead of
parsed whole (core.forges.read_payload). Whatever a payload holds, the delivery's facts and
every hook's trace and job must come out as from the whole payload: checked here on every
corpus payload with the scan forced, and then against a live server with large bodies."""

from __future__ import annotations

import hashlib
import json
import signal
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import deliveries
import pytest
from test_corpus_deliveries import ALL_FILES, name, request_for
from test_corpus_deliveries import CONFIG as CORPUS_CONFIG

from conftest import CORPUS, SECRET, LiveServer, start_server, write_config
from hookd.config import Config, load_config
from hookd.core import forges
from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.payload_reads import Reads
from hookd.core.signatures import sign
from hookd.intake import plan

# Rules reading the payload only through `on:` filters: what hookd reads itself shows.
FILTER_RULES = [
    "    on: {push: {branches: [main, 'release/**'], paths: ['**.md', 'src/**']}}",
    "    on: {push: {tags: ['v*']}}",
    "    on: {create: {branches: ['**']}, delete: {tags: ['v*']}}",
    "    on: {pull_request: {types: [opened, synchronize, closed], branches: [main]}}",
]
# Rules reading the payload every way `if:` and templates can: names, `payload`, methods,
# filters, loops, computed keys, and concurrency groups.
TEMPLATE_RULES = [
    "    on: '*'\n    if: repository.owner.login != 'nobody' and sender.login is defined",
    "    on: '*'\n    if: head_commit.message.startswith('Merge')",
    "    on: '*'\n    if: commits | length > 1",
    "    on: '*'\n    if: payload.pull_request.labels | map(attribute='name') | list",
    "    on: '*'\n    if: object_attributes.state == 'opened' and user.username",
    "    on: '*'\n    if: payload['repository'][hookd.event] is not defined",
    "    on: [issues, issue_comment]\n    if: issue.user.login == comment.user.login",
    "    on: '*'\n    concurrency: {group: '{{ repository.full_name }}/{{ ref }}'}",
    "    on: push\n    concurrency:\n"
    "      group: '{% for c in commits %}{{ c.author.name }}{% endfor %}'",
    "    on: release\n    if: release.assets[0].name is defined",
]


def config_text(rules: list[str]) -> str:
    """The corpus test's endpoints (request_for sends to them), each with a hook per rule."""
    hooks = "".join(
        f"  {endpoint}-{index}:\n    endpoint: {endpoint}\n{rule}\n    run: ['true']\n"
        for endpoint in ("github", "ghes", "gitlab", "gitea")
        for index, rule in enumerate(rules)
        # GitLab sends no create or delete event: `hookd check` refuses hooks waiting for one.
        if not (endpoint == "gitlab" and "{create:" in rule)
    )
    return CORPUS_CONFIG[: CORPUS_CONFIG.index("hooks:")] + "hooks:\n" + hooks


@pytest.fixture(scope="module", params=["filters", "templates"])
def config(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Config:
    rules = FILTER_RULES if request.param == "filters" else FILTER_RULES + TEMPLATE_RULES
    directory = tmp_path_factory.mktemp("large")
    return load_config(write_config(directory, config_text(rules)), {})


def receive(
    config: Config, endpoint: str, headers: dict[str, str], body: bytes, reads: Reads | None
) -> Delivery | Rejection:
    spec = config.specs[endpoint]
    reception = forges.begin_delivery(
        spec if reads is None else replace(spec, reads=reads), Headers(headers.items()), 0.0
    )
    assert not isinstance(reception, Rejection)
    reception.update(body)
    return reception.finish(body)


def assert_decides_as_whole(
    config: Config, endpoint: str, headers: dict[str, str], body: bytes
) -> Delivery:
    """Receive `body` parsed whole and scanned; the facts and the plan must be the same.
    Returns the scanned delivery."""
    whole = receive(config, endpoint, headers, body, Reads.everything())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(forges, "PARTIAL_ABOVE", 0)
        scanned = receive(config, endpoint, headers, body, None)
    assert isinstance(whole, Delivery) and isinstance(scanned, Delivery)
    facts = ("event", "action", "delivery_id", "repository", "ref", "sha")
    assert [getattr(scanned, fact) for fact in facts] == [getattr(whole, fact) for fact in facts]
    assert plan(config, scanned) == plan(config, whole)
    assert len(json.dumps(scanned.payload)) <= len(json.dumps(whole.payload))
    return scanned


@pytest.mark.parametrize("path", ALL_FILES, ids=name)
def test_a_scanned_payload_decides_as_the_whole_one(config: Config, path: Path) -> None:
    endpoint, headers, _ = request_for(path, str(uuid.uuid4()))
    assert_decides_as_whole(config, endpoint, headers, path.read_bytes())


# Payloads where a path hookd reads itself decides a fact or a filter, and the corpus has
# none: a GitLab merge request updated with new commits (`oldrev`), a GitLab push whose
# `after` is empty (`checkout_sha`), GitLab's older `repository.path_with_namespace`, and
# changed files listed only as modified, only as removed, only as added.
HOOKD_READS_CASES = [
    deliveries.gitlab(
        "Merge Request Hook",
        {
            "object_kind": "merge_request",
            "object_attributes": {
                "action": "update", "oldrev": "0a1b", "target_branch": "main",
                "last_commit": {"id": "c0ffee"},
            },
            "project": {"path_with_namespace": "group/project"},
        },
    ),
    deliveries.gitlab(
        "Push Hook",
        {
            "object_kind": "push", "ref": "refs/heads/main", "after": "", "checkout_sha": "c5",
            "repository": {"path_with_namespace": "group/legacy"},
            "commits": [{"added": [], "modified": ["src/app.py"], "removed": []}],
        },
    ),
    *(
        deliveries.github(
            "push",
            {
                "ref": "refs/heads/main", "after": "a1", "repository": {"full_name": "o/r"},
                "commits": [{"added": [], "modified": [], "removed": [], key: ["docs/a.md"]}],
            },
        )
        for key in ("removed", "added")
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "outgoing", HOOKD_READS_CASES, ids=["oldrev", "checkout_sha", "removed", "added"]
)
def test_a_scanned_payload_decides_as_the_whole_one_on_what_hookd_reads(
    config: Config, outgoing: deliveries.Outgoing
) -> None:
    endpoint = outgoing.path.removeprefix("/hooks/")
    scanned = assert_decides_as_whole(config, endpoint, outgoing.headers, outgoing.body)
    assert plan(config, scanned).jobs, "the case should match a hook"


def test_a_scanned_payload_holds_only_what_the_rules_read(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, config_text(FILTER_RULES + TEMPLATE_RULES)), {})
    path = CORPUS / "github" / "push" / "payload.json"
    endpoint, headers, _ = request_for(path, str(uuid.uuid4()))
    scanned = assert_decides_as_whole(config, endpoint, headers, path.read_bytes())
    whole = json.loads(path.read_bytes())
    # `before` is read since hookd gives it to templates and jobs (hookd.before).
    assert {"pusher", "compare", "forced"} <= set(whole)
    assert not {"pusher", "compare", "forced"} & set(scanned.payload)
    assert scanned.payload["sender"] == {"login": whole["sender"]["login"]}
    assert scanned.payload["repository"] == whole["repository"]  # read with a computed key


LIVE_CONFIG = r"""
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  deploy:
    on: {push: {branches: [main]}}
    if: head_commit.message != 'skip'
    env: {PUSHER: "{{ pusher.name }}"}
    cwd: "/{{ 'tmp' if head_commit.timestamp else 'nowhere' }}"
    run: >-
      sh -c 'sha256sum < "$HOOKD_PAYLOAD" && echo "$1 $PUSHER $PWD $HOOKD_REPOSITORY"'
      sh "{{ head_commit.id }}"
"""

# Big enough that the body is scanned, not parsed whole.
FILLER = "é" * (forges.PARTIAL_ABOVE // 2 + 1000)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("large-live")
    write_config(directory, LIVE_CONFIG)
    server = start_server(directory, "--workers", "1")
    yield server
    server.stop(signal.SIGKILL)


def large_push(**changes: Any) -> dict[str, Any]:
    payload = json.loads((CORPUS / "github" / "push" / "with-new-branch.payload.json").read_bytes())
    payload["ref"] = "refs/heads/main"
    payload["head_commit"]["description"] = FILLER
    return {**payload, **changes}


def test_a_large_delivery_runs_its_hook_with_the_whole_body(live: LiveServer) -> None:
    outgoing = deliveries.github("push", large_push())
    assert len(outgoing.body) > forges.PARTIAL_ABOVE
    answer = deliveries.accept(live, outgoing)
    assert answer["hooks"] == ["deploy"]
    (job,) = deliveries.wait_finished(live, answer["id"])
    assert job["status"] == "succeeded", job
    payload = large_push()
    head, repository = payload["head_commit"]["id"], payload["repository"]["full_name"]
    digest = hashlib.sha256(outgoing.body).hexdigest()
    output = deliveries.hookd_output(live, "logs", job["id"]).decode()
    assert output == f"{digest}  -\n{head} {payload['pusher']['name']} /tmp {repository}\n"
    shown = deliveries.hookd_json(live, "show", answer["id"])
    assert shown["payload"] == outgoing.body.decode()


def test_a_large_delivery_is_matched_on_what_its_rules_read(live: LiveServer) -> None:
    skipped = deliveries.accept(
        live, deliveries.github("push", large_push(head_commit={"message": "skip", "x": FILLER}))
    )
    assert skipped["hooks"] == []
    (trace,) = deliveries.hookd_json(live, "show", skipped["id"])["trace"]
    assert trace == {
        "hook": "deploy",
        "matched": False,
        "reason": "if: head_commit.message != 'skip' is false",
    }
    other = deliveries.accept(live, deliveries.github("push", large_push(ref="refs/heads/dev")))
    assert other["hooks"] == []


@pytest.mark.parametrize(
    ("fault", "found"),
    [
        (b',"trailing":[1,2,],', "not valid JSON"),
        (b',"bad":"\\q",', "not valid JSON"),
        (b',"bad":"\xff\xfe",', "not valid JSON"),
        (b',"bad":tru,', "not valid JSON"),
    ],
)
def test_a_large_body_that_is_not_json_anywhere_is_refused(
    live: LiveServer, fault: bytes, found: str
) -> None:
    """The fault sits in a part no rule reads, so only the scan's own checks can find it;
    the server answers 400 with a sentence, records the refusal, and goes on serving."""
    good = deliveries.github("push", large_push())
    body = good.body.replace(b',"pusher":', fault + b'"pusher":', 1)
    assert body != good.body
    signed = deliveries.Outgoing(
        good.path,
        body,
        {**good.headers, "X-Hub-Signature-256": f"sha256={sign(SECRET.encode(), body)}"},
    )
    response = deliveries.post(live, signed)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith("the body is not valid JSON: ") and error.endswith("."), error
    assert found in error
    deliveries.accept(live, deliveries.github("push", {"ref": "refs/heads/dev"}))
