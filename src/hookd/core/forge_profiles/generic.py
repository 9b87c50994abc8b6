"""Any other sender: the endpoint names its event header (else every delivery is the event
`webhook`), its delivery-id header, and its HMAC scheme (`signature:` header, hash, prefix)."""

from __future__ import annotations

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.events import GENERIC_EVENT
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


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    wanted = spec.event_header or ""
    event = headers.get(wanted) if spec.event_header else GENERIC_EVENT
    delivery = headers.get(spec.delivery_header) if spec.delivery_header else None
    return stripped(event, delivery, wanted)


def _sent(scheme: SignatureScheme, headers: Headers) -> tuple[str, str] | Rejection | None:
    value = headers.get(scheme.header)
    if not value:
        return None
    return prefixed(value, scheme.prefix, scheme.algorithm, scheme.header)


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    return hmac_check(spec, _sent(spec.signature, headers), spec.signature.header)


def sign_headers(
    secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
) -> dict[str, str]:
    return {scheme.header: f"{scheme.prefix}{sign(secret, signed, scheme.algorithm)}"}


def signature_header(spec: EndpointSpec) -> str:
    return spec.signature.header


GENERIC = ForgeProfile(
    forge=Forge.GENERIC,
    label="generic",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=same_name,
    action=payload_action,
    action_reads=(("action",),),
    known_events=frozenset({GENERIC_EVENT}),
    signature_headers=frozenset(),
    signature_scheme=True,
)
