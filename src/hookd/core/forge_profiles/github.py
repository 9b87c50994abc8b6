"""GitHub: `X-GitHub-Event`, `X-GitHub-Delivery`, and an HMAC-SHA256 of the body in
`X-Hub-Signature-256` as `sha256=<hex>` (SHA-1 in `X-Hub-Signature` only with
`legacy_sha1`). hookd's event and action names are GitHub's own."""

from __future__ import annotations

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.event_actions import GITHUB_EVENT_ACTIONS
from hookd.core.events import GITHUB_EVENT_NAMES
from hookd.core.forge_profiles.base import (
    BodyCheck,
    ForgeProfile,
    Identity,
    hmac_check,
    payload_action,
    prefixed,
    same_name,
    stripped,
)
from hookd.core.signatures import sign
from hookd.core.vocabulary import Forge

SIGNATURE = "X-Hub-Signature-256"
LEGACY_SIGNATURE = "X-Hub-Signature"


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    return stripped(
        headers.get("x-github-event"), headers.get("x-github-delivery"), "X-GitHub-Event"
    )


def _sent(spec: EndpointSpec, headers: Headers) -> tuple[str, str] | Rejection | None:
    value = headers.get("x-hub-signature-256")
    if value:
        return prefixed(value, "sha256=", "sha256", SIGNATURE)
    legacy = headers.get("x-hub-signature")
    if legacy and spec.legacy_sha1:
        return prefixed(legacy, "sha1=", "sha1", LEGACY_SIGNATURE)
    if legacy:
        return Rejection(
            401,
            "Only X-Hub-Signature (SHA-1) was sent; this endpoint needs "
            "X-Hub-Signature-256 (set legacy_sha1: true to accept SHA-1).",
        )
    return None


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    expected = f"{SIGNATURE} (or {LEGACY_SIGNATURE})" if spec.legacy_sha1 else SIGNATURE
    return hmac_check(spec, _sent(spec, headers), expected)


def sign_headers(
    secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
) -> dict[str, str]:
    return {
        SIGNATURE: f"sha256={sign(secret, signed)}",
        LEGACY_SIGNATURE: f"sha1={sign(secret, signed, 'sha1')}",
    }


def signature_header(spec: EndpointSpec) -> str:
    return SIGNATURE


GITHUB = ForgeProfile(
    forge=Forge.GITHUB,
    label="GitHub",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=same_name,
    action=payload_action,
    action_reads=(("action",),),
    known_events=GITHUB_EVENT_NAMES,
    signature_headers=frozenset({"x-hub-signature", "x-hub-signature-256"}),
    app_auth=True,
    event_actions=GITHUB_EVENT_ACTIONS,
)
