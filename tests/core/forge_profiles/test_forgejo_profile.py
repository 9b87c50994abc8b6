"""Forgejo's profile: Gitea's deliveries, read from `X-Forgejo-*` first and Gitea's when
those are absent; its name in refusals."""

from __future__ import annotations

from profile_checks import verdict

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import profile
from hookd.core.forge_profiles.forgejo import FORGEJO
from hookd.core.signatures import sign

SECRET = b"forgejo-secret"
BODY = b'{"action":"label_cleared","number":2}'
SPEC = EndpointSpec(name="fj", forge="forgejo", secrets=(SECRET,))


def test_it_is_forgejos_profile() -> None:
    assert profile("forgejo") is FORGEJO
    assert FORGEJO.label == "Forgejo"


def test_what_it_signs_it_verifies() -> None:
    headers = FORGEJO.sign(SECRET, BODY, SignatureScheme(), 0.0)
    assert headers["X-Forgejo-Signature"] == sign(SECRET, BODY)
    assert verdict(SPEC, headers, BODY) is True
    assert verdict(SPEC, headers, BODY[:-1]) is False


def test_forgejo_headers_come_first_and_gitea_headers_do_too() -> None:
    identity = FORGEJO.identify(
        SPEC,
        Headers(
            [
                ("X-Gitea-Event", "push"),
                ("X-Forgejo-Event", "pull_request_approved"),
                ("X-Forgejo-Delivery", "f-1"),
            ]
        ),
    )
    assert (identity.event, identity.delivery_id) == ("pull_request_approved", "f-1")
    assert verdict(SPEC, {"X-Gitea-Signature": sign(SECRET, BODY)}, BODY) is True


def test_a_missing_signature_names_forgejos_header() -> None:
    refused = verdict(SPEC, {}, BODY)
    assert isinstance(refused, Rejection) and refused.status == 401
    assert "X-Forgejo-Signature header is missing" in refused.reason


def test_events_and_actions_are_githubs() -> None:
    assert FORGEJO.event_name("wiki", {}) == "gollum"
    assert FORGEJO.action("pull_request", {"action": "label_cleared"}) == "unlabeled"
    assert FORGEJO.action("pull_request_review_rejected", {"action": "reviewed"}) == "submitted"
