"""HMAC and shared-token checks. Digests are always compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence


class HmacCheck:
    """An HMAC over bytes fed as they arrive, checked against one expected hex digest.

    With several secrets (rotation) one hasher runs per secret and any one may match.
    """

    __slots__ = ("_expected", "_macs")

    def __init__(self, secrets: Sequence[bytes], algorithm: str, expected_hex: str) -> None:
        digest = getattr(hashlib, algorithm)
        self._macs = [hmac.new(secret, digestmod=digest) for secret in secrets]
        self._expected = expected_hex.lower()

    def update(self, chunk: bytes | bytearray) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def matches(self) -> bool:
        results = [hmac.compare_digest(mac.hexdigest(), self._expected) for mac in self._macs]
        return any(results)


def token_matches(secrets: Sequence[bytes], token: str) -> bool:
    """A shared token (GitLab's `X-Gitlab-Token`) equals one of the secrets."""
    sent = token.encode("utf-8", "surrogateescape")
    results = [hmac.compare_digest(secret, sent) for secret in secrets]
    return any(results)


def sign(secret: bytes, body: bytes, algorithm: str = "sha256") -> str:
    """The hex HMAC of `body`: what a forge puts in its signature header."""
    return hmac.new(secret, body, getattr(hashlib, algorithm)).hexdigest()


_HEX = re.compile("[0-9a-fA-F]+")  # ASCII digits only, unlike str.isdigit or int(x, 16)
_HEX_LENGTHS = {"sha1": 40, "sha256": 64, "sha512": 128}


def is_hex_digest(value: str, algorithm: str) -> bool:
    """`value` is exactly a hex digest of `algorithm`: ASCII hex digits and nothing else
    (`int(value, 16)` would also take `0x`, `_`, a sign, spaces and non-ASCII whitespace,
    and `hmac.compare_digest` raises on non-ASCII text)."""
    return len(value) == _HEX_LENGTHS[algorithm] and _HEX.fullmatch(value) is not None
