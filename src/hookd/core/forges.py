"""Forge adapters: headers and a raw body in, a verified `Delivery` or a `Rejection` out.

A request is checked in two steps so the body can be verified as it streams in:
`begin_delivery` reads the headers (content type, event, signature header) and returns a
`Reception`; the receiver feeds it the body's chunks and calls `finish`, which verifies
the signature before anything is parsed. Facts about each forge: shared/design/FORGES.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from hookd.core.delivery import Body, Delivery, Headers, Payload, Rejection
from hookd.core.endpoint import EndpointSpec
from hookd.core.events import GENERIC_EVENT, delivery_action, gitlab_event
from hookd.core.payload_reads import Reads
from hookd.core.payload_scan import read_json
from hookd.core.signatures import HmacCheck, is_hex_digest, token_matches

JSON = "json"
FORM = "form"

# Headers that carry a secret itself (not a digest of the body): never stored or shown.
SECRET_HEADERS = frozenset({"x-gitlab-token", "authorization", "cookie", "proxy-authorization"})


def body_kind(content_type: str | None) -> str | None:
    """`json`, `form`, or None for a content type hookd does not take."""
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return JSON
    if media == "application/x-www-form-urlencoded":
        return FORM
    return None


@dataclass(frozen=True, slots=True)
class _Parts:
    forge_event: str
    delivery_id: str | None


class Reception:
    """One request being received: feed it the body, then `finish` verifies and parses."""

    def __init__(
        self,
        spec: EndpointSpec,
        headers: Headers,
        kind: str,
        parts: _Parts,
        check: HmacCheck | None,
        sign_form_payload: bool,
    ) -> None:
        self._spec = spec
        self._headers = headers
        self._kind = kind
        self._parts = parts
        self._check = check
        # Gitea signs the JSON payload, not the form body that carries it.
        self._sign_form_payload = sign_form_payload and kind == FORM
        self._streaming = check is not None and not self._sign_form_payload

    def update(self, chunk: bytes) -> None:
        if self._streaming and self._check is not None:
            self._check.update(chunk)

    def finish(self, body: Body) -> Delivery | Rejection:
        """Verify the whole body against the signature, then parse it."""
        json_bytes: Body | Rejection = body if self._kind == JSON else _form_payload(body)
        check = self._check
        if check is not None:
            if self._sign_form_payload and not isinstance(json_bytes, Rejection):
                check.update(json_bytes)
            unverifiable = self._sign_form_payload and isinstance(json_bytes, Rejection)
            if unverifiable or not check.matches():
                return _bad_signature(self._spec)
        if isinstance(json_bytes, Rejection):
            return json_bytes
        return self._parse(body, json_bytes)

    def _parse(self, body: Body, json_bytes: Body) -> Delivery | Rejection:
        try:
            payload = read_payload(json_bytes, self._spec.reads)
        except ValueError as exc:
            where = "the form's payload field" if self._kind == FORM else "the body"
            return Rejection(400, f"{where} is not valid JSON: {exc}.")
        if not isinstance(payload, dict):
            return Rejection(400, "The payload must be a JSON object.")
        spec = self._spec
        forge_event = self._parts.forge_event
        event = gitlab_event(forge_event) if spec.forge == "gitlab" else forge_event
        action = delivery_action(spec.forge, payload)
        kept = tuple(
            (name, value)
            for name, value in self._headers.items_raw()
            if name.lower() not in SECRET_HEADERS
        )
        return Delivery(
            endpoint=spec.name,
            forge=spec.forge,
            event=event,
            forge_event=forge_event,
            action=action,
            delivery_id=self._parts.delivery_id,
            content_type=self._headers.get("content-type", ""),
            headers=kept,
            body=body,
            payload=_as_payload(payload),
        )


PARTIAL_ABOVE = 1 << 20
"""Bodies longer than this are scanned for the parts read, not parsed whole."""


def read_payload(json_bytes: Body, reads: Reads) -> Any:
    """The JSON value in `json_bytes`, checked whole; ValueError when it is not JSON.

    Up to PARTIAL_ABOVE bytes it is parsed whole. A longer body is scanned and only what
    `reads` names is built (core.payload_scan): parsing 25 MB whole would take about twice
    that again, on top of the body itself.
    """
    if reads.whole or len(json_bytes) <= PARTIAL_ABOVE:
        return orjson.loads(json_bytes)
    return read_json(json_bytes, reads)


def _as_payload(value: dict[str, object]) -> Payload:
    return value


def _form_payload(body: Body) -> bytes | Rejection:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(400, "The form body is not valid UTF-8.")
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name == "payload":
            return value.encode("utf-8")
    return Rejection(400, "The form body has no payload= field.")


def _bad_signature(spec: EndpointSpec) -> Rejection:
    if spec.forge == "gitlab":
        return Rejection(401, "X-Gitlab-Token does not match this endpoint's secret.")
    return Rejection(401, f"The {_signature_header_name(spec)} signature does not match the body.")


def _signature_header_name(spec: EndpointSpec) -> str:
    return {
        "github": "X-Hub-Signature-256",
        "gitea": "X-Gitea-Signature",
        "gitlab": "X-Gitlab-Token",
    }.get(spec.forge, spec.signature.header)


def _first(headers: Headers, *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def begin_delivery(spec: EndpointSpec, headers: Headers) -> Reception | Rejection:
    """Check what can be checked from the headers alone, before reading the body."""
    kind = body_kind(headers.get("content-type"))
    if kind is None:
        return Rejection(
            415,
            "hookd takes application/json or application/x-www-form-urlencoded deliveries.",
        )
    if spec.forge == "gitlab" and kind != JSON:
        return Rejection(415, "GitLab deliveries are application/json.")
    parts = _event_and_id(spec, headers)
    if isinstance(parts, Rejection):
        return parts
    check = _signature_check(spec, headers)
    if isinstance(check, Rejection):
        return check
    return Reception(spec, headers, kind, parts, check, sign_form_payload=spec.forge == "gitea")


@dataclass(frozen=True, slots=True)
class Identity:
    """What the headers say a request is, before anything is verified: for logs and for
    the metadata kept of a rejected request."""

    event: str | None
    delivery_id: str | None
    event_header: str


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    """The event and the forge's delivery id as the headers give them (unverified)."""
    if spec.forge == "github":
        event = headers.get("x-github-event")
        delivery = headers.get("x-github-delivery")
        wanted = "X-GitHub-Event"
    elif spec.forge == "gitlab":
        event = headers.get("x-gitlab-event")
        delivery = _first(headers, "idempotency-key", "x-gitlab-event-uuid")
        wanted = "X-Gitlab-Event"
    elif spec.forge == "gitea":
        event = _first(headers, "x-gitea-event", "x-forgejo-event", "x-gogs-event")
        delivery = _first(headers, "x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery")
        wanted = "X-Gitea-Event"
    else:
        wanted = spec.event_header or ""
        event = headers.get(wanted) if spec.event_header else GENERIC_EVENT
        delivery = headers.get(spec.delivery_header) if spec.delivery_header else None
    return Identity(
        event=event.strip() if event else None,
        delivery_id=delivery.strip() if delivery else None,
        event_header=wanted,
    )


def _event_and_id(spec: EndpointSpec, headers: Headers) -> _Parts | Rejection:
    identity = identify(spec, headers)
    if not identity.event:
        return Rejection(
            400, f"The {identity.event_header} header is missing: hookd needs it to know the event."
        )
    return _Parts(forge_event=identity.event, delivery_id=identity.delivery_id)


def _signature_check(spec: EndpointSpec, headers: Headers) -> HmacCheck | Rejection | None:
    """The check to run over the body; None when nothing is signed (insecure endpoints,
    and GitLab, whose token is checked here and signs nothing)."""
    if spec.forge == "gitlab":
        token = headers.get("x-gitlab-token")
        return _check_token(spec, token)
    sent = _signature_sent(spec, headers)
    if isinstance(sent, Rejection):
        return sent
    if not spec.secrets:
        if sent is None and spec.insecure:
            return None
        if sent is None:
            return Rejection(401, "This endpoint has no secret configured and is not insecure.")
        return Rejection(
            401,
            "A signature was sent, but this endpoint has no secret to check it with; "
            "configure the endpoint's secret.",
        )
    if sent is None:
        return Rejection(
            401,
            f"The {_expected_header(spec)} header is missing: this endpoint "
            "is configured with a secret and accepts only signed deliveries.",
        )
    algorithm, hex_digest = sent
    return HmacCheck(spec.secrets, algorithm, hex_digest)


def _expected_header(spec: EndpointSpec) -> str:
    if spec.forge == "github" and spec.legacy_sha1:
        return "X-Hub-Signature-256 (or X-Hub-Signature)"
    return _signature_header_name(spec)


def _check_token(spec: EndpointSpec, token: str | None) -> Rejection | None:
    if not token:
        if spec.secrets:
            return Rejection(
                401,
                "The X-Gitlab-Token header is missing: this endpoint is "
                "configured with a secret token.",
            )
        if spec.insecure:
            return None
        return Rejection(401, "This endpoint has no secret configured and is not insecure.")
    if not spec.secrets:
        return Rejection(
            401,
            "An X-Gitlab-Token was sent, but this endpoint has no secret "
            "to check it with; configure the endpoint's secret.",
        )
    if token_matches(spec.secrets, token):
        return None
    return Rejection(401, "X-Gitlab-Token does not match this endpoint's secret.")


def _signature_sent(spec: EndpointSpec, headers: Headers) -> tuple[str, str] | Rejection | None:
    """(algorithm, hex) from the request's signature header, None when unsigned."""
    if spec.forge == "github":
        value = headers.get("x-hub-signature-256")
        if value:
            return _prefixed(value, "sha256=", "sha256", "X-Hub-Signature-256")
        legacy = headers.get("x-hub-signature")
        if legacy and spec.legacy_sha1:
            return _prefixed(legacy, "sha1=", "sha1", "X-Hub-Signature")
        if legacy:
            return Rejection(
                401,
                "Only X-Hub-Signature (SHA-1) was sent; this endpoint needs "
                "X-Hub-Signature-256 (set legacy_sha1: true to accept SHA-1).",
            )
        return None
    if spec.forge == "gitea":
        # Gitea sends the header empty when no secret is set: empty means unsigned.
        value = _first(headers, "x-gitea-signature", "x-forgejo-signature", "x-gogs-signature")
        if not value:
            return None
        return _prefixed(value, "", "sha256", "X-Gitea-Signature")
    scheme = spec.signature
    value = headers.get(scheme.header)
    if not value:
        return None
    return _prefixed(value, scheme.prefix, scheme.algorithm, scheme.header)


def _prefixed(value: str, prefix: str, algorithm: str, header: str) -> tuple[str, str] | Rejection:
    value = value.strip()
    if not value.startswith(prefix) or not is_hex_digest(value[len(prefix) :], algorithm):
        shape = f"{prefix}<hex {algorithm}>"
        return Rejection(401, f"The {header} header is malformed: expected {shape}.")
    return algorithm, value[len(prefix) :]


def payload_json(content_type: str | None, body: Body) -> Body:
    """The JSON a stored delivery carries: the body, or a form body's payload= field.
    Raises ValueError when there is none."""
    if body_kind(content_type) == FORM:
        found = _form_payload(body)
        if isinstance(found, Rejection):
            raise ValueError(found.reason)
        return found
    return body
