"""read_json validates a document exactly as orjson does and builds only what a Reads names."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import CORPUS
from hookd.core.payload_reads import EACH, Reads
from hookd.core.payload_scan import MAX_DEPTH, JSONScanError, read_json

CORPUS_FILES = sorted(CORPUS.rglob("*.json"))

PUSH_READS = Reads.of([("ref",), ("repository", "full_name"), ("commits", EACH, "added")])
PARTIAL_READS = [
    PUSH_READS,
    Reads.of([("action",), ("sender", "login"), ("pull_request", "head", "sha")]),
    Reads.of([("object_kind",), ("project", "path_with_namespace")]),
    Reads.of([("commits", EACH, "author", "email"), ("commits", 0, "id")]),
    Reads.of([("repository",), ("labels", EACH)]),
    Reads(),
]


def prune(value: Any, reads: Reads) -> Any:
    """The reference: what read_json must give, computed from orjson's whole value."""
    if reads.whole:
        return value
    if isinstance(value, dict):
        if reads.each is not None:
            return value
        return {
            key: prune(item, reads.keys[key]) for key, item in value.items() if key in reads.keys
        }
    if isinstance(value, list) and reads.each is not None:
        return [prune(item, reads.each) for item in value]
    return value


def assert_agrees_with_orjson(data: bytes) -> None:
    """Both accept with the same values for every read, or both reject."""
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:
        for reads in [Reads.everything(), *PARTIAL_READS]:
            with pytest.raises(JSONScanError):
                read_json(data, reads)
        return
    assert read_json(data, Reads.everything()) == whole
    for reads in PARTIAL_READS:
        assert read_json(data, reads) == prune(whole, reads)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda path: str(path.relative_to(CORPUS)))
def test_corpus_file_reads_like_orjson(path: Path) -> None:
    assert_agrees_with_orjson(path.read_bytes())


SEMANTICS = [
    (
        b'{"a": 1, "b": [2], "c": {"d": 3}}',
        Reads.of([("b",), ("c", "d")]),
        {"b": [2], "c": {"d": 3}},
    ),
    (b'{"a": 1}', Reads.of([("missing",)]), {}),
    (b'{"a": {"b": 1, "c": 2}}', Reads.of([("a", "b")]), {"a": {"b": 1}}),
    (b'{"a": [1, 2]}', Reads.of([("a", 0)]), {"a": [1, 2]}),
    (b'{"a": [{"b": 1, "c": 2}, 3, [4]]}', Reads.of([("a", EACH, "b")]), {"a": [{"b": 1}, 3, [4]]}),
    (b'{"a": {"b": 1}}', Reads.of([("a", EACH, "b")]), {"a": {"b": 1}}),
    (b'{"a": "s", "b": 2}', Reads.of([("a", "x"), ("b", EACH)]), {"a": "s", "b": 2}),
    (b'{"a": 1}', Reads(), {}),
    (b"[1, {}]", Reads(), [1, {}]),
    (b'"s"', Reads(), "s"),
    (b"null", Reads.of([("a",)]), None),
    (b"[]", Reads(each=Reads()), []),
    (b"{}", Reads.of([("a",)]), {}),
    (b'{"a": 1, "a": 2}', Reads.of([("a",)]), {"a": 2}),
    (b'{"a": {"x": 1}, "a": {"y": 2}}', Reads.of([("a", "x")]), {"a": {}}),
    (b'{"a\\u0062": 1, "ab": 2, "c": 3}', Reads.of([("ab",)]), {"ab": 2}),
    (b'{"\\u0061\\u0062": 1}', Reads.of([("ab",)]), {"ab": 1}),
    (b'{"\\u00e9": 1, "\xc3\xa9t\xc3\xa9": 2}', Reads.of([("é",), ("été",)]), {"é": 1, "été": 2}),
    (b'{"ref": 1, "refs": 2, "re": 3, "": 4}', Reads.of([("ref",), ("",)]), {"ref": 1, "": 4}),
    (b'{"0": 1, "1": 2}', Reads(keys={0: Reads.everything()}), {}),
    (b'{"q\\"k": 1}', Reads.of([('q"k',)]), {'q"k': 1}),
    (b'{"a": 1}', Reads.of([("\ud800",)]), {}),
    (
        b'{"c": [{"a": [{"x": 1, "y": 2}], "b": 0}, {"a": []}]}',
        Reads.of([("c", EACH, "a", EACH, "x")]),
        {"c": [{"a": [{"x": 1}]}, {"a": []}]},
    ),
]


@pytest.mark.parametrize(("data", "reads", "expected"), SEMANTICS)
def test_reads_only_the_named_parts(data: bytes, reads: Reads, expected: Any) -> None:
    assert read_json(data, reads) == expected
    assert prune(orjson.loads(data), reads) == expected


def sliced_view(data: bytes) -> memoryview:
    return memoryview(b"[1, " + data + b"]")[4:-1]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, sliced_view])
def test_accepts_any_bytes_like_input(kind: Any) -> None:
    data = kind(b'{"ref": "main", "n": [1]}')
    assert read_json(data, Reads.of([("ref",)])) == {"ref": "main"}


def test_releases_a_bytearray_so_it_can_grow_again() -> None:
    data = bytearray(b'{"a": [1, 2]}')
    read_json(data, Reads.everything())
    data.extend(b" ")
    assert read_json(data, Reads.everything()) == {"a": [1, 2]}


VALUE_FAULTS = [
    b"[1,]",
    b"[1,,2]",
    b"[,1]",
    b"[1 2]",
    b"[1}",
    b'{"a": 1,}',
    b'{"a" 1}',
    b'{"a":}',
    b'{"a": 1 "b": 2}',
    b"{a: 1}",
    b"{'a': 1}",
    b"{1: 1}",
    b"'a'",
    b"01",
    b"-01",
    b"-",
    b"-a",
    b"1.",
    b".5",
    b"1e",
    b"1e+",
    b"+1",
    b"1.e5",
    b"0x10",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"tru",
    b"True",
    b"nul",
    b"falsey",
    b'"a\x01b"',
    b'"tab\there"',
    b'"\x7f\x00"',
    b'"\\x41"',
    b'"\\u12"',
    b'"\\u12G4"',
    b'"\\U0041"',
    b'"\\ud800"',
    b'"\\udc00"',
    b'"\\ud800\\u0041"',
    b'"\\ud800\\ud800"',
    b'"\\',
    b'"abc',
    b'"\xff"',
    b'"\xc0\xaf"',
    b'"\xe0\x80\xaf"',
    b'"\xed\xa0\x80"',
    b'"\xf4\x90\x80\x80"',
    b'"\xe2\x82"',
    b'"\x80"',
    b"\xff",
    b"1e400",
    b"-1e400",
    b"1" + b"0" * 400,
    b"1.7976931348623159e308",
    b"/* c */ 1",
    b"// c\n1",
    b"\x0c1",
    b"\xc2\xa01",
    b"[1]]",
    b"{}}",
]

SKIPPED_TEMPLATES = [
    b'{"ref": "main", "skipped": %b, "after": [1, {"b": 2}]}',
    b'{"ref": "main", "skipped": {"x": [[{"y": %b}], 1]}, "after": 1}',
    b'{"skipped": %b, "ref": "main"}',
    b'{"ref": "main", "skipped": [{"a": 1, "b": [2, 3]}, {"c": %b}]}',
]
READ_TEMPLATES = [
    b'{"ref": %b}',
    b'{"commits": [{"added": %b}]}',
    b'{"ref": "main", "repository": {"x": 1, "full_name": %b}}',
    b"%b",
]


@pytest.mark.parametrize("template", SKIPPED_TEMPLATES + READ_TEMPLATES)
@pytest.mark.parametrize("fault", VALUE_FAULTS, ids=repr)
def test_rejects_a_fault_wherever_it_is(template: bytes, fault: bytes) -> None:
    data = template % fault
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(data)
    for reads in [Reads.everything(), *PARTIAL_READS]:
        with pytest.raises(JSONScanError):
            read_json(data, reads)


DOCUMENT_FAULTS = [
    b"",
    b" ",
    b"\n\t\r ",
    b"\xef\xbb\xbf{}",
    b"{} x",
    b"{}{}",
    b"1 2",
    b'{"ref": "main"}\x00',
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
    b'{"ref": 1, "deep": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
    b'{"ref": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
    b'{"ref": 1, "a": [{"b": ' + b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2) + b"}]}",
]


@pytest.mark.parametrize("data", DOCUMENT_FAULTS, ids=lambda data: repr(data[:30]))
def test_rejects_an_invalid_document(data: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(data)
    for reads in [Reads.everything(), *PARTIAL_READS]:
        with pytest.raises(JSONScanError):
            read_json(data, reads)


SAMPLE = (
    b'{"ref": "refs/heads/main", "repository": {"full_name": "a/b", "id": 12, "x": null},'
    b' "commits": [{"id": "c1", "added": ["a.py", "\\u00e9"], "n": -1.5e-3}, {"added": []}],'
    b' "deep": [[{"k": [true, false]}]], "s": "q\\"\\\\\\/\\b\\f\\n\\r\\t\\ud83d\\ude00"}'
)


def test_rejects_every_truncation() -> None:
    for end in range(len(SAMPLE)):
        with pytest.raises(JSONScanError):
            read_json(SAMPLE[:end], PUSH_READS)


@pytest.mark.parametrize(
    "byte", [b",", b"]", b"}", b'"', b":", b"x", b"\\", b"\x00", b"\xff", b"1"]
)
def test_agrees_with_orjson_when_any_byte_is_replaced(byte: bytes) -> None:
    for at in range(len(SAMPLE)):
        assert_agrees_with_orjson(SAMPLE[:at] + byte + SAMPLE[at + 1 :])


def test_agrees_with_orjson_when_any_byte_is_removed() -> None:
    for at in range(len(SAMPLE)):
        assert_agrees_with_orjson(SAMPLE[:at] + SAMPLE[at + 1 :])


VALID_VALUES = [
    b"{}",
    b"[]",
    b"{ }",
    b"[ \n ]",
    b'""',
    b'"\\u0000\\u001f\\u00e9\\uFFFF\\uffFe"',
    b'"\\ud83d\\ude00\\uD83D\\uDE00\\udbff\\udfff"',
    b'"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    b'"\x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbe \xf4\x8f\xbf\xbf"',
    b"0",
    b"-0",
    b"-0.0e-0",
    b"1E+2",
    b"1e-400",
    b"0e99999",
    b"123456789012345678901234567890",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"1.7976931348623157e308",
    b"0." + b"0" * 400 + b"1e400",
    b"3.14159265358979323846264338327950288419716939937510",
    b"1e099",
    b"true",
    b"false",
    b"null",
    b' \t\n\r[ \t\n\r1 \t\n\r, \t\n\r{ \t\n\r"a" \t\n\r: \t\n\r2 \t\n\r} \t\n\r] \t\n\r',
    b'[[[[["deep"]]]], {"a": {"b": {"c": {"d": [1]}}}}]',
    b'[{"a": ' * 200 + b"[]" + b"}]" * 200,
]


@pytest.mark.parametrize("template", SKIPPED_TEMPLATES + READ_TEMPLATES)
@pytest.mark.parametrize("value", VALID_VALUES, ids=lambda value: repr(value[:30]))
def test_accepts_what_orjson_accepts(template: bytes, value: bytes) -> None:
    assert_agrees_with_orjson(template % value)


def depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, list | dict) and value:
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return depth + (1 if value in ([], {}) else 0)


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_accepts_nesting_up_to_the_limit(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    data = opener * MAX_DEPTH + b"1" + closer * MAX_DEPTH
    assert depth_of(orjson.loads(data)) == MAX_DEPTH
    assert depth_of(read_json(data, Reads.everything())) == MAX_DEPTH
    partial = read_json(data, Reads.of([("b",)]))
    if opener == b"[":
        assert depth_of(partial) == MAX_DEPTH
    else:
        assert partial == {}
    wrapped = b'{"ref": 1, "deep": ' + opener * (MAX_DEPTH - 1) + b"1" + closer * (MAX_DEPTH - 1)
    assert read_json(wrapped + b"}", Reads.of([("ref",)])) == {"ref": 1}


def traced_peak(data: bytes, reads: Reads) -> int:
    read_json(b'{"ref": "", "x": ""}', reads)
    tracemalloc.start()
    try:
        read_json(data, reads)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HUGE = 25 * 2**20


@pytest.fixture(scope="module")
def huge_string() -> Iterator[bytes]:
    """A document with a 25 MiB string member, made once and freed after this module."""
    yield b'{"ref": "refs/heads/main", "blob": "' + b"x" * HUGE + b'", "after": [1, {"a": 2}]}'


def test_skipping_a_huge_string_allocates_little(huge_string: bytes) -> None:
    assert traced_peak(huge_string, Reads.of([("ref",)])) < 3 * 2**20
    assert traced_peak(huge_string, Reads.of([("after",)])) < 3 * 2**20


def test_reading_a_huge_string_allocates_it(huge_string: bytes) -> None:
    assert traced_peak(huge_string, Reads.of([("blob",)])) > HUGE


def test_skips_and_reads_a_string_of_many_escapes() -> None:
    text = b'a\\n\\u00e9\\"' * 200_000
    data = b'{"ref": "main", "text": "' + text + b'", "n": 1}'
    assert read_json(data, Reads.of([("ref",)])) == {"ref": "main"}
    assert traced_peak(data, Reads.of([("ref",)])) < 2**20
    assert read_json(data, Reads.of([("text",)])) == {"text": 'a\né"' * 200_000}
    with pytest.raises(JSONScanError, match=f"at byte {len(data) - 10}"):
        read_json(data[:-10] + b"\\x" + data[-8:], Reads.of([("ref",)]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": [1,,2]}', "unexpected character ',' at byte 9"),
        (b'{"ref": "x", "a": [1 2]}', "unexpected character '2' at byte 21, expected ',' or ']'"),
        (b'{"a": "\xc3\xa9\xff"}', "invalid UTF-8 at byte 9"),
        (b'["ok", "bad \\q"]', "invalid escape at byte 12"),
        (b'["\\udc00"]', "unpaired surrogate escape at byte 2"),
        (b'["a\nb"]', "control character 0x0a in a string at byte 3"),
        (b'{"a": "unterminated', "unterminated string starting at byte 6"),
        (b"[1e999]", "number too large at byte 1"),
        (b"[" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} at byte {MAX_DEPTH}"),
        (b"[1] 2", "unexpected character '2' at byte 4"),
        (b"", "unexpected end of data at byte 0"),
        (b"[tru]", "invalid literal at byte 1"),
    ],
)
def test_error_names_the_fault_and_its_byte_offset(data: bytes, message: str) -> None:
    for reads in [Reads.everything(), Reads.of([("ref",)])]:
        with pytest.raises(JSONScanError, match=re.escape(message)):
            read_json(data, reads)


UTF8_PREFIX = b'{"ref": 1, "s": "'
# UTF-8 is checked in slices of 256 KiB: these put a sequence's start at and before one's end.
NEAR_SLICE_ENDS = [
    start - len(UTF8_PREFIX)
    for start in [len(UTF8_PREFIX), 2**16 - 1, *range(2**18 - 4, 2**18 + 1), 2**20 - 2]
]


@pytest.mark.parametrize("offset", NEAR_SLICE_ENDS)
@pytest.mark.parametrize("sequence", [b"\xff", b"\xe2\x82x", b"\xc3\xa9\xa9", b"\xf0\x9f\x98"])
def test_reports_invalid_utf8_at_its_offset(offset: int, sequence: bytes) -> None:
    data = UTF8_PREFIX + b"a" * offset + sequence + b'"}'
    with pytest.raises(UnicodeDecodeError) as error:
        data.decode()
    with pytest.raises(JSONScanError, match=f"^invalid UTF-8 at byte {error.value.start}$"):
        read_json(data, Reads.of([("ref",)]))


@pytest.mark.parametrize("offset", NEAR_SLICE_ENDS)
def test_accepts_characters_across_slice_ends(offset: int) -> None:
    data = UTF8_PREFIX + b"a" * offset + "é€😀".encode() + b'"}'
    assert read_json(data, Reads.everything()) == orjson.loads(data)
    assert read_json(data, Reads.of([("ref",)])) == {"ref": 1}


def test_scan_error_is_a_value_error() -> None:
    assert issubclass(JSONScanError, ValueError)
