"""SHA-256 compression in Python, for HMAC midstates: hashlib does not expose the state
after a block, and wrk's Lua signs each request's body from the state after a fixed
prefix (see `unique_bodies.py`). Checked against hashlib and hmac in
`bench/test_unique_bodies.py`."""

from __future__ import annotations

import struct

BLOCK = 64
MASK = 0xFFFFFFFF

# FIPS 180-4, 4.2.2 and 5.3.3.
K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)  # fmt: skip
IV = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip

State = tuple[int, ...]


def _ror(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & MASK


def compress(state: State, block: bytes) -> State:
    """The state after one 64-byte block."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        s0 = _ror(w[t - 15], 7) ^ _ror(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _ror(w[t - 2], 17) ^ _ror(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & MASK)
    a, b, c, d, e, f, g, h = state
    for t in range(64):
        s1 = _ror(e, 6) ^ _ror(e, 11) ^ _ror(e, 25)
        t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) & MASK
        s0 = _ror(a, 2) ^ _ror(a, 13) ^ _ror(a, 22)
        t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & MASK
        a, b, c, d, e, f, g, h = (t1 + t2) & MASK, a, b, c, (d + t1) & MASK, e, f, g
    return tuple((x + y) & MASK for x, y in zip(state, (a, b, c, d, e, f, g, h), strict=True))


def absorb(state: State, data: bytes) -> State:
    """The state after `data`, whose length must be a multiple of the block size."""
    if len(data) % BLOCK:
        raise ValueError(f"absorb takes whole {BLOCK}-byte blocks, not {len(data)} bytes")
    for start in range(0, len(data), BLOCK):
        state = compress(state, data[start : start + BLOCK])
    return state


def finish(state: State, tail: bytes, total: int) -> bytes:
    """The digest of a message of `total` bytes whose last `len(tail)` bytes are `tail`,
    given the state after all the whole blocks before it."""
    padded = tail + b"\x80" + b"\x00" * ((55 - len(tail)) % BLOCK) + struct.pack(">Q", total * 8)
    return struct.pack(">8I", *absorb(state, padded))


def hmac_midstates(secret: bytes, prefix: bytes) -> tuple[State, State]:
    """HMAC-SHA256's inner state after (key ^ ipad) and `prefix` (whole blocks), and its
    outer state after (key ^ opad): with them, HMAC(secret, prefix + tail) is
    finish(outer, finish(inner, tail, 64 + len(prefix + tail)), 96)."""
    if len(secret) > BLOCK:
        raise ValueError("a secret longer than a block is hashed first; not needed here")
    key = secret.ljust(BLOCK, b"\x00")
    inner = absorb(IV, bytes(k ^ 0x36 for k in key) + prefix)
    outer = compress(IV, bytes(k ^ 0x5C for k in key))
    return inner, outer
