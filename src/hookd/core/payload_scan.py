"""Read the parts of a JSON body that a `Reads` names, without parsing the rest.

A webhook body may be 25 MB. `orjson.loads` of it builds every value at once, which for
one huge string peaks at twice that string's size on top of the body's buffer. hookd
reads only a few paths at receive time, so `read_json` scans the bytes, validates the
whole document, and hands `orjson.loads` only the values the `Reads` takes whole (a
zero-copy `memoryview` slice each), so what it builds is exactly what orjson would build.

Skipping is done by regular expressions over the buffer, which `re` matches without
copying it. Every quantifier is possessive or atomic, so the regex engine keeps no
backtracking state that grows with the input: skipping a 25 MB string costs O(1) memory.
One match skips a run of members and any containers nested up to `_NESTED` levels inside
them; deeper containers are followed with an explicit stack, not Python recursion, so
Python does work per container rather than per byte.

The validation matches orjson: the RFC 8259 grammar, the escapes it allows (a lone or
misordered surrogate escape is an error, as in orjson), no raw control characters in
strings, strictly valid UTF-8 anywhere, at most `MAX_DEPTH` nested containers, and numbers
orjson can parse (a number too large for a double is an error: such numbers are rare,
and orjson itself is asked about each of them). Only the error messages differ from
orjson's; ours name the fault's byte offset. When a document has several faults, the
first invalid UTF-8 sequence is reported before any grammar fault.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final

import orjson

from hookd.core.payload_reads import Reads

MAX_DEPTH: Final = 1024
"""The most containers that may be open at once, as in orjson."""

_NESTED: Final = 3
"""How many levels of nested containers one regex match may skip. Enough for a push's
`commits` list (list, commit, author) to be skipped in one match; each level doubles the
pattern's size."""

_UTF8_SLICE: Final = 256 * 1024
_OBJECT: Final = ord("{")
_ARRAY: Final = ord("[")
_CLOSERS: Final = {_OBJECT: ord("}"), _ARRAY: ord("]")}
_COMMA: Final = ord(",")
_COLON: Final = ord(":")
_QUOTE: Final = ord('"')
_MINUS: Final = ord("-")
_BACKSLASH: Final = ord("\\")

_WS: Final = rb"[ \t\n\r]*+"
_HEX: Final = rb"[0-9a-fA-F]"
_SURROGATE_ESCAPE: Final = rb"\\u[dD][89a-fA-F]" + _HEX + rb"{2}"
_ESCAPE: Final = (
    rb'\\(?:["\\/bfnrt]|u(?:[dD][89abAB]' + _HEX + rb"{2}\\u[dD][c-fC-F]" + _HEX + rb"{2}"
    rb"|(?![dD][89a-fA-F])" + _HEX + rb"{4}))"
)
_CHARS: Final = rb'[^"\\\x00-\x1f]*+'
_STRING_PREFIX: Final = rb'"' + _CHARS + rb"(?:" + _ESCAPE + _CHARS + rb")*+"
# `_STRING_PREFIX` then the closing quote, spelled so that a string without escapes costs
# the regex engine no repeat of the escapes.
_STRING: Final = rb'"' + _CHARS + rb'(?:"|(?:' + _ESCAPE + _CHARS + rb')++")'
_PLAIN_STRING: Final = rb'"' + _CHARS + rb'"'
# Numbers small enough that no double overflows; any other number goes to orjson. The
# lookahead makes a match the whole number, not a prefix of a longer or invalid one.
_SAFE_NUMBER: Final = (
    rb"-?+(?:0|[1-9][0-9]{0,15}+)(?:\.[0-9]{1,32}+)?+(?:[eE][+-]?+[0-9]{1,2}+)?+(?![0-9.eE])"
)
_SCALAR: Final = rb"(?>" + _STRING + rb"|" + _SAFE_NUMBER + rb"|true|false|null)"

_WS_RE: Final = re.compile(_WS)
_STRING_RE: Final = re.compile(_STRING)
_KEY_RE: Final = re.compile(rb"(?P<key>" + _STRING + rb")" + _WS + b":" + _WS)
_STRING_PREFIX_RE: Final = re.compile(_STRING_PREFIX)
_SURROGATE_ESCAPE_RE: Final = re.compile(_SURROGATE_ESCAPE)
_NUMBER_RE: Final = re.compile(rb"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+")
_LITERAL_START: Final = frozenset(b"tfn")


class JSONScanError(ValueError):
    """The bytes are not one valid JSON document; str() names the fault and its byte offset."""


def read_json(data: bytes | bytearray | memoryview, reads: Reads) -> Any:
    """The JSON value of `data` with only what `reads` names built; the rest is validated.

    Raises `JSONScanError` if `data` is not a document `orjson.loads` would accept.
    """
    with memoryview(data) as outer, outer.cast("B") as view:
        _check_utf8(view)
        value, end = _read(view, _skip_ws(view, 0), _Plan.of(reads), 0)
        end = _skip_ws(view, end)
        if end < len(view):
            raise _unexpected(view, end, "nothing after the JSON value")
        return value


def _check_utf8(view: memoryview) -> None:
    """Decode slice by slice so memory stays bounded whatever the document's size."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(view), _UTF8_SLICE):
        pending = len(decoder.getstate()[0])
        stop = start + _UTF8_SLICE
        try:
            decoder.decode(view[start:stop], final=stop >= len(view))
        except UnicodeDecodeError as error:
            raise JSONScanError(f"invalid UTF-8 at byte {start - pending + error.start}") from None


@dataclass(frozen=True, slots=True, eq=False)
class _Plan:
    """A `Reads` made ready to scan with: int keys dropped, as they change nothing."""

    whole: bool
    keys: dict[str, _Plan]
    each: _Plan | None
    encoded_keys: tuple[bytes, ...]
    longest_key: int
    """The most bytes a key equal to one of `keys` may span, quotes included."""

    @classmethod
    def of(cls, reads: Reads) -> _Plan:
        keys = {key: cls.of(sub) for key, sub in reads.keys.items() if isinstance(key, str)}
        # A key with a lone surrogate equals no JSON key, and must not fail to encode.
        encoded = tuple(sorted(key.encode(errors="surrogatepass") for key in keys))
        each = None if reads.each is None else cls.of(reads.each)
        # An escape spells one UTF-8 byte in at most six bytes (`\u0041` for `A`).
        longest = 6 * max(map(len, encoded), default=0) + 2
        return cls(reads.whole, keys, each, encoded, longest)


def _read(view: memoryview, pos: int, plan: _Plan, depth: int) -> tuple[Any, int]:
    """The value at `pos` read with `plan`, and where it ends; `depth` containers hold it."""
    first = view[pos] if pos < len(view) else None
    if not plan.whole:
        if first == _OBJECT and plan.each is None:
            return _read_object(view, pos, plan, depth + 1)
        if first == _ARRAY and plan.each is not None:
            return _read_array(view, pos, plan.each, depth + 1)
    end = _skip(view, pos, depth)
    try:
        return orjson.loads(view[pos:end]), end
    except orjson.JSONDecodeError as error:
        # The scan validated these bytes; should orjson still refuse them, it is the judge.
        raise JSONScanError(f"{error.msg} in the value at byte {pos}") from None


def _read_object(view: memoryview, pos: int, plan: _Plan, depth: int) -> tuple[Any, int]:
    run = _object_run(plan.encoded_keys, _levels(depth))
    result: dict[str, Any] = {}
    pos, closed = _open(view, pos, depth)
    while not closed:
        match = _run(run, view, pos)
        if match.start("close") >= 0:
            return result, match.end()
        key_start = match.end()
        key_end, pos = _member_key(view, key_start)
        key = None
        if key_end - key_start <= plan.longest_key:
            key = orjson.loads(view[key_start:key_end])
        if key in plan.keys:
            result[key], pos = _read(view, pos, plan.keys[key], depth)
        else:
            pos = _skip(view, pos, depth)
        pos, closed = _after_member(view, pos, _CLOSERS[_OBJECT])
    return result, pos


def _read_array(view: memoryview, pos: int, each: _Plan, depth: int) -> tuple[Any, int]:
    items: list[Any] = []
    pos, closed = _open(view, pos, depth)
    while not closed:
        item, pos = _read(view, pos, each, depth)
        items.append(item)
        pos, closed = _after_member(view, pos, _CLOSERS[_ARRAY])
    return items, pos


def _skip(view: memoryview, pos: int, depth: int) -> int:
    """Validate the value at `pos`, which `depth` containers hold, and return its end."""
    closers = bytearray()
    pos, complete = _skip_value(view, pos, depth, closers)
    at_member = not complete
    while closers:
        closer = closers[-1]
        level = depth + len(closers)
        if not at_member:
            pos, closed = _after_member(view, pos, closer)
            if closed:
                closers.pop()
            at_member = not closed
            continue
        if closer == _CLOSERS[_ARRAY]:
            match = _run(_array_run(_levels(level)), view, pos)
        else:
            match = _run(_object_run((), _levels(level)), view, pos)
        pos = match.end()
        if match.start("close") >= 0:
            closers.pop()
            at_member = False
            continue
        if closer == _CLOSERS[_OBJECT]:
            pos = _member_key(view, pos)[1]
        pos, complete = _skip_value(view, pos, level, closers)
        at_member = not complete
    return pos


def _skip_value(view: memoryview, pos: int, depth: int, closers: bytearray) -> tuple[int, bool]:
    """Skip the value at `pos` if one match can, else open its container onto `closers`.

    Returns where the scan goes on, and whether the value is complete there.
    """
    match = _value_pattern(_levels(depth)).match(view, pos)
    if match:
        return match.end(), True
    first = view[pos] if pos < len(view) else None
    if first is None or first not in _CLOSERS:
        return _scalar_end(view, pos), True
    pos, closed = _open(view, pos, depth + 1)
    if not closed:
        closers.append(_CLOSERS[first])
    return pos, closed


def _open(view: memoryview, pos: int, depth: int) -> tuple[int, bool]:
    """Enter the container at `pos`, the `depth`th open one.

    Returns its first member's position, or, if it is empty, its end and True.
    """
    if depth > MAX_DEPTH:
        raise JSONScanError(f"containers nested deeper than {MAX_DEPTH} at byte {pos}")
    closer = _CLOSERS[view[pos]]
    pos = _skip_ws(view, pos + 1)
    if pos < len(view) and view[pos] == closer:
        return pos + 1, True
    return pos, False


def _after_member(view: memoryview, pos: int, closer: int) -> tuple[int, bool]:
    """Past the comma after a member, or past the `closer` and True."""
    pos = _skip_ws(view, pos)
    if pos < len(view) and view[pos] == closer:
        return pos + 1, True
    if pos >= len(view) or view[pos] != _COMMA:
        raise _unexpected(view, pos, f"',' or '{chr(closer)}'")
    pos = _skip_ws(view, pos + 1)
    # A run of members takes a closer where it starts: this one would close after a comma.
    if pos < len(view) and view[pos] == closer:
        raise _unexpected(view, pos, "a value" if closer == _CLOSERS[_ARRAY] else "a string key")
    return pos, False


def _member_key(view: memoryview, pos: int) -> tuple[int, int]:
    """Where the key at `pos` ends, and where its member's value starts."""
    match = _KEY_RE.match(view, pos)
    if match:
        return match.end("key"), match.end()
    key_end = _string_end(view, pos)
    return key_end, _after_colon(view, key_end)


def _after_colon(view: memoryview, pos: int) -> int:
    pos = _skip_ws(view, pos)
    if pos < len(view) and view[pos] == _COLON:
        return _skip_ws(view, pos + 1)
    raise _unexpected(view, pos, "':'")


def _skip_ws(view: memoryview, pos: int) -> int:
    return _run(_WS_RE, view, pos).end()


def _string_end(view: memoryview, pos: int) -> int:
    match = _STRING_RE.match(view, pos)
    if match:
        return match.end()
    if pos < len(view) and view[pos] == _QUOTE:
        raise _string_error(view, pos)
    raise _unexpected(view, pos, "a string key")


def _scalar_end(view: memoryview, pos: int) -> int:
    """The end of a scalar that no fast pattern took: a long number, or a fault."""
    first = view[pos] if pos < len(view) else None
    if first == _QUOTE:
        raise _string_error(view, pos)
    number = _NUMBER_RE.match(view, pos)
    if number:
        try:
            orjson.loads(view[pos : number.end()])
        except orjson.JSONDecodeError:
            raise JSONScanError(f"number too large at byte {pos}") from None
        return number.end()
    if first == _MINUS:
        raise JSONScanError(f"invalid number at byte {pos}")
    if first in _LITERAL_START:
        raise JSONScanError(f"invalid literal at byte {pos}")
    raise _unexpected(view, pos, "a value")


def _string_error(view: memoryview, start: int) -> JSONScanError:
    at = _run(_STRING_PREFIX_RE, view, start).end()
    if at >= len(view):
        return JSONScanError(f"unterminated string starting at byte {start}")
    if view[at] == _BACKSLASH:
        if _SURROGATE_ESCAPE_RE.match(view, at):
            return JSONScanError(f"unpaired surrogate escape at byte {at}")
        return JSONScanError(f"invalid escape at byte {at}")
    return JSONScanError(f"control character 0x{view[at]:02x} in a string at byte {at}")


def _unexpected(view: memoryview, pos: int, expected: str) -> JSONScanError:
    if pos >= len(view):
        return JSONScanError(f"unexpected end of data at byte {pos}, expected {expected}")
    byte = view[pos]
    found = f"character {chr(byte)!r}" if 0x20 < byte < 0x7F else f"byte 0x{byte:02x}"
    return JSONScanError(f"unexpected {found} at byte {pos}, expected {expected}")


def _run(pattern: re.Pattern[bytes], view: memoryview, pos: int) -> re.Match[bytes]:
    match = pattern.match(view, pos)
    assert match is not None, "the pattern matches the empty string"
    return match


def _levels(depth: int) -> int:
    """How deep one match may nest containers inside `depth` open ones."""
    return min(_NESTED, MAX_DEPTH - depth)


def _item(levels: int) -> bytes:
    """A pattern for a value whose containers nest at most `levels` deep."""
    item = _SCALAR
    for _ in range(levels):
        array = rb"\[" + _WS + _members(item, rb"\]") + rb"\]"
        member = _STRING + _WS + b":" + _WS + item
        obj = rb"\{" + _WS + _members(member, rb"\}") + rb"\}"
        item = rb"(?>" + _SCALAR + b"|" + array + b"|" + obj + b")"
    return item


def _members(member: bytes, closer: bytes) -> bytes:
    """Members, each followed by a comma (not one before the closer) or by the closer,
    which it leaves for the caller.

    Matching each member once, rather than all but the last and then the last, keeps a
    long last member from being scanned twice.
    """
    after = rb"(?:," + _WS + rb"(?!" + closer + rb")|(?=" + closer + rb"))"
    return rb"(?:" + member + _WS + after + rb")*+"


@cache
def _value_pattern(levels: int) -> re.Pattern[bytes]:
    return re.compile(_item(levels))


@cache
def _array_run(levels: int) -> re.Pattern[bytes]:
    return re.compile(_members(_item(levels), rb"\]") + rb"(?P<close>\])?")


@lru_cache(maxsize=64)
def _object_run(excluded: tuple[bytes, ...], levels: int) -> re.Pattern[bytes]:
    """The run of an object's members; with keys `excluded`, of those with an unescaped
    key that is none of them (a member it stops at may still be one to skip).

    Compiling one takes tens of milliseconds, hence the cache: a deployment reads with a
    few `Reads`, each with a few objects read by key.
    """
    key = _STRING
    if excluded:
        key = rb'(?!"(?:' + b"|".join(map(re.escape, excluded)) + rb')")' + _PLAIN_STRING
    member = key + _WS + b":" + _WS + _item(levels)
    return re.compile(_members(member, rb"\}") + rb"(?P<close>\})?")
