"""The reader parses lines with orjson where it gives json's result, and with json everywhere else: the
conversations and findings are the same with and without orjson."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolset.data import readers

pytest.importorskip("orjson")

NUMBERS = (
    st.integers()
    | st.integers(min_value=2**63 - 3, max_value=2**64 + 3)
    | st.integers(min_value=-(2**63) - 3, max_value=-(2**63) + 3)
    | st.floats()
)
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
EDGE_TEXTS = [
    '{"a": 1, "b": 2, "a": 3}',
    "[123456789012345678901234567890]",
    "[18446744073709551616, -9223372036854775809]",
    "[NaN, Infinity, -Infinity]",
    "[1e400, -1e400, 1e-400]",
    '["\\ud800", "\\udc00\\ud800"]',
    '{"x": "\\u0000\\/\\n"}',
    "[" * 2000 + "]" * 2000,
    "",
    "   ",
    "[1,]",
    '{"a": 1} x',
    "[0.1, 0.30000000000000004, 5e-324, 1.7976931348623157e308, -0.0]",
]


def agrees(text: str) -> None:
    fast = readers._fast_loads(text)
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError):
        assert fast is readers._FAILED
        return
    if fast is not readers._FAILED:
        assert repr(fast) == repr(expected) and type(fast) is type(expected)
        assert json.dumps(fast) == json.dumps(expected)  # key order too


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans())
def test_orjson_result_is_jsons_or_declined(value, ascii_only):
    agrees(json.dumps(value, ensure_ascii=ascii_only))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE-+ntrufalsNIy\\u\t\n ', max_size=40))
def test_orjson_on_arbitrary_text(text):
    agrees(text)


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_orjson_edge_cases(text):
    agrees(text)


def read_all(path, monkeypatch, *, orjson: bool) -> list:
    if not orjson:
        monkeypatch.setattr(readers, "_orjson_loads", None)
    findings: list = []
    out = [attrs.asdict(c) for c in readers.read_conversations(path, findings=findings)]
    monkeypatch.undo()
    return [repr(item) for item in out + [attrs.asdict(f) for f in findings]]


def test_reader_gives_the_same_with_and_without_orjson(tmp_path, monkeypatch):
    call = {"id": "c1", "type": "function", "function": {"name": "t", "arguments": '{"n": 123456789012345678901234}'}}
    good = {"conversations": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [call]}]}
    line = json.dumps(good)
    lines = [
        line.encode(),
        line.replace('"hi"', "18446744073709551616").encode(),
        line.replace('"hi"', "NaN").encode(),
        line.replace('"hi"', '"\\ud800"').encode(),
        line.replace('"hi"', '"caf\u00e9"').encode(),
        line.encode().replace(b'"hi"', b'"\xed\xa0\x80"'),
        b"\xff" + line.encode(),
        b"",
        b" \t",
        b'{"conversations": [}',
        b"[1, 2]",
        line.encode() + b"\r",
        ("[" * 1500 + "]" * 1500).encode(),
    ]
    path = tmp_path / "edge.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines))
    with_orjson = read_all(path, monkeypatch, orjson=True)
    assert with_orjson == read_all(path, monkeypatch, orjson=False)
    assert any("json.invalid" in item for item in with_orjson)


def test_real_data_is_read_the_same_with_and_without_orjson(upstream_data, monkeypatch):
    for path in sorted((upstream_data / "Datasets").rglob("*.jsonl"))[:6]:
        assert read_all(path, monkeypatch, orjson=True) == read_all(path, monkeypatch, orjson=False), path
