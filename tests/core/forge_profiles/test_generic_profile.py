"""The generic profile: the endpoint names its event and delivery headers and its HMAC
scheme; with no event header every delivery is the event `webhook`."""

from __future__ import annotations

from profile_checks import verdict

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import PROFILES, profile
from hookd.core.forge_profiles.generic import GENERIC

SECRET = b"generic-secret"
BODY = b'{"kind":"build"}'
SCHEME = SignatureScheme(header="X-Signature", algorithm="sha512", prefix="")
SPEC = EndpointSpec(
    name="any",
    forge="generic",
    secrets=(SECRET,),
    signature=SCHEME,
    event_header="X-Kind",
    delivery_header="X-Id",
)


def test_it_is_the_generic_profile() -> None:
    assert profile("generic") is GENERIC


def test_the_endpoints_scheme_is_signed_and_verified() -> None:
    headers = GENERIC.sign(SECRET, BODY, SCHEME, 0.0)
    assert list(headers) == ["X-Signature"] and len(headers["X-Signature"]) == 128
    assert verdict(SPEC, headers, BODY) is True
    assert verdict(SPEC, headers, b"{}") is False
    github_style = GENERIC.sign(SECRET, BODY, SignatureScheme(), 0.0)
    refused = verdict(SPEC, github_style, BODY)
    assert isinstance(refused, Rejection) and "X-Signature header is missing" in refused.reason


def test_only_the_generic_profile_takes_a_signature_scheme() -> None:
    assert [found.forge for found in PROFILES.values() if found.signature_scheme] == ["generic"]


def test_the_event_and_delivery_come_from_the_headers_the_endpoint_names() -> None:
    identity = GENERIC.identify(SPEC, Headers([("X-Kind", "build"), ("X-Id", "7")]))
    assert (identity.event, identity.delivery_id, identity.event_header) == ("build", "7", "X-Kind")
    unnamed = EndpointSpec(name="any", forge="generic", insecure=True)
    assert GENERIC.identify(unnamed, Headers([])).event == "webhook"
    assert GENERIC.known_events == {"webhook"}
