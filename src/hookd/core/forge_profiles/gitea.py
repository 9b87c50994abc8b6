"""Gitea (and Forgejo and Gogs, whose headers it also reads): `X-Gitea-Event` with GitHub's
event names, `X-Gitea-Delivery`, and an HMAC-SHA256 in `X-Gitea-Signature` as bare hex, of
the JSON payload (a form body's `payload=` field, not the form). Old Gitea and Gogs put the
webhook's secret into the payload's `secret` member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.event_actions import GITEA_EVENT_ACTIONS
from hookd.core.events import GITEA_EVENT_NAMES, gitea_action
from hookd.core.forge_profiles.base import (
    BodyCheck,
    ForgeProfile,
    Identity,
    SignedBytes,
    first,
    hmac_check,
    prefixed,
    same_name,
    stripped,
)
from hookd.core.signatures import sign
from hookd.core.vocabulary import Forge

SIGNATURE = "X-Gitea-Signature"


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    event = first(headers, "x-gitea-event", "x-forgejo-event", "x-gogs-event")
    delivery = first(headers, "x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery")
    return stripped(event, delivery, "X-Gitea-Event")


def _sent(headers: Headers) -> tuple[str, str] | Rejection | None:
    # Gitea sends the header empty when no secret is set: empty means unsigned.
    value = first(headers, "x-gitea-signature", "x-forgejo-signature", "x-gogs-signature")
    if not value:
        return None
    return prefixed(value, "", "sha256", SIGNATURE)


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    return hmac_check(spec, _sent(headers), SIGNATURE)


def sign_headers(secret: bytes, signed: bytes, scheme: SignatureScheme) -> dict[str, str]:
    digest = sign(secret, signed)
    return {SIGNATURE: digest, "X-Hub-Signature-256": f"sha256={digest}"}


def action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    return gitea_action(payload)


def signature_header(spec: EndpointSpec) -> str:
    return SIGNATURE


GITEA = ForgeProfile(
    forge=Forge.GITEA,
    label="Gitea",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=same_name,
    action=action,
    action_reads=(("action",),),
    known_events=GITEA_EVENT_NAMES,
    signature_headers=frozenset(
        {"x-gitea-signature", "x-forgejo-signature", "x-gogs-signature", "x-hub-signature-256"}
    ),
    secret_payload_fields=frozenset({"secret"}),
    signed_bytes=SignedBytes.FORM_PAYLOAD,
    event_actions=GITEA_EVENT_ACTIONS,
)
