"""The stdio transport's large-frame path (issue 13 item 3): long strings are found by a scan
in bounded steps and spliced out before `json.loads`, which only sees the small remainder."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from ckptlens.lsp import stdio
from ckptlens.lsp.stdio import LARGE_FRAME, long_strings, parse_body, splice

LIMIT = 1000  # small, so that the tests' strings are "long" without megabytes


def emptied(value: Any, limit: int) -> Any:
    """`value` with every string (key or value) over `limit` UTF-8 bytes replaced by ""."""

    def s(text: str) -> str:
        return "" if len(text.encode("utf-8", errors="replace")) > limit else text

    if isinstance(value, dict):
        return {s(k): emptied(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [emptied(v, limit) for v in value]
    return s(value) if isinstance(value, str) else value


def long_sizes(value: Any, limit: int) -> list[int]:
    """The UTF-8 sizes of the strings over `limit`, in document order."""
    out: list[int] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, item in v.items():
                walk(k)
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)
        elif isinstance(v, str) and len(v.encode("utf-8", errors="replace")) > limit:
            out.append(len(v.encode("utf-8", errors="replace")))

    walk(value)
    return out


TRICKY = {
    "escaped quotes": {"text": 'say "hi" ' * 300, "short": 'a "b" c'},
    "backslash runs": {
        "text": "\\" * 1501 + '"' + "\\\\" * 700 + "x",
        "even": "a\\\\",
        "odd": '\\"',
        "end": "\\" * 2001,
    },
    "unicode escapes": {"text": "é€😀\u0001\t\n" * 200, "short": "😀"},
    "long key": {"k" * 1500: 1, "v": ["x" * 1200]},
    "several long": {"a": "1" * 1001, "b": "y", "c": ["2" * 1500, "3" * 999, "4" * 2500]},
    "non-text fields": {"method": "m" * 3000, "params": {"uri": "file:///" + "u" * 3000, "n": 5}},
    "escapes near the limit": {"text": "\n" * 700, "more": "\n" * 1001},
}


@pytest.mark.parametrize("ascii_only", [True, False], ids=["ascii", "utf8"])
@pytest.mark.parametrize("case", list(TRICKY), ids=list(TRICKY))
def test_the_splice_parses_to_the_original_with_long_strings_emptied(
    case: str, ascii_only: bool
) -> None:
    value = TRICKY[case]
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    spans = long_strings(body, LIMIT)
    assert [s.size for s in spans] == long_sizes(value, LIMIT)
    assert json.loads(splice(body, spans)) == emptied(value, LIMIT)


def test_every_step_of_the_scan_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Steps of 7 bytes cut escapes (\\uXXXX, \\\\, \\") everywhere: the sizes stay exact.
    monkeypatch.setattr(stdio, "STEP", 7)
    value = TRICKY["backslash runs"] | TRICKY["unicode escapes"] | {"q": '"\\' * 800}
    body = json.dumps(value).encode()
    spans = long_strings(body, LIMIT)
    assert [s.size for s in spans] == long_sizes(value, LIMIT)
    assert json.loads(splice(body, spans)) == emptied(value, LIMIT)


def test_a_large_did_open_is_parsed_without_its_text() -> None:
    text = "x = 1\n" * (LARGE_FRAME // 6 + 100)
    body = json.dumps(
        {"jsonrpc": "2.0", "method": "textDocument/didOpen",
         "params": {"textDocument": {"uri": "file:///a.py", "languageId": "python", "version": 1, "text": text}}}
    ).encode()  # fmt: skip
    parsed = parse_body(body, LARGE_FRAME)
    assert parsed.error is None
    assert parsed.message["params"]["textDocument"] == {
        "uri": "file:///a.py", "languageId": "python", "version": 1, "text": ""
    }  # fmt: skip
    assert parsed.sizes == (len(text),)


def test_a_large_did_change_records_each_left_out_text() -> None:
    big = "é" * LARGE_FRAME  # 2 MiB of UTF-8
    changes = [{"text": "small"}, {"text": big}, {"range": {"start": {"line": 0, "character": 0},
               "end": {"line": 0, "character": 0}}, "text": big + "!"}]  # fmt: skip
    body = json.dumps(
        {"jsonrpc": "2.0", "method": "textDocument/didChange",
         "params": {"textDocument": {"uri": "file:///a.py", "version": 2}, "contentChanges": changes}}
    ).encode()  # fmt: skip
    parsed = parse_body(body, LARGE_FRAME)
    assert [c["text"] for c in parsed.message["params"]["contentChanges"]] == ["small", "", ""]
    assert parsed.sizes == (None, 2 * LARGE_FRAME, 2 * LARGE_FRAME + 1)


def test_strings_under_the_limit_are_kept_in_a_large_frame() -> None:
    # The server's cap: a 1.5 MiB document under a 2 MB cap is analysed, so it is kept.
    text = "y" * (3 * LARGE_FRAME // 2)
    body = json.dumps(
        {"method": "textDocument/didOpen", "params": {"textDocument": {"text": text}}}
    ).encode()
    parsed = parse_body(body, 2_000_000)
    assert parsed.message["params"]["textDocument"]["text"] == text
    assert parsed.sizes == ()


def test_a_forged_marker_in_a_small_frame_is_kept_as_text() -> None:
    text = stdio._TOKEN + "0"  # noqa: SLF001 - the marker itself, sent by a client
    body = json.dumps(
        {"method": "textDocument/didOpen", "params": {"textDocument": {"text": text}}}
    ).encode()
    parsed = parse_body(body)
    assert parsed.message["params"]["textDocument"]["text"] == text
    assert parsed.sizes == ()


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "' + b"x" * (LARGE_FRAME + 10),  # unterminated
        b'{"text": "' + b"x" * (LARGE_FRAME + 10) + b'", "s": "\\q"}',  # a bad escape after it
        b'{"text": "' + b"x" * (LARGE_FRAME + 10) + b'", }',  # bad JSON around it
        b'{"text": "' + b"x" * (LARGE_FRAME + 10) + b'\xff"}',  # not UTF-8
    ],
    ids=["unterminated", "bad-escape", "trailing-comma", "not-utf8"],
)
def test_a_malformed_large_body_is_a_parse_error(body: bytes) -> None:
    parsed = parse_body(body)
    assert parsed.message is None
    assert parsed.error is not None and parsed.error.startswith("the message is not JSON: ")


def test_a_string_surely_over_the_limit_is_counted_in_another_thread() -> None:
    # Over 6 x the limit: over it whatever its escapes; the frames after it are not held up by
    # the count, which the server awaits when it publishes the size.
    text = "é\n\\" * 700_000  # 7 MB as JSON, over 6 x the 1 MiB floor of the limit
    body = json.dumps(
        {"method": "textDocument/didOpen", "params": {"textDocument": {"text": text}}}
    ).encode()
    with ThreadPoolExecutor(1) as later:
        parsed = parse_body(body, LARGE_FRAME, later)
        (size,) = parsed.sizes
        assert isinstance(size, Future)
        assert size.result(timeout=60) == len(text.encode())
    assert parsed.message["params"]["textDocument"]["text"] == ""
