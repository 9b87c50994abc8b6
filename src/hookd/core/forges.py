"""Receiving a delivery: headers and a raw body in, a verified `Delivery` or a `Rejection` out.

A request is checked in two steps so the body can be verified as it streams in:
`begin_delivery` reads the headers (content type, event, signature header) and returns a
`Reception`; the receiver feeds it the body's chunks and calls `finish`, which verifies
the signature before anything is parsed. What differs per forge is read from its profile
(hookd.core.forge_profiles); facts about each forge: shared/design/FORGES.md.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from hookd.core.delivery import Body, Delivery, Headers, Payload, Rejection
from hookd.core.endpoint import EndpointSpec
from hookd.core.forge_profiles import (
    FORM,
    JSON,
    MEDIA_TYPES,
    PROFILES,
    SECRET_HEADERS,
    BodyCheck,
    ForgeProfile,
    Identity,
    SignedBytes,
    profile,
)
from hookd.core.payload_reads import Reads
from hookd.core.payload_scan import read_json

__all__ = [
    "FORM",
    "JSON",
    "PARTIAL_ABOVE",
    "SECRET_HEADERS",
    "Identity",
    "Reception",
    "begin_delivery",
    "body_kind",
    "identify",
    "payload_json",
    "read_payload",
    "with_facts",
]


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


class Reception:
    """One request being received: feed it the body, then `finish` verifies and parses."""

    def __init__(
        self,
        spec: EndpointSpec,
        forge: ForgeProfile,
        headers: Headers,
        kind: str,
        forge_event: str,
        delivery_id: str | None,
        check: BodyCheck | None,
    ) -> None:
        self._spec = spec
        self._forge = forge
        self._headers = headers
        self._kind = kind
        self._forge_event = forge_event
        self._delivery_id = delivery_id
        self._check = check
        # A forge that signs a form's payload= field cannot be checked before the form is read.
        self._sign_form_payload = forge.signed_bytes is SignedBytes.FORM_PAYLOAD and kind == FORM
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
                header = self._forge.signature_header(self._spec)
                return Rejection(401, f"The {header} signature does not match the body.")
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
        forge = self._forge
        forge_event = self._forge_event
        if forge.event_path is not None:
            forge_event = _event_in(payload, forge.event_path)
        delivery_id = self._delivery_id
        if delivery_id is None and forge.delivery_path is not None:
            delivery_id = _event_in(payload, forge.delivery_path) or None
        payload = with_facts(forge.forge, forge_event, payload)
        event = forge.event_name(forge_event, payload)
        if not event:
            where = ".".join(forge.event_path or ())
            return Rejection(400, f"The payload has no {where}: hookd needs it to know the event.")
        kept = tuple(
            (name, value)
            for name, value in self._headers.items_raw()
            if name.lower() not in SECRET_HEADERS
        )
        return Delivery(
            endpoint=self._spec.name,
            forge=forge.forge,
            event=event,
            forge_event=forge_event,
            action=forge.action(forge_event, payload),
            delivery_id=delivery_id,
            content_type=self._headers.get("content-type", ""),
            headers=kept,
            body=body,
            payload=_as_payload(payload),
        )


def with_facts(forge: str, forge_event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the GitHub-shaped members its forge's profile reads elsewhere
    (ForgeProfile.payload_members) where it has none of that name; the same dict when none."""
    found = PROFILES.get(forge)
    members = found.payload_members if found is not None else None
    if members is None or not isinstance(payload, dict):
        return payload
    return {**members(forge_event, payload), **payload}


def _event_in(payload: Any, path: tuple[str, ...]) -> str:
    """The string at `path` in the payload, or `""`."""
    for key in path:
        payload = payload.get(key) if isinstance(payload, dict) else None
    return payload.strip() if isinstance(payload, str) else ""


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


def begin_delivery(spec: EndpointSpec, headers: Headers, now: float) -> Reception | Rejection:
    """Check what can be checked from the headers alone, before reading the body; `now`,
    the Unix time, for a signature that covers the time (the core reads no clock)."""
    kind = body_kind(headers.get("content-type"))
    if kind is None:
        return Rejection(
            415,
            "hookd takes application/json or application/x-www-form-urlencoded deliveries.",
        )
    forge = profile(spec.forge)
    if kind not in forge.body_kinds:
        media = " or ".join(MEDIA_TYPES[k] for k in MEDIA_TYPES if k in forge.body_kinds)
        return Rejection(415, f"{forge.label} deliveries are {media}.")
    identity = forge.identify(spec, headers)
    if not identity.event and forge.event_path is None:
        return Rejection(
            400, f"The {identity.event_header} header is missing: hookd needs it to know the event."
        )
    check = forge.verify(spec, headers)
    if isinstance(check, Rejection):
        return check
    late = forge.timely(spec, headers, now)
    if late is not None:
        return late
    event = identity.event or ""
    return Reception(spec, forge, headers, kind, event, identity.delivery_id, check)


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    """The event and the forge's delivery id as the headers give them (unverified)."""
    return profile(spec.forge).identify(spec, headers)


def payload_json(content_type: str | None, body: Body) -> Body:
    """The JSON a stored delivery carries: the body, or a form body's payload= field.
    Raises ValueError when there is none."""
    if body_kind(content_type) == FORM:
        found = _form_payload(body)
        if isinstance(found, Rejection):
            raise ValueError(found.reason)
        return found
    return body
