"""Where the outermost functions' bodies lie in a source text, found without parsing it.

`loader.parse_lazily` blanks those bodies and parses each when first read. An earlier full parse
leaves their spans in the disk cache; for an installed library file with no cache entry yet (the
first call, or `CKPTLENS_NO_CACHE=1`) this scan finds the same spans from the text's logical
lines (strings, comments, brackets and continuations followed as Python's tokenizer does), at a
fraction of a full parse's cost. It answers exactly what `loader._body_spans` reads from the
full tree (tests/test_lazy_parse.py compares both over the library files installed) or None on
any construct it does not follow (tabs in indentation, a `;` ending a body, `match`), and the
file is then parsed in full.
"""

from __future__ import annotations

import re

# plain code (brackets included: counted per run), then one token the scan follows
_TOKENS = re.compile(
    r"""[^#"'\\\n]*(?:(\#[^\n]*)"""
    r'''|("""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""|\'\'\'[^'\\]*(?:(?:\\.|'(?!\'\'))[^'\\]*)*\'\'\')'''
    r"""|("[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*')"""
    r"""|(\\\n)|(\n)|\Z)""",
    re.S,
)
_COMMENT, _TRIPLE, _STRING, _CONTINUE, _NEWLINE = range(1, 6)
_DEF = re.compile(r"(?:async\s+)?def\b")
_MATCH = re.compile(r"(?:match|case)\b")


def _logical_lines(text: str) -> list[tuple[int, int, int, int]] | None:
    """(first line, first column, line of the last code character, offset just past it) of
    each logical line with code, in order; None if a quote is left open (the full parse then
    says what is wrong)."""
    out: list[tuple[int, int, int, int]] = []
    line = 1
    line_start = 0  # offset of the current physical line
    depth = 0
    start: tuple[int, int] | None = None  # (line, column) where the current logical line began
    code_end = code_line = 0  # just past the last code character seen, and its line
    position = 0
    for match in _TOKENS.finditer(text):
        if match.start() != position:
            return None  # a quote no string pattern closed
        kind = match.lastindex
        begin = match.start(kind) if kind else match.end()
        if begin > position:
            gap = text[position:begin]
            stripped = gap.rstrip()
            if stripped:
                if start is None:
                    start = (line, position + len(gap) - len(gap.lstrip()) - line_start)
                code_end, code_line = position + len(stripped), line
                depth += (
                    stripped.count("(") + stripped.count("[") + stripped.count("{")
                    - stripped.count(")") - stripped.count("]") - stripped.count("}")
                )
        if kind == _NEWLINE or kind is None:
            if depth <= 0 and start is not None:
                out.append((start[0], start[1], code_line, code_end))
                start = None
                depth = 0
            if kind is None:
                break
            line += 1
            line_start = begin + 1
        elif kind == _CONTINUE:
            line += 1
            line_start = begin + 2
        elif kind != _COMMENT:
            end = match.end()
            if start is None:
                start = (line, begin - line_start)
            newlines = match.group(kind).count("\n")
            if newlines:
                line += newlines
                line_start = text.rfind("\n", begin, end) + 1
            code_end, code_line = end, line
        position = match.end()
    return out


def scan_body_spans(text: str, lines: list[str]) -> list[list[int]] | None:
    """[first body line, last line, end column (UTF-8 bytes)] of each outermost function whose
    body starts on a line of its own and is three lines or more, as `loader._body_spans` gives
    them; None when the text holds something the scan does not follow."""
    logical = _logical_lines(text)
    if logical is None:
        return None
    spans: list[list[int]] = []
    # open blocks: (indent, kind) with kind "def", "match" or "" (any other block)
    blocks: list[tuple[int, str]] = []
    current: list[int] | None = None  # [def indent, first body line, last line, end offset]
    for first, column, last, end in logical:
        head = lines[first - 1]
        if "\t" in head[:column] or column != len(head) - len(head.lstrip()):
            return None  # tabs (Python's own rule of 8) or code after a continuation: not followed
        while blocks and column <= blocks[-1][0]:
            blocks.pop()
        if current is not None and column <= current[0]:
            _close(current, text, lines, spans)
            current = None
        code = text[end - 1] if end > 0 else ""
        if code == ";":
            return None
        if current is not None:
            if current[1] <= 0:  # a decorated statement starts at its `def`/`class` line
                current[1] = -1 if head[column] == "@" else first
            current[2], current[3] = last, end
        if code != ":":
            continue
        statement = head[column:]
        kind = ""
        if _DEF.match(statement):
            kind = "def"
            if current is None and not any(k for _, k in blocks):
                current = [column, 0, 0, 0]
        elif _MATCH.match(statement):
            kind = "match"
        blocks.append((column, kind))
    if current is not None:
        _close(current, text, lines, spans)
    return spans


def _close(current: list[int], text: str, lines: list[str], spans: list[list[int]]) -> None:
    _, first, last, end = current
    if first <= 0 or last - first < 2:
        return
    line_start = text.rfind("\n", 0, end) + 1
    line = lines[last - 1]
    column = end - line_start
    spans.append([first, last, column if line.isascii() else len(line[:column].encode("utf-8"))])
