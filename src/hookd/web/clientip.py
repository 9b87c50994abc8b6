"""The address a request came from, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from hookd.config.model import IPNetwork

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[IPNetwork]
) -> str | None:
    """The client: the peer, or, when the peer is a trusted proxy, the rightmost address in
    X-Forwarded-For that is not itself a trusted proxy (the left part can be forged)."""
    if not peer or not forwarded_for or not proxies:
        return peer
    address = _parse(peer)
    if address is None or not _trusted(address, proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        parsed = _parse(hop)
        if parsed is None:
            return str(address)
        address = parsed
        if not _trusted(address, proxies):
            return str(address)
    return str(address)


def is_allowed(client: str | None, allowed: Sequence[IPNetwork]) -> bool:
    address = _parse(client) if client else None
    return address is not None and any(address in network for network in allowed)
