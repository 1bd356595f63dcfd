"""The one place where the engine's coordinates meet LSP's.

Inside: `SourceRange` with 1-based lines and 0-based *character* columns (libcst's convention).
Outside: 0-based lines and columns in the negotiated position encoding (UTF-16 code units
unless the client offered another). Severities, diagnostics, edits and URIs convert here too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from ckptlens.findings import Fix, Severity, SourceRange
from ckptlens.render.status import checkpoint_related
from ckptlens.workspace.rules import LinkFinding

SOURCE = "ckptlens"

LinesOf = Callable[[str], Sequence[str] | None]  # path -> the lines of its current text
UriOf = Callable[[str], str]  # path -> the URI the client knows it by

SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFORMATION: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


@functools.lru_cache(maxsize=4096)
def path_to_uri(path: str) -> str:
    """(Cached: a file's hundreds of diagnostics name the same checkpoint.)"""
    return from_fs_path(path) or "file://" + path


def uri_to_path(uri: str) -> str | None:
    """The canonical path (symlinks resolved, as the engine reports files) of a file URI."""
    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    return os.path.realpath(path) if path else None


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _chars(text: str, units: int, encoding: str) -> int:
    """The character column `units` client code units into `text`."""
    if encoding == types.PositionEncodingKind.Utf32 or text.isascii():
        return min(units, len(text))
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += _units(char, encoding)
    return len(text)


def position(line: int, col: int, lines: Sequence[str] | None, encoding: str) -> types.Position:
    """Engine (1-based line, character column) -> LSP position."""
    zero = max(line - 1, 0)
    if lines is not None and zero < len(lines):
        text = lines[zero]
        return types.Position(zero, _units(text[:col], encoding))
    return types.Position(zero, col)


def lsp_range(where: SourceRange, lines: Sequence[str] | None, encoding: str) -> types.Range:
    return types.Range(
        position(where.start_line, where.start_col, lines, encoding),
        position(where.end_line, where.end_col, lines, encoding),
    )


def source_range(
    path: str, where: types.Range, lines: Sequence[str] | None, encoding: str
) -> SourceRange:
    """LSP range -> engine range."""

    def back(pos: types.Position) -> tuple[int, int]:
        if lines is not None and pos.line < len(lines):
            return pos.line + 1, _chars(lines[pos.line], pos.character, encoding)
        return pos.line + 1, pos.character

    start, end = back(where.start), back(where.end)
    return SourceRange(path, start[0], start[1], end[0], end[1])


def diagnostic(item: LinkFinding, lines: Sequence[str] | None, encoding: str) -> types.Diagnostic:
    finding = item.finding
    related = None
    if item.checkpoint:
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(
                    path_to_uri(item.checkpoint),
                    types.Range(types.Position(0, 0), types.Position(0, 0)),
                ),
                message=checkpoint_related(item.checkpoint),
            )
        ]
    return types.Diagnostic(
        range=lsp_range(finding.range, lines, encoding),
        message=finding.message,
        severity=SEVERITY[finding.severity],
        code=finding.code,
        source=SOURCE,
        related_information=related,
    )


def location(
    where: SourceRange, lines_of: LinesOf, encoding: str, uri_of: UriOf = path_to_uri
) -> types.Location:
    return types.Location(uri_of(where.file), lsp_range(where, lines_of(where.file), encoding))


def workspace_edit(
    edits: Iterable[tuple[SourceRange, str]],
    lines_of: LinesOf,
    encoding: str,
    uri_of: UriOf = path_to_uri,
) -> types.WorkspaceEdit:
    changes: dict[str, list[types.TextEdit]] = {}
    for where, text in edits:
        changes.setdefault(uri_of(where.file), []).append(
            types.TextEdit(range=lsp_range(where, lines_of(where.file), encoding), new_text=text)
        )
    return types.WorkspaceEdit(changes=changes)


def code_action(
    fix: Fix,
    diagnostics: list[types.Diagnostic],
    lines_of: LinesOf,
    encoding: str,
    uri_of: UriOf = path_to_uri,
    preferred: bool = False,
) -> types.CodeAction:
    return types.CodeAction(
        title=fix.title,
        kind=fix.kind,
        diagnostics=diagnostics or None,
        edit=workspace_edit(fix.edits, lines_of, encoding, uri_of),
        is_preferred=preferred or None,
    )
