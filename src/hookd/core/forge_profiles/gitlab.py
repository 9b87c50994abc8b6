"""GitLab: `X-Gitlab-Event` (`Push Hook`, mapped onto GitHub's names), the delivery id in
`Idempotency-Key` (else `X-Gitlab-Event-UUID`), and no signature: the secret token itself
comes in `X-Gitlab-Token`, compared in constant time before the body is read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookd.core import standard_webhooks
from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.event_actions import GITLAB_EVENT_ACTIONS
from hookd.core.events import GITLAB_EVENT_NAMES, gitlab_action, gitlab_event
from hookd.core.forge_profiles.base import (
    JSON,
    BodyCheck,
    ForgeProfile,
    Identity,
    first,
    stripped,
)
from hookd.core.signatures import token_matches
from hookd.core.vocabulary import Forge

TOKEN_HEADER = "X-Gitlab-Token"  # noqa: S105 - a header name, not a secret


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    delivery = first(headers, "idempotency-key", "x-gitlab-event-uuid")
    return stripped(headers.get("x-gitlab-event"), delivery, "X-Gitlab-Event")


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    """The token is checked here, from the headers: nothing of the body is signed. With
    `signature: standard`, the signing token's Standard Webhooks signature instead."""
    if spec.standard:
        return standard_webhooks.verify(spec.secrets, spec.insecure, headers)
    token = headers.get("x-gitlab-token")
    if not token:
        if spec.secrets:
            return Rejection(
                401,
                f"The {TOKEN_HEADER} header is missing: this endpoint is "
                "configured with a secret token.",
            )
        if spec.insecure:
            return None
        return Rejection(401, "This endpoint has no secret configured and is not insecure.")
    if not spec.secrets:
        return Rejection(
            401,
            f"An {TOKEN_HEADER} was sent, but this endpoint has no secret "
            "to check it with; configure the endpoint's secret.",
        )
    if token_matches(spec.secrets, token):
        return None
    return Rejection(401, f"{TOKEN_HEADER} does not match this endpoint's secret.")


def timely(spec: EndpointSpec, headers: Headers, now: float) -> Rejection | None:
    return standard_webhooks.timely(headers, now, spec.tolerance) if spec.standard else None


def sign_headers(
    secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
) -> dict[str, str]:
    return {TOKEN_HEADER: secret.decode("utf-8", "surrogateescape")}


def event_name(forge_event: str, payload: Mapping[str, Any]) -> str:
    return gitlab_event(forge_event)


def action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    return gitlab_action(payload)


def signature_header(spec: EndpointSpec) -> str:
    return standard_webhooks.SIGNATURE_HEADER if spec.standard else TOKEN_HEADER


GITLAB = ForgeProfile(
    forge=Forge.GITLAB,
    label="GitLab",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=event_name,
    action=action,
    action_reads=(("object_attributes", "action"), ("object_attributes", "oldrev")),
    known_events=GITLAB_EVENT_NAMES,
    signature_headers=frozenset({"x-gitlab-token", "webhook-signature", "webhook-timestamp"}),
    secret_headers=frozenset({"x-gitlab-token"}),
    body_kinds=frozenset({JSON}),
    timely=timely,
    standard_signature=True,
    event_actions=GITLAB_EVENT_ACTIONS,
)
