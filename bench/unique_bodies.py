"""Signed bodies that differ on every request, so a receiver with replay protection (hookd
answers a body it accepted before `duplicate`) stores every one.

A body is a fixed JSON prefix of whole 64-byte blocks and a fixed-length tail that ends the
JSON: `<prefix>"bench_seq":"<run>-<thread>-<counter>"}`. wrk signs each one in Lua from
HMAC-SHA256 midstates computed here (the inner state after key^ipad and the prefix, the
outer state after key^opad): per request, two SHA-256 compressions, the tail's and the
outer hash's."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

from sha256_midstate import BLOCK, K, State, hmac_midstates

# The same in Python and in Lua.
SEQ_FORMAT = "%s-%04d-%010d"
TAIL_END = '"}'


class UniqueBodies:
    """Bodies built on `base` (a JSON object), each with its own `bench_seq` member; a new
    run id per instance, so two instances never make the same body."""

    def __init__(self, base: bytes) -> None:
        self.run = uuid.uuid4().hex[:8]
        head = json.dumps(json.loads(base), separators=(",", ":"))[:-1] + ',"bench_pad":"'
        seq_key = '","bench_seq":"'
        pad = -(len(head) + len(seq_key)) % BLOCK
        self.prefix = (head + "x" * pad + seq_key).encode()
        self.tail_length = len(self.tail(0, 0))
        if self.tail_length > BLOCK - 9:  # the Lua script signs a tail of one padded block
            raise ValueError(f"a tail of {self.tail_length} bytes needs two blocks")
        self.counter = 0

    def seq(self, thread: int, counter: int) -> str:
        return SEQ_FORMAT % (self.run, thread, counter)

    def tail(self, thread: int, counter: int) -> bytes:
        return (self.seq(thread, counter) + TAIL_END).encode()

    def size(self) -> int:
        return len(self.prefix) + self.tail_length

    def next(self) -> tuple[str, bytes]:
        """A new (seq, body), for senders in Python (thread 0)."""
        self.counter += 1
        return self.seq(0, self.counter), self.prefix + self.tail(0, self.counter)

    def wrk_script(self, folder: Path, secret: str) -> Path:
        """A wrk script posting this run's bodies signed with `secret`, thread n (from 1)
        counting its own; X-GitHub-Delivery is the body's `bench_seq`. The prefix goes in a
        file beside it."""
        prefix_file = folder / f"prefix-{self.run}.json"
        prefix_file.write_bytes(self.prefix)
        script = folder / f"post-{self.run}.lua"
        script.write_text(self.lua(prefix_file, secret))
        return script

    def lua(self, prefix_file: Path, secret: str) -> str:
        inner, outer = hmac_midstates(secret.encode(), self.prefix)
        # Both final blocks end with fixed padding: the messages' lengths are fixed.
        inner_pad = _padding(self.tail_length, BLOCK + self.size())
        outer_pad = _padding(32, BLOCK + 32)
        return LUA.format(
            prefix_file=json.dumps(str(prefix_file)),
            k=_words(K),
            inner=_words(inner),
            outer=_words(outer),
            inner_pad="".join(f"\\{b:03d}" for b in inner_pad),
            outer_pad=_words(_block_words(bytes(32) + outer_pad)[8:]),
            run=json.dumps(self.run),
            seq_format=json.dumps(SEQ_FORMAT),
            tail_end=json.dumps(TAIL_END),
            tail_length=self.tail_length,
        )


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _padding(tail_length: int, total: int) -> bytes:
    zeros = (55 - tail_length) % BLOCK
    return b"\x80" + bytes(zeros) + (total * 8).to_bytes(8, "big")


def _block_words(block: bytes) -> list[int]:
    return [int.from_bytes(block[i : i + 4], "big") for i in range(0, len(block), 4)]


def _words(words: State | list[int]) -> str:
    return ", ".join(f"0x{w:08x}" for w in words)


LUA = """
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local ror, rshift, lshift, tobit, tohex = bit.ror, bit.rshift, bit.lshift, bit.tobit, bit.tohex
local byte, format, concat = string.byte, string.format, table.concat

local K = {{{k}}}
local INNER = {{{inner}}}
local OUTER = {{{outer}}}
local INNER_PAD = "{inner_pad}"
local OUTER_PAD = {{{outer_pad}}}

local file = io.open({prefix_file}, "rb")
local prefix = file:read("*a")
file:close()

-- One SHA-256 compression of the 16 words in w[1..16], from state h into state out.
local w = {{}}
for i = 1, 64 do
  w[i] = 0
end
local function compress(h, out)
  for i = 17, 64 do
    local x, y = w[i - 15], w[i - 2]
    local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
    local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
    w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
  for i = 1, 64 do
    local t1 = hh + bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      + bxor(band(e, f), band(bnot(e), g)) + K[i] + w[i]
    local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c))
    hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  out[1], out[2], out[3], out[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c),
    tobit(h[4] + d)
  out[5], out[6], out[7], out[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g),
    tobit(h[8] + hh)
end

local digest, mac, hex = {{0, 0, 0, 0, 0, 0, 0, 0}}, {{0, 0, 0, 0, 0, 0, 0, 0}}, {{}}
local function sign(tail)
  local block = tail .. INNER_PAD
  for i = 1, 16 do
    local b1, b2, b3, b4 = byte(block, 4 * i - 3, 4 * i)
    w[i] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
  end
  compress(INNER, digest)
  for i = 1, 8 do
    w[i] = digest[i]
    w[i + 8] = OUTER_PAD[i]
  end
  compress(OUTER, mac)
  for i = 1, 8 do
    hex[i] = tohex(mac[i], 8)
  end
  return "sha256=" .. concat(hex)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"

local made = 0
function setup(thread)
  made = made + 1
  thread:set("tid", made)
end

local counter = 0
function request()
  counter = counter + 1
  local seq = format({seq_format}, {run}, tid, counter)
  local tail = seq .. {tail_end}
  assert(#tail == {tail_length})
  wrk.headers["X-GitHub-Delivery"] = seq
  wrk.headers["X-Hub-Signature-256"] = sign(tail)
  wrk.body = prefix .. tail
  return wrk.format()
end
"""
