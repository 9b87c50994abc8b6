"""Any Standard Webhooks sender (shared/design/FORGES.md §4 "Standard Webhooks"): `webhook-id`
as the delivery id, `webhook-signature` over `{id}.{timestamp}.{body}` with `whsec_` secrets,
the timestamp within the endpoint's tolerance. There is no event header: the event is the
payload's `type` (the spec's payload structure), else `webhook`."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from hookd.core import standard_webhooks
from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.events import GENERIC_EVENT
from hookd.core.forge_profiles.base import JSON, BodyCheck, ForgeProfile, Identity, stripped
from hookd.core.vocabulary import Forge

EVENT_MEMBER = "type"


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    return stripped(None, headers.get(standard_webhooks.ID_HEADER), EVENT_MEMBER)


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    return standard_webhooks.verify(spec.secrets, spec.insecure, headers)


def timely(spec: EndpointSpec, headers: Headers, now: float) -> Rejection | None:
    return standard_webhooks.timely(headers, now, spec.tolerance)


def sign_headers(
    secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
) -> dict[str, str]:
    timestamp = int(now)
    webhook_id = "msg_" + hashlib.sha256(b"%d." % timestamp + signed).hexdigest()[:32]
    return standard_webhooks.sign(secret, signed, webhook_id, timestamp)


def event_name(forge_event: str, payload: Mapping[str, Any]) -> str:
    return forge_event or GENERIC_EVENT


def action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    return None


def signature_header(spec: EndpointSpec) -> str:
    return standard_webhooks.SIGNATURE_HEADER


STANDARD = ForgeProfile(
    forge=Forge.STANDARD,
    label="Standard Webhooks",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=event_name,
    action=action,
    action_reads=((EVENT_MEMBER,),),
    known_events=frozenset({GENERIC_EVENT}),
    signature_headers=standard_webhooks.HEADERS,
    body_kinds=frozenset({JSON}),
    timely=timely,
    event_path=(EVENT_MEMBER,),
    standard_always=True,
    new_secret=lambda key: standard_webhooks.SECRET_PREFIX + base64.b64encode(key).decode(),
)
