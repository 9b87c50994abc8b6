"""Gitea's profile: bare hex HMAC-SHA256 in X-Gitea-Signature (Forgejo's and Gogs' headers
too), over the JSON payload even when it comes in a form; GitHub's event names."""

from __future__ import annotations

from urllib.parse import urlencode

from profile_checks import verdict

from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import SECRET_PAYLOAD_FIELDS, SignedBytes, profile
from hookd.core.forge_profiles.gitea import GITEA
from hookd.core.forges import begin_delivery
from hookd.core.signatures import sign

SECRET = b"gitea-secret"
BODY = b'{"action":"synchronized","number":2}'
SPEC = EndpointSpec(name="gt", forge="gitea", secrets=(SECRET,))


def test_it_is_giteas_profile() -> None:
    assert profile("gitea") is GITEA


def test_what_it_signs_it_verifies() -> None:
    headers = GITEA.sign(SECRET, BODY, SignatureScheme(), 0.0)
    assert headers["X-Gitea-Signature"] == sign(SECRET, BODY)
    assert verdict(SPEC, headers, BODY) is True
    assert verdict(SPEC, headers, BODY[:-1]) is False


def test_forgejo_and_gogs_headers_are_read_too() -> None:
    for name in ("X-Forgejo-Signature", "X-Gogs-Signature"):
        assert verdict(SPEC, {name: sign(SECRET, BODY)}, BODY) is True
    identity = GITEA.identify(
        SPEC, Headers([("X-Forgejo-Event", "push"), ("X-Forgejo-Delivery", "f-1")])
    )
    assert (identity.event, identity.delivery_id) == ("push", "f-1")


def test_a_prefixed_signature_is_malformed() -> None:
    refused = verdict(SPEC, {"X-Gitea-Signature": f"sha256={sign(SECRET, BODY)}"}, BODY)
    assert isinstance(refused, Rejection) and "malformed" in refused.reason


def test_a_form_is_verified_over_its_payload_field() -> None:
    assert GITEA.signed_bytes is SignedBytes.FORM_PAYLOAD
    form = urlencode({"payload": BODY.decode()}).encode()
    headers = Headers(
        [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Gitea-Event", "pull_request"),
            ("X-Gitea-Signature", sign(SECRET, BODY)),
        ]
    )
    reception = begin_delivery(SPEC, headers, 0.0)
    assert not isinstance(reception, Rejection)
    reception.update(form)
    delivery = reception.finish(form)
    assert isinstance(delivery, Delivery)
    assert (delivery.event, delivery.action) == ("pull_request", "synchronize")


def test_the_secret_old_gitea_puts_in_the_payload_is_never_shown() -> None:
    assert "secret" in GITEA.secret_payload_fields <= SECRET_PAYLOAD_FIELDS


def test_actions_are_in_githubs_words() -> None:
    assert GITEA.action("pull_request", {"action": "label_updated"}) == "labeled"
    assert GITEA.action("issues", {"action": "opened"}) == "opened"
    assert {"pull_request_review", "gollum"} <= GITEA.known_events
