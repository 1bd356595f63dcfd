"""ast's positions in the engine's coordinates (1-based lines, character columns)."""

from __future__ import annotations

import ast
import re

from ckptlens.findings import SourceRange


class Positions:
    """ast's UTF-8 byte columns to character columns (the engine's convention)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def col(self, line: int, byte_col: int) -> int:
        if not 0 < line <= len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def range(self, node: ast.AST) -> SourceRange:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        start = self.col(line, getattr(node, "col_offset", 0))
        end_col = getattr(node, "end_col_offset", None)
        end = self.col(end_line, end_col) if end_col is not None else start
        return SourceRange(self.path, line, start, end_line, end)

    def name_range(self, node: ast.ClassDef) -> SourceRange:
        text = self.lines[node.lineno - 1] if 0 < node.lineno <= len(self.lines) else ""
        match = re.search(r"\bclass\s+(" + re.escape(node.name) + r")\b", text)
        if match is None:
            return self.range(node)
        return SourceRange(self.path, node.lineno, match.start(1), node.lineno, match.end(1))
