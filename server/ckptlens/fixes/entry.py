"""The `state-dict-entry` quick fix: make `load_state_dict`'s argument select the entry of the
loaded file where the weights sit (`torch.load(p)` -> `torch.load(p)["state_dict"]`, or
`torch.load(p)["state_dict"]` -> `torch.load(p)` on a file that is the state_dict itself)."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from ckptlens.engine.mapping_code import subscript_path
from ckptlens.findings import Fix, SourceRange
from ckptlens.fixes.edits import text_of


def entry_fix(
    source: str, at: SourceRange, given: Sequence[str], expected: Sequence[str]
) -> Fix | None:
    """The edit of the argument at `at` (load_state_dict's first argument) that selects
    `expected` instead of `given`; None when the argument does not spell `given` itself."""
    given, expected = tuple(given), tuple(expected)
    if given == expected:
        return None
    title = (
        f"Pass the file's {subscript_path(expected)}" if expected else "Pass the whole file"
    )
    if len(given) < len(expected) and expected[: len(given)] == given:
        end = SourceRange(at.file, at.end_line, at.end_col, at.end_line, at.end_col)
        return Fix(title, ((end, subscript_path(expected[len(given) :])),))
    text = text_of(source.splitlines(keepends=True), at)
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    peeled: list[str] = []
    while isinstance(node, ast.Subscript) and len(peeled) < len(given):
        if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            return None
        peeled.append(node.slice.value)
        node = node.value
    if tuple(reversed(peeled)) != given:
        return None
    base = ast.get_source_segment(text.strip(), node)
    if base is None:
        return None
    return Fix(title, ((at, base + subscript_path(expected)),))
