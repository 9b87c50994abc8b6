"""Standard Webhooks (shared/design/FORGES.md §4 "Standard Webhooks"; GitLab's signing token):
`webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, one or more
space-separated `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`, keyed with the
base64 after a `whsec_` secret's prefix. A delivery outside the endpoint's timestamp
tolerance is refused: the receiver passes the current time in, the core reads no clock."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

from hookd.core.delivery import Headers, Rejection

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
HEADERS = frozenset({ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER})
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of a secret, not one
DEFAULT_TOLERANCE = 300.0
"""Seconds a delivery's timestamp may differ from now (the spec's libraries: 5 minutes)."""

_DIGEST_SIZE = hashlib.sha256().digest_size
_TIMESTAMP = re.compile("[0-9]{1,12}")  # ASCII digits only


def signing_key(secret: bytes) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret (`whsec_<base64>`, or the bare base64),
    None when it is not base64."""
    encoded = secret.removeprefix(SECRET_PREFIX.encode())
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return None
    return key or None


class StandardCheck:
    """The HMAC of `{id}.{timestamp}.` and the body fed as it arrives, one per key
    (rotation); it matches when any key's digest equals any signature sent."""

    __slots__ = ("_macs", "_sent")

    def __init__(self, keys: Sequence[bytes], signed_prefix: bytes, sent: Sequence[bytes]) -> None:
        self._macs = [hmac.new(key, signed_prefix, hashlib.sha256) for key in keys]
        self._sent = tuple(sent)

    def update(self, chunk: bytes | bytearray) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def matches(self) -> bool:
        digests = [mac.digest() for mac in self._macs]
        results = [hmac.compare_digest(d, s) for d in digests for s in self._sent]
        return any(results)


def _signatures(value: str) -> list[bytes] | Rejection:
    """The v1 digests in a `webhook-signature` value; other versions (`v1a`) are skipped."""
    found = []
    for item in value.split():
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue
        try:
            digest = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != _DIGEST_SIZE:
            return Rejection(
                401,
                f"The {SIGNATURE_HEADER} header is malformed: expected v1,<base64 HMAC-SHA256>.",
            )
        found.append(digest)
    if not found:
        return Rejection(
            401,
            f"The {SIGNATURE_HEADER} header has no v1 signature: this endpoint checks "
            "Standard Webhooks' v1,<base64 HMAC-SHA256>.",
        )
    return found


def verify(
    secrets: Sequence[bytes], insecure: bool, headers: Headers
) -> StandardCheck | Rejection | None:
    """The check to run over the body, from the headers, or why not (None: an unsigned
    delivery to an insecure endpoint without a secret)."""
    signature = headers.get(SIGNATURE_HEADER)
    if not secrets:
        if signature is None and insecure:
            return None
        return Rejection(401, "This endpoint has no secret configured and is not insecure.")
    if signature is None:
        return Rejection(
            401,
            f"The {SIGNATURE_HEADER} header is missing: this endpoint is configured with a "
            "secret and accepts only signed deliveries.",
        )
    for name in (ID_HEADER, TIMESTAMP_HEADER):
        if not headers.get(name):
            return Rejection(
                401, f"The {name} header is missing: the {SIGNATURE_HEADER} covers it."
            )
    sent = _signatures(signature)
    if isinstance(sent, Rejection):
        return sent
    keys = [key for key in map(signing_key, secrets) if key is not None]
    prefix = f"{headers[ID_HEADER]}.{headers[TIMESTAMP_HEADER]}.".encode()
    return StandardCheck(keys, prefix, sent)


def timely(headers: Headers, now: float, tolerance: float) -> Rejection | None:
    """A Rejection when `webhook-timestamp` is more than `tolerance` seconds from `now`."""
    value = headers.get(TIMESTAMP_HEADER)
    if value is None:
        return None  # unsigned, to an insecure endpoint (verify refused every other case)
    if not _TIMESTAMP.fullmatch(value.strip()):
        return Rejection(401, f"The {TIMESTAMP_HEADER} header is not a Unix time in seconds.")
    skew = int(value) - now
    if skew < -tolerance:
        return Rejection(
            401,
            f"The delivery is too old: its {TIMESTAMP_HEADER} is {int(-skew)} seconds ago, "
            f"more than this endpoint's tolerance of {int(tolerance)} seconds.",
        )
    if skew > tolerance:
        return Rejection(
            401,
            f"The delivery is from the future: its {TIMESTAMP_HEADER} is {int(skew)} seconds "
            f"ahead, more than this endpoint's tolerance of {int(tolerance)} seconds.",
        )
    return None


def sign(secret: bytes, body: bytes, webhook_id: str, timestamp: int) -> dict[str, str]:
    """The headers a Standard Webhooks sender puts on `body` (raises ValueError for a
    secret that is not base64)."""
    key = signing_key(secret)
    if key is None:
        raise ValueError("a Standard Webhooks secret is whsec_ and base64")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"v1,{digest}",
    }
