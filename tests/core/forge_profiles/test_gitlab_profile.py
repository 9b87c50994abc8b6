"""GitLab's profile: the secret token itself in X-Gitlab-Token, checked from the headers;
`Push Hook` names mapped onto GitHub's; JSON bodies only."""

from __future__ import annotations

from profile_checks import verdict

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import JSON, SECRET_HEADERS, profile
from hookd.core.forge_profiles.gitlab import GITLAB

SECRET = b"gitlab-token"
BODY = b'{"object_kind":"push"}'
SPEC = EndpointSpec(name="gl", forge="gitlab", secrets=(SECRET, b"next-token"))


def test_it_is_gitlabs_profile() -> None:
    assert profile("gitlab") is GITLAB


def test_the_token_is_checked_from_the_headers_alone() -> None:
    headers = GITLAB.sign(SECRET, BODY, SignatureScheme(), 0.0)
    assert headers == {"X-Gitlab-Token": "gitlab-token"}
    assert GITLAB.verify(SPEC, Headers(headers.items())) is None
    assert GITLAB.verify(SPEC, Headers([("X-Gitlab-Token", "next-token")])) is None
    wrong = verdict(SPEC, {"X-Gitlab-Token": "gitlab-tokeN"}, BODY)
    assert isinstance(wrong, Rejection) and wrong.status == 401
    missing = verdict(SPEC, {}, BODY)
    assert isinstance(missing, Rejection) and "missing" in missing.reason


def test_the_token_is_never_stored() -> None:
    assert "x-gitlab-token" in GITLAB.secret_headers <= SECRET_HEADERS


def test_it_takes_json_only() -> None:
    assert GITLAB.body_kinds == {JSON}


def test_hook_names_and_actions_are_mapped_onto_githubs() -> None:
    assert GITLAB.event_name("Tag Push Hook", {}) == "push"
    assert GITLAB.event_name("Merge Request Hook", {}) == "pull_request"
    assert GITLAB.event_name("Emoji Hook", {}) in GITLAB.known_events
    updated = {"object_attributes": {"action": "update", "oldrev": "abc"}}
    assert GITLAB.action("Merge Request Hook", updated) == "synchronize"
    assert GITLAB.action("Issue Hook", {"object_attributes": {"action": "open"}}) == "opened"


def test_idempotency_key_is_the_delivery_id_before_the_event_uuid() -> None:
    headers = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Event-UUID", "u-1")]
    assert GITLAB.identify(SPEC, Headers(headers)).delivery_id == "u-1"
    keyed = GITLAB.identify(SPEC, Headers([*headers, ("Idempotency-Key", "k-1")]))
    assert (keyed.event, keyed.delivery_id) == ("Push Hook", "k-1")
