"""What a forge profile says about one forge, and the pieces its profiles share.

A `ForgeProfile` is data: the headers a forge sends, how its deliveries are verified and
signed, which bytes the signature covers, how its event and action names map onto hookd's
(GitHub's), the events it defines and the headers and payload fields that carry a secret.
`hookd.core.forges` receives a delivery for any forge through its profile alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.event_actions import EventActions
from hookd.core.facts import PAYLOAD_FACTS, Facts
from hookd.core.signatures import HmacCheck, is_hex_digest
from hookd.core.vocabulary import Forge

JSON = "json"
FORM = "form"
MEDIA_TYPES = {JSON: "application/json", FORM: "application/x-www-form-urlencoded"}


class SignedBytes(StrEnum):
    """Which bytes a forge's signature covers."""

    BODY = "body"
    """The request body, byte for byte: checked as it streams in."""
    FORM_PAYLOAD = "form_payload"
    """The JSON a form body carries in its `payload=` field (Gitea), or the body when JSON."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What the headers say a request is, before anything is verified: for logs and for
    the metadata kept of a rejected request. `event_header` names where the event is read."""

    event: str | None
    delivery_id: str | None
    event_header: str


class BodyCheck(Protocol):
    """A signature check fed the signed bytes as they arrive (core.signatures.HmacCheck)."""

    def update(self, chunk: bytes | bytearray) -> None: ...

    def matches(self) -> bool: ...


Verify = Callable[[EndpointSpec, Headers], BodyCheck | Rejection | None]
"""From the headers: the check to run over the signed bytes, a Rejection, or None when
nothing needs checking (an unsigned delivery to an insecure endpoint, or a token already
compared here)."""

Sign = Callable[[bytes, bytes, SignatureScheme, float], dict[str, str]]
"""The headers a sender puts on `signed` bytes with `secret` (the scheme: a generic
endpoint's) at `now`, the Unix time (a Standard Webhooks signature covers it)."""

Timely = Callable[[EndpointSpec, Headers, float], Rejection | None]
"""From the headers and `now` (the Unix time the receiver passes in): a Rejection when the
delivery's signed time is outside the endpoint's tolerance (Standard Webhooks)."""


def always_timely(spec: EndpointSpec, headers: Headers, now: float) -> Rejection | None:
    """For forges whose signature covers no time."""
    return None


@dataclass(frozen=True, slots=True)
class ForgeProfile:
    """One forge, as data. Every `forge`-specific decision in hookd is read from here."""

    forge: Forge
    label: str
    """The forge's name in sentences: `GitHub`."""
    identify: Callable[[EndpointSpec, Headers], Identity]
    verify: Verify
    sign: Sign
    signature_header: Callable[[EndpointSpec], str]
    """The header a refusal names when the signature does not match."""
    event_name: Callable[[str, Mapping[str, Any]], str]
    """hookd's event name for the forge's own (the event header's value) and the payload."""
    action: Callable[[str, Mapping[str, Any]], str | None]
    """The action in GitHub's words, from the forge's event name and the payload (some
    forges name it in the event, `pullrequest:created`, others in the payload)."""
    action_reads: tuple[tuple[str, ...], ...]
    """The payload paths `action` reads (a large body is scanned for these only)."""
    known_events: frozenset[str]
    """hookd's names for the events the forge defines: a bounded set for metric labels."""
    signature_headers: frozenset[str]
    """Headers (lower case) that carry a signature or token: `forward:` drops them."""
    secret_headers: frozenset[str] = frozenset()
    """Headers (lower case) that carry the secret itself: never stored."""
    secret_payload_fields: frozenset[str] = frozenset()
    """Top-level payload members that carry the webhook's secret: never shown."""
    signed_bytes: SignedBytes = SignedBytes.BODY
    body_kinds: frozenset[str] = frozenset({JSON, FORM})
    """The content kinds the forge sends (core.forges.body_kind)."""
    signature_scheme: bool = False
    """The endpoint configures its own signature header, hash and prefix (`signature:`)."""
    app_auth: bool = False
    """Its API takes an app's key (`app_id`, `private_key_file`) as well as `api_token`."""
    facts: Facts = PAYLOAD_FACTS
    """Where its payloads keep the repository, the refs and commits (core.facts)."""
    timely: Timely = always_timely
    standard_signature: bool = False
    """The endpoint may take `signature: standard` (Standard Webhooks) instead of the
    forge's own check."""
    delivery_path: tuple[str, ...] | None = None
    """Where the payload names the delivery id, for a forge that sends no delivery header."""
    payload_members: Callable[[str, Mapping[str, Any]], Mapping[str, Any]] | None = None
    """GitHub-shaped members (`repository`, `ref`, `after`, `pull_request`...) for a forge
    whose payload says them elsewhere, from its event name and payload: added to the parsed
    payload where it has no member of that name (core.forges.with_facts)."""
    new_secret: Callable[[bytes], str] = lambda key: key.hex()
    """A new secret in the forge's shape from random bytes (`hookd init`): hex by default."""
    secret_problem: Callable[[bytes], str | None] | None = None
    """Why a configured secret cannot be this forge's (checked at start), or None."""
    standard_always: bool = False
    """The forge signs as Standard Webhooks: its secrets are `whsec_` keys."""
    event_path: tuple[str, ...] | None = None
    """Where the payload names the event, for a forge that sends no event header: the
    event is read from the body, and `event_name` gets that member's value (or `""`)."""
    event_actions: EventActions = field(default_factory=dict)
    """hookd's name of each event the forge sends, to the actions (`types`) it carries
    (core.event_actions). Empty: hookd does not know them, and checks no names in `on:`."""


def first(headers: Headers, *names: str) -> str | None:
    """The value of the first of `names` the request carries."""
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def stripped(event: str | None, delivery: str | None, event_header: str) -> Identity:
    return Identity(
        event=event.strip() if event else None,
        delivery_id=delivery.strip() if delivery else None,
        event_header=event_header,
    )


def prefixed(value: str, prefix: str, algorithm: str, header: str) -> tuple[str, str] | Rejection:
    """(algorithm, hex) from a signature header's value `prefix<hex>`, or why not."""
    value = value.strip()
    if not value.startswith(prefix) or not is_hex_digest(value[len(prefix) :], algorithm):
        shape = f"{prefix}<hex {algorithm}>"
        return Rejection(401, f"The {header} header is malformed: expected {shape}.")
    return algorithm, value[len(prefix) :]


def payload_action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    """The payload's top-level `action` field, when it has one (GitHub)."""
    action = payload.get("action")
    return action if isinstance(action, str) else None


def same_name(forge_event: str, payload: Mapping[str, Any]) -> str:
    """For forges that send GitHub's event names."""
    return forge_event


def hmac_check(
    spec: EndpointSpec, sent: tuple[str, str] | Rejection | None, expected_header: str
) -> HmacCheck | Rejection | None:
    """The HMAC check for a signature `sent` as (algorithm, hex), None when unsigned;
    `expected_header` is named when a signature is required and missing."""
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
            f"The {expected_header} header is missing: this endpoint "
            "is configured with a secret and accepts only signed deliveries.",
        )
    algorithm, hex_digest = sent
    return HmacCheck(spec.secrets, algorithm, hex_digest)
