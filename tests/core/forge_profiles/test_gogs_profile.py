"""Gogs' profile: `X-Gogs-*` headers only, a bare hex HMAC-SHA256 of the JSON payload, Gitea's
action words in GitHub's."""

from __future__ import annotations

from urllib.parse import urlencode

from profile_checks import verdict

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import SECRET_PAYLOAD_FIELDS, profile
from hookd.core.forge_profiles.gogs import GOGS
from hookd.core.forges import begin_delivery
from hookd.core.signatures import sign

SECRET = b"gogs-secret"
BODY = b'{"action":"synchronized","number":2,"secret":"gogs-secret"}'
SPEC = EndpointSpec(name="gg", forge="gogs", secrets=(SECRET,))


def test_it_is_gogs_profile() -> None:
    assert profile("gogs") is GOGS
    assert "secret" in GOGS.secret_payload_fields <= SECRET_PAYLOAD_FIELDS


def test_what_it_signs_it_verifies() -> None:
    headers = GOGS.sign(SECRET, BODY, SignatureScheme(), 0.0)
    assert headers["X-Gogs-Signature"] == sign(SECRET, BODY)
    assert verdict(SPEC, headers, BODY) is True
    assert verdict(SPEC, headers, BODY + b" ") is False


def test_only_gogs_headers_are_read() -> None:
    identity = GOGS.identify(SPEC, Headers([("X-Gitea-Event", "push"), ("X-Gogs-Delivery", "g")]))
    assert (identity.event, identity.delivery_id, identity.event_header) == (
        None,
        "g",
        "X-Gogs-Event",
    )
    refused = verdict(SPEC, {"X-Gitea-Signature": sign(SECRET, BODY)}, BODY)
    assert isinstance(refused, Rejection) and "X-Gogs-Signature header is missing" in refused.reason


def test_a_prefixed_signature_is_malformed() -> None:
    refused = verdict(SPEC, {"X-Gogs-Signature": f"sha256={sign(SECRET, BODY)}"}, BODY)
    assert isinstance(refused, Rejection) and "malformed" in refused.reason


def test_a_form_is_verified_over_its_payload_field() -> None:
    form = urlencode({"payload": BODY.decode()}).encode()
    headers = Headers(
        [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Gogs-Event", "pull_request"),
            ("X-Gogs-Signature", sign(SECRET, BODY)),
        ]
    )
    reception = begin_delivery(SPEC, headers, 0.0)
    assert not isinstance(reception, Rejection)
    reception.update(form)
    delivery = reception.finish(form)
    assert not isinstance(delivery, Rejection)
    assert (delivery.forge, delivery.event, delivery.action) == (
        "gogs",
        "pull_request",
        "synchronize",
    )


def test_its_events_are_githubs() -> None:
    assert GOGS.known_events == {
        "create", "delete", "fork", "push", "issues", "issue_comment", "pull_request", "release",
    }  # fmt: skip
    assert GOGS.action("issues", {"action": "label_cleared"}) == "unlabeled"
