"""Applying text edits (in the engine's coordinates) to a source text."""

from __future__ import annotations

from collections.abc import Sequence

from ckptlens.findings import SourceRange


def apply_edits(source: str, edits: Sequence[tuple[SourceRange, str]]) -> str:
    """The text after `edits` (non-overlapping, in the engine's coordinates). For tests and
    for clients that want the result rather than the edits."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(line: int, col: int) -> int:
        if line - 1 >= len(lines):
            return len(source)
        return offsets[line - 1] + min(col, len(lines[line - 1]))

    out = source
    for where, text in sorted(edits, key=lambda e: (e[0].start_line, e[0].start_col), reverse=True):
        start, end = (
            offset(where.start_line, where.start_col),
            offset(where.end_line, where.end_col),
        )
        out = out[:start] + text + out[end:]
    return out


def text_of(lines: Sequence[str], where: SourceRange) -> str:
    """The text `where` covers, given the source's lines (with their line ends)."""
    if where.start_line == where.end_line:
        return (
            lines[where.start_line - 1][where.start_col : where.end_col]
            if where.start_line <= len(lines)
            else ""
        )
    parts = [lines[where.start_line - 1][where.start_col :]]
    parts.extend(lines[where.start_line : where.end_line - 1])
    parts.append(lines[where.end_line - 1][: where.end_col])
    return "".join(parts)
