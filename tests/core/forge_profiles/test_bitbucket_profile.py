"""Bitbucket Cloud's and Data Center's profiles: `X-Hub-Signature: sha256=<hex>` over the
body, `X-Event-Key` mapped onto GitHub's event names and actions, and the facts (repository,
refs, commits) read from Bitbucket's payload shapes, several refs in one push."""

from __future__ import annotations

import json
from typing import Any

import pytest
from profile_checks import verdict

from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.facts import ZERO_SHA, RefUpdate
from hookd.core.forge_profiles import FACT_READS, profile
from hookd.core.forge_profiles.bitbucket import ACTIONS as CLOUD_ACTIONS
from hookd.core.forge_profiles.bitbucket import BITBUCKET
from hookd.core.forge_profiles.bitbucket import EVENTS as CLOUD_EVENTS
from hookd.core.forge_profiles.bitbucket_server import ACTIONS as DC_ACTIONS
from hookd.core.forge_profiles.bitbucket_server import BITBUCKET_SERVER
from hookd.core.forge_profiles.bitbucket_server import EVENTS as DC_EVENTS
from hookd.core.forges import PARTIAL_ABOVE, read_payload
from hookd.core.payload_reads import Reads
from hookd.core.signatures import sign

SECRET = b"bitbucket-secret"
BODY = b'{"push":{"changes":[]}}'
CLOUD = EndpointSpec(name="bb", forge="bitbucket", secrets=(SECRET,))
DC = EndpointSpec(name="dc", forge="bitbucket-server", secrets=(SECRET,))
A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def delivery(forge: str, forge_event: str, payload: dict[str, Any]) -> Delivery:
    found = profile(forge)
    return Delivery(
        endpoint="e", forge=forge, event=found.event_name(forge_event, payload),
        forge_event=forge_event, action=found.action(forge_event, payload), delivery_id="d",
        content_type="application/json", headers=(), body=b"{}", payload=payload,
    )  # fmt: skip


def cloud_change(name: str, old: str | None, new: str | None, kind: str = "branch") -> Any:
    def side(commit: str | None) -> Any:
        return None if commit is None else {"type": kind, "name": name, "target": {"hash": commit}}

    return {"old": side(old), "new": side(new)}


def test_the_profiles_are_registered_under_their_forge_names() -> None:
    assert profile("bitbucket") is BITBUCKET
    assert profile("bitbucket-server") is BITBUCKET_SERVER


@pytest.mark.parametrize("spec", [CLOUD, DC], ids=["cloud", "dc"])
def test_what_it_signs_it_verifies(spec: EndpointSpec) -> None:
    headers = profile(spec.forge).sign(SECRET, BODY, SignatureScheme(), 0.0)
    assert headers == {"X-Hub-Signature": f"sha256={sign(SECRET, BODY)}"}
    assert verdict(spec, headers, BODY) is True
    assert verdict(spec, headers, BODY + b" ") is False
    assert verdict(spec, {"X-Hub-Signature": f"sha256={sign(b'other', BODY)}"}, BODY) is False


@pytest.mark.parametrize("spec", [CLOUD, DC], ids=["cloud", "dc"])
@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        (None, "The X-Hub-Signature header is missing"),
        (f"sha256={sign(SECRET, BODY)[:-2]}", "malformed: expected sha256=<hex sha256>"),
        (f"sha1={sign(SECRET, BODY, 'sha1')}", "malformed: expected sha256=<hex sha256>"),
        (sign(SECRET, BODY), "malformed: expected sha256=<hex sha256>"),
    ],
    ids=["missing", "truncated", "sha1", "bare"],
)
def test_a_signature_it_cannot_check_is_refused_with_a_sentence(
    spec: EndpointSpec, value: str | None, sentence: str
) -> None:
    headers = {} if value is None else {"X-Hub-Signature": value}
    found = verdict(spec, headers, BODY)
    assert isinstance(found, Rejection)
    assert found.status == 401
    assert sentence in found.reason


def test_the_event_key_and_the_delivery_id_are_read_from_each_forges_headers() -> None:
    cloud = BITBUCKET.identify(
        CLOUD, Headers([("X-Event-Key", "repo:push"), ("X-Request-UUID", "u-1")])
    )
    assert (cloud.event, cloud.delivery_id, cloud.event_header) == (
        "repo:push",
        "u-1",
        "X-Event-Key",
    )
    dc = BITBUCKET_SERVER.identify(
        DC, Headers([("X-Event-Key", "pr:opened"), ("X-Request-Id", "r-1")])
    )
    assert (dc.event, dc.delivery_id) == ("pr:opened", "r-1")


@pytest.mark.parametrize(
    ("forge", "key", "payload", "expected"),
    [
        ("bitbucket", "repo:push", {}, ("push", None)),
        ("bitbucket", "pullrequest:created", {}, ("pull_request", "opened")),
        ("bitbucket", "pullrequest:updated", {}, ("pull_request", "synchronize")),
        ("bitbucket", "pullrequest:fulfilled", {}, ("pull_request", "closed")),
        ("bitbucket", "pullrequest:rejected", {}, ("pull_request", "closed")),
        ("bitbucket", "pullrequest:approved", {}, ("pull_request_review", "submitted")),
        ("bitbucket", "pullrequest:unapproved", {}, ("pull_request_review", "dismissed")),
        (
            "bitbucket",
            "pullrequest:comment_created",
            {"pullrequest": {}, "comment": {"id": 1}},
            ("issue_comment", "created"),
        ),
        (
            "bitbucket",
            "pullrequest:comment_updated",
            {"pullrequest": {}, "comment": {"inline": {"path": "a.py", "to": 3}}},
            ("pull_request_review_comment", "edited"),
        ),
        ("bitbucket", "repo:commit_comment_created", {}, ("commit_comment", "created")),
        ("bitbucket", "issue:created", {}, ("issues", "opened")),
        ("bitbucket", "repo:transfer", {}, ("repo:transfer", None)),
        ("bitbucket-server", "diagnostics:ping", {}, ("ping", None)),
        ("bitbucket-server", "repo:refs_changed", {}, ("push", None)),
        ("bitbucket-server", "pr:opened", {}, ("pull_request", "opened")),
        ("bitbucket-server", "pr:from_ref_updated", {}, ("pull_request", "synchronize")),
        ("bitbucket-server", "pr:modified", {}, ("pull_request", "edited")),
        ("bitbucket-server", "pr:merged", {}, ("pull_request", "closed")),
        ("bitbucket-server", "pr:declined", {}, ("pull_request", "closed")),
        ("bitbucket-server", "pr:reviewer:approved", {}, ("pull_request_review", "submitted")),
        (
            "bitbucket-server",
            "pr:reviewer:updated",
            {"addedReviewers": [], "removedReviewers": [{"name": "x"}]},
            ("pull_request", "review_request_removed"),
        ),
        (
            "bitbucket-server",
            "pr:reviewer:updated",
            {"addedReviewers": [{"name": "x"}]},
            ("pull_request", "review_requested"),
        ),
        (
            "bitbucket-server",
            "pr:comment:added",
            {"comment": {"anchor": {"path": "a.py", "line": 3}}},
            ("pull_request_review_comment", "created"),
        ),
        ("bitbucket-server", "pr:comment:added", {"comment": {}}, ("issue_comment", "created")),
        ("bitbucket-server", "mirror:repo_synchronized", {}, ("mirror:repo_synchronized", None)),
    ],
)
def test_event_keys_are_mapped_onto_githubs_names(
    forge: str, key: str, payload: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    found = delivery(forge, key, payload)
    assert (found.event, found.action) == expected


@pytest.mark.parametrize(
    ("events", "actions"), [(CLOUD_EVENTS, CLOUD_ACTIONS), (DC_EVENTS, DC_ACTIONS)]
)
def test_every_mapped_event_and_action_is_known(
    events: dict[str, tuple[str, str | None]], actions: dict[str, frozenset[str]]
) -> None:
    for event, action in events.values():
        assert event in actions
        assert action is None or action in actions[event]


def test_a_cloud_push_lists_every_ref_it_moved() -> None:
    payload = {
        "repository": {"full_name": "team/site"},
        "push": {
            "changes": [
                cloud_change("main", A, B),
                cloud_change("feature", None, C),
                cloud_change("v1.0", D, None, kind="tag"),
            ]
        },
    }
    found = delivery("bitbucket", "repo:push", payload)
    assert found.ref_updates == (
        RefUpdate("refs/heads/main", A, B),
        RefUpdate("refs/heads/feature", ZERO_SHA, C),
        RefUpdate("refs/tags/v1.0", D, ZERO_SHA),
    )
    assert (found.repository, found.ref, found.before, found.sha) == (
        "team/site", "refs/heads/main", A, B,
    )  # fmt: skip
    one = Delivery(**{**_fields(found), "ref_update": found.ref_updates[2]})
    assert (one.ref, one.before, one.sha) == ("refs/tags/v1.0", D, ZERO_SHA)


def test_a_data_center_push_lists_every_ref_it_moved() -> None:
    repository = {"slug": "site", "project": {"key": "TEAM"}}
    payload = {
        "repository": repository,
        "changes": [
            {"ref": {"id": "refs/heads/main"}, "fromHash": A, "toHash": B},
            {"refId": "refs/tags/v2", "fromHash": ZERO_SHA, "toHash": C},
        ],
    }
    found = delivery("bitbucket-server", "repo:refs_changed", payload)
    assert found.ref_updates == (
        RefUpdate("refs/heads/main", A, B),
        RefUpdate("refs/tags/v2", ZERO_SHA, C),
    )
    assert (found.repository, found.ref, found.sha) == ("TEAM/site", "refs/heads/main", B)


def test_pull_request_facts_come_from_each_forges_shape() -> None:
    cloud = delivery(
        "bitbucket",
        "pullrequest:created",
        {
            "repository": {"full_name": "team/site"},
            "pullrequest": {
                "source": {"commit": {"hash": "c0ffee"}},
                "destination": {"branch": {"name": "main"}},
            },
        },
    )
    assert (cloud.repository, cloud.ref, cloud.sha, cloud.ref_updates) == (
        "team/site", None, "c0ffee", (),
    )  # fmt: skip
    assert cloud.facts.base_branch is not None
    assert cloud.facts.base_branch(cloud.payload) == "main"
    target = {"id": "refs/heads/release/2", "repository": {"slug": "s", "project": {"key": "K"}}}
    dc = delivery(
        "bitbucket-server",
        "pr:opened",
        {"pullRequest": {"fromRef": {"latestCommit": B}, "toRef": target}},
    )
    assert (dc.repository, dc.sha) == ("K/s", B)
    assert dc.facts.base_branch is not None
    assert dc.facts.base_branch(dc.payload) == "release/2"


def test_a_large_body_keeps_what_the_facts_read() -> None:
    payload = {
        "padding": "x" * (PARTIAL_ABOVE + 10),
        "repository": {"full_name": "team/site", "description": "y"},
        "push": {"changes": [cloud_change("main", A, B), cloud_change("dev", C, D)]},
    }
    body = json.dumps(payload).encode()
    partial = read_payload(body, Reads.of(FACT_READS))
    assert "padding" not in partial
    whole, kept = (
        delivery("bitbucket", "repo:push", payload),
        delivery("bitbucket", "repo:push", partial),
    )
    assert kept.ref_updates == whole.ref_updates and len(kept.ref_updates) == 2
    assert kept.repository == "team/site"


def _fields(found: Delivery) -> dict[str, Any]:
    return {name: getattr(found, name) for name in Delivery.__dataclass_fields__}
