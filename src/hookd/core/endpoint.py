"""What the core needs to know of a configured endpoint to verify and parse its deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field

from hookd.core.payload_reads import Reads
from hookd.core.standard_webhooks import DEFAULT_TOLERANCE
from hookd.core.vocabulary import Forge

ALGORITHMS = ("sha1", "sha256", "sha512")


@dataclass(frozen=True, slots=True)
class SignatureScheme:
    """A generic endpoint's HMAC: which header, which hash, and what precedes the hex."""

    header: str = "X-Hub-Signature-256"
    algorithm: str = "sha256"
    prefix: str = "sha256="


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """An endpoint as the receiver sees it. `secrets` holds every accepted secret (rotation);
    `reads` what receiving a delivery reads of its payload (config.rules.build_reads)."""

    name: str
    forge: Forge
    secrets: tuple[bytes, ...] = field(default=(), repr=False)
    insecure: bool = False
    legacy_sha1: bool = False
    signature: SignatureScheme = SignatureScheme()
    event_header: str | None = None
    delivery_header: str | None = None
    standard: bool = False
    """Checked as Standard Webhooks (`signature: standard`; always for `forge: standard`)."""
    tolerance: float = DEFAULT_TOLERANCE
    """Seconds a Standard Webhooks timestamp may be from now."""
    reads: Reads = field(default_factory=Reads.everything, repr=False)
