"""Gitea, and the forges of its family (Forgejo, its fork; Gogs, its ancestor): the event in
`X-<Forge>-Event`, or the finer `X-<Forge>-Event-Type` when sent, mapped onto GitHub's event
names (core.events.gitea_event), the delivery in `X-<Forge>-Delivery`, and an HMAC-SHA256 as
bare hex in `X-<Forge>-Signature`, of the JSON payload (a form body's `payload=` field, not
the form). Each sends its ancestors' headers too; a `gitea` endpoint reads Forgejo's and Gogs'
alone. Old Gitea and Gogs put the webhook's secret into the payload's `secret` member.
shared/design/FORGES.md §3, §4 "Gogs"."""

from __future__ import annotations

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.event_actions import GITEA_EVENT_ACTIONS, EventActions
from hookd.core.events import GITEA_EVENT_NAMES, gitea_action, gitea_event
from hookd.core.forge_profiles.base import (
    BodyCheck,
    ForgeProfile,
    Identity,
    SignedBytes,
    first,
    hmac_check,
    prefixed,
    stripped,
)
from hookd.core.signatures import sign
from hookd.core.vocabulary import Forge

GITEA_FAMILY = ("gitea", "forgejo", "gogs")
"""The header prefixes the family sends (`X-Gitea-`, `X-Forgejo-`, `X-Gogs-`)."""


def _headers(names: tuple[str, ...], suffix: str) -> tuple[str, ...]:
    return tuple(f"x-{name}-{suffix}" for name in names)


def gitea_like(
    forge: Forge,
    label: str,
    read: tuple[str, ...],
    events: frozenset[str],
    event_actions: EventActions | None = None,
) -> ForgeProfile:
    """The profile of a forge of Gitea's family that sends the headers of `read` (prefixes
    from GITEA_FAMILY, its own first) and the events `events`, with `event_actions` (None:
    names in `on:` are not checked)."""
    own = read[0].capitalize()
    signature = f"X-{own}-Signature"
    event_headers = (*_headers(read, "event-type"), *_headers(read, "event"))
    delivery_headers = _headers(read, "delivery")
    signature_headers = _headers(read, "signature")

    def identify(spec: EndpointSpec, headers: Headers) -> Identity:
        event = first(headers, *event_headers)
        return stripped(event, first(headers, *delivery_headers), f"X-{own}-Event")

    def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
        # Gitea sends the header empty when no secret is set: empty means unsigned.
        value = first(headers, *signature_headers)
        sent = prefixed(value, "", "sha256", signature) if value else None
        return hmac_check(spec, sent, signature)

    def sign_headers(
        secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
    ) -> dict[str, str]:
        digest = sign(secret, signed)
        return {signature: digest, "X-Hub-Signature-256": f"sha256={digest}"}

    def signature_header(spec: EndpointSpec) -> str:
        return signature

    return ForgeProfile(
        forge=forge,
        label=label,
        identify=identify,
        verify=verify,
        sign=sign_headers,
        signature_header=signature_header,
        event_name=gitea_event,
        action=gitea_action,
        action_reads=(("action",),),
        known_events=events,
        event_actions=event_actions or {},
        signature_headers=frozenset({*signature_headers, "x-hub-signature-256"}),
        secret_payload_fields=frozenset({"secret"}),
        signed_bytes=SignedBytes.FORM_PAYLOAD,
    )


GITEA = gitea_like(Forge.GITEA, "Gitea", GITEA_FAMILY, GITEA_EVENT_NAMES, GITEA_EVENT_ACTIONS)
