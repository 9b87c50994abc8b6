"""What the profile tests share: run a profile's verification as the receiver does."""

from __future__ import annotations

from collections.abc import Mapping

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec
from hookd.core.forge_profiles import profile


def verdict(spec: EndpointSpec, headers: Mapping[str, str], signed: bytes) -> bool | Rejection:
    """True when the headers and the signed bytes verify for `spec`, False when the
    signature does not match them, or the Rejection the headers alone earned."""
    check = profile(spec.forge).verify(spec, Headers(headers.items()))
    if isinstance(check, Rejection):
        return check
    if check is None:
        return True
    check.update(signed)
    return check.matches()
