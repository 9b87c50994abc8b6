"""The Standard Webhooks profile and checks: the signed `{id}.{timestamp}.{body}`, `whsec_`
keys, rotation, the timestamp tolerance against a `now` passed in, the event from `type`."""

from __future__ import annotations

import base64

from profile_checks import verdict

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import profile
from hookd.core.forge_profiles.standard import STANDARD
from hookd.core.forges import begin_delivery
from hookd.core.standard_webhooks import signing_key, timely

KEY = b"whsec_" + base64.b64encode(b"k" * 32)
OTHER = b"whsec_" + base64.b64encode(b"o" * 32)
SPEC = EndpointSpec(name="sw", forge="standard", secrets=(OTHER, KEY), standard=True)
BODY = b'{"type":"invoice.paid","data":{}}'
NOW = 1_800_000_000.0


def test_it_is_the_standard_profile() -> None:
    assert profile("standard") is STANDARD


def test_a_secret_is_the_base64_after_whsec() -> None:
    assert signing_key(KEY) == b"k" * 32
    assert signing_key(base64.b64encode(b"bare")) == b"bare"
    assert signing_key(b"whsec_not base64!") is None


def test_what_it_signs_it_verifies_with_any_secret_of_the_list() -> None:
    headers = STANDARD.sign(KEY, BODY, SignatureScheme(), NOW)
    assert headers["webhook-timestamp"] == str(int(NOW))
    assert headers["webhook-signature"].startswith("v1,")
    assert verdict(SPEC, headers, BODY) is True
    assert verdict(SPEC, headers, BODY + b" ") is False
    assert verdict(SPEC, {**headers, "webhook-id": "msg_x"}, BODY) is False


def test_the_timestamp_must_be_within_the_tolerance_of_now() -> None:
    def at(seconds: float) -> Rejection | None:
        return timely(Headers([("webhook-timestamp", str(int(NOW + seconds)))]), NOW, 300)

    assert at(-300) is None and at(300) is None
    too_old, ahead = at(-301), at(301)
    assert isinstance(too_old, Rejection) and "too old" in too_old.reason
    assert isinstance(ahead, Rejection) and "from the future" in ahead.reason
    garbled = timely(Headers([("webhook-timestamp", "1e9")]), NOW, 300)
    assert isinstance(garbled, Rejection) and "Unix time" in garbled.reason


def test_the_event_is_the_payloads_type_else_webhook() -> None:
    for body, event in ((BODY, "invoice.paid"), (b'{"data":{}}', "webhook")):
        headers = {"Content-Type": "application/json"}
        headers.update(STANDARD.sign(KEY, body, SignatureScheme(), NOW))
        reception = begin_delivery(SPEC, Headers(headers.items()), NOW + 1)
        assert not isinstance(reception, Rejection)
        reception.update(body)
        delivery = reception.finish(body)
        assert not isinstance(delivery, Rejection)
        assert (delivery.event, delivery.delivery_id) == (event, headers["webhook-id"])
    late = begin_delivery(SPEC, Headers(headers.items()), NOW + 301)
    assert isinstance(late, Rejection) and late.status == 401
