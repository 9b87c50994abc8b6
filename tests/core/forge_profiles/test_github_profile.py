"""GitHub's profile: HMAC-SHA256 in X-Hub-Signature-256, SHA-1 only with legacy_sha1,
and GitHub's own event and action names."""

from __future__ import annotations

from profile_checks import verdict

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import profile
from hookd.core.forge_profiles.github import GITHUB

SECRET = b"github-secret"
BODY = b'{"action":"opened","number":1}'
SPEC = EndpointSpec(name="gh", forge="github", secrets=(SECRET,))
LEGACY = EndpointSpec(name="gh", forge="github", secrets=(SECRET,), legacy_sha1=True)


def test_it_is_githubs_profile() -> None:
    assert profile("github") is GITHUB


def test_what_it_signs_it_verifies() -> None:
    headers = GITHUB.sign(SECRET, BODY, SignatureScheme(), 0.0)
    assert headers["X-Hub-Signature-256"].startswith("sha256=")
    assert verdict(SPEC, headers, BODY) is True
    assert verdict(SPEC, headers, BODY + b" ") is False
    assert verdict(SPEC, GITHUB.sign(b"other", BODY, SignatureScheme(), 0.0), BODY) is False


def test_sha1_alone_is_accepted_only_with_legacy_sha1() -> None:
    sha1_only = {
        "X-Hub-Signature": GITHUB.sign(SECRET, BODY, SignatureScheme(), 0.0)["X-Hub-Signature"]
    }
    refused = verdict(SPEC, sha1_only, BODY)
    assert isinstance(refused, Rejection) and "legacy_sha1" in refused.reason
    assert verdict(LEGACY, sha1_only, BODY) is True


def test_a_missing_signature_names_the_headers_it_may_come_in() -> None:
    for spec, named in ((SPEC, "X-Hub-Signature-256 header"), (LEGACY, "(or X-Hub-Signature)")):
        refused = verdict(spec, {}, BODY)
        assert isinstance(refused, Rejection) and named in refused.reason


def test_a_malformed_signature_is_refused_before_the_body() -> None:
    refused = verdict(SPEC, {"X-Hub-Signature-256": "sha256=xyz"}, BODY)
    assert isinstance(refused, Rejection) and "malformed" in refused.reason


def test_events_and_actions_keep_githubs_names() -> None:
    identity = GITHUB.identify(
        SPEC, Headers([("X-GitHub-Event", " push "), ("X-GitHub-Delivery", "d-1")])
    )
    assert (identity.event, identity.delivery_id) == ("push", "d-1")
    assert GITHUB.event_name("pull_request", {}) == "pull_request"
    assert GITHUB.action("pull_request", {"action": "synchronize"}) == "synchronize"
    assert GITHUB.action("pull_request", {"action": 3}) is None
    assert {"push", "ping", "workflow_run"} <= GITHUB.known_events
