"""The quick fix of a value the checkpoint was saved with (issue 15).

Where a `shape-mismatch` says "the checkpoint was saved with `num_classes=10`; this model is
built with `num_classes=1000` (the default)", change the value where it is written: the integer
literal default of the class's `__init__` parameter, the literal argument of the constructor
call at the load site the link comes from (`Net(num_classes=1000)` before
`model.load_state_dict(torch.load(...))`, or `Net.load_from_checkpoint(..., num_classes=1000)`),
or the directive's `init:num_classes=1000` entry. Only where the source holds exactly one such
literal with the given value: a value computed, passed through a variable, or written in several
candidate calls gets no fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ckptlens.findings import Finding, Fix, SourceRange
from ckptlens.fixes.classes import dotted, methods, parse_class

DIRECTIVE = "directive"
LOAD_STATE_DICT = "load_state_dict"
LOAD_FROM_CHECKPOINT = "load_from_checkpoint"
MAX_SITE_BYTES = 2 << 20


def saved_value_fix(link: Any, finding: Finding, source: str, overlays: Mapping[str, str] | None = None) -> Fix | None:
    """The edit that builds the model with the saved value, for a shape mismatch whose details
    name one (`ShapeMismatch.saved`); `source` is the text of the finding's file, `overlays`
    the editor's unsaved texts (else files are read from disk)."""
    saved = getattr(finding.details, "saved", None)
    if saved is None or not isinstance(saved.value, int) or not isinstance(saved.given, int):
        return None

    def read(path: str | None) -> str | None:
        if not path:
            return None
        if path == finding.range.file:
            return source
        if overlays is not None and path in overlays:
            return overlays[path]
        try:
            if os.path.getsize(path) > MAX_SITE_BYTES:
                return None
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError):
            return None

    name, old, new = saved.name, saved.given, saved.value
    if saved.source == "default":
        text = read(link.class_file)
        line = link.class_range.start_line if link.class_range is not None else 1
        return default_fix(text, link.class_file, line, link.class_name, name, old, new) if text else None
    if link.kind == DIRECTIVE and link.path_range is not None:
        text = read(link.path_range.file)
        return directive_fix(text, link.path_range, name, old, new) if text else None
    if link.kind in (LOAD_STATE_DICT, LOAD_FROM_CHECKPOINT) and link.site_file and link.call_range is not None:
        if name not in dict(link.init) and not link.init_positional:
            return None  # not given at the site
        text = read(link.site_file)
        if text is None:
            return None
        params: Sequence[str] = ()
        if link.init_positional:
            class_text = read(link.class_file)
            line = link.class_range.start_line if link.class_range is not None else 1
            params = init_parameters(class_text, link.class_file, line, link.class_name) if class_text else ()
        return site_fix(text, link.site_file, link.kind, link.call_range, link.class_name, params, name, old, new)
    return None


def _int_literal(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            return None
    return None


def _init(source: str, path: str, line: int, class_name: str) -> tuple[Any, cst.FunctionDef] | None:
    parsed = parse_class(source, path, line, class_name)
    if parsed is None or parsed.node.name.value != class_name:
        return None
    for method in methods(parsed.node):
        if method.name.value == "__init__":
            return parsed, method
    return None


def init_parameters(source: str, path: str, line: int, class_name: str) -> tuple[str, ...]:
    """The names of the class's `__init__` parameters, `self` left out."""
    found = _init(source, path, line, class_name)
    if found is None:
        return ()
    params = [*found[1].params.posonly_params, *found[1].params.params]
    return tuple(p.name.value for p in params[1:])


def default_fix(source: str, path: str, line: int, class_name: str, name: str, old: int, new: int) -> Fix | None:
    """`def __init__(self, num_classes: int = 1000)` -> `= 10` in the class that is checked."""
    found = _init(source, path, line, class_name)
    if found is None:
        return None
    parsed, method = found
    params = [*method.params.posonly_params, *method.params.params, *method.params.kwonly_params]
    for param in params:
        if param.name.value == name and param.default is not None and _int_literal(param.default) == old:
            return Fix(
                f"Change the default of `{name}` to {new} (the checkpoint was saved with it)",
                ((parsed.range(param.default), str(new)),),
            )
    return None


def directive_fix(source: str, where: SourceRange, name: str, old: int, new: int) -> Fix | None:
    """`# ckptlens: ... init:num_classes=1000` -> `init:num_classes=10`."""
    lines = source.splitlines()
    if not 1 <= where.start_line <= len(lines):
        return None
    text = lines[where.start_line - 1]
    found = [m for m in re.finditer(rf"(?<![\w.])init:{re.escape(name)}=(\S+)", text) if _same(m.group(1), old)]
    if len(found) != 1:
        return None
    start, end = found[0].span(1)
    edit = (SourceRange(where.file, where.start_line, start, where.start_line, end), str(new))
    return Fix(f"Change `init:{name}` to {new} in the directive (the checkpoint was saved with it)", (edit,))


def _same(text: str, value: int) -> bool:
    try:
        return int(text.replace("_", ""), 0) == value
    except ValueError:
        return False


class _Calls(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        callee = dotted(node.func)
        if callee is None:
            return
        parts = callee.split(".")
        if parts[-1] == self.class_name or parts[-2:] == [self.class_name, LOAD_FROM_CHECKPOINT]:
            self.calls.append(node)


def site_fix(
    source: str,
    path: str,
    kind: str,
    call_range: SourceRange,
    class_name: str,
    params: Sequence[str],
    name: str,
    old: int,
    new: int,
) -> Fix | None:
    """The literal `old` passed as `name` to the class at the load site: in
    `load_from_checkpoint(...)` itself, or in the one constructor call of the class, before the
    `load_state_dict` call, that writes it (keyword, or positional at `name`'s place)."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source), unsafe_skip_copy=True)
        visitor = _Calls(class_name)
        wrapper.visit(visitor)
        positions = wrapper.resolve(PositionProvider)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None

    def at(node: cst.CSTNode) -> SourceRange:
        where = positions[node]
        return SourceRange(path, where.start.line, where.start.column, where.end.line, where.end.column)

    candidates: list[cst.BaseExpression] = []
    for call in visitor.calls:
        span = at(call)
        loading = dotted(call.func) or ""
        if kind == LOAD_FROM_CHECKPOINT:
            if not loading.endswith("." + LOAD_FROM_CHECKPOINT) or (span.start_line, span.start_col) != (
                call_range.start_line, call_range.start_col
            ):
                continue
        elif loading.endswith("." + LOAD_FROM_CHECKPOINT) or span.start_line > call_range.start_line:
            continue
        value = _argument(call, name, params if kind == LOAD_STATE_DICT else ())
        if value is not None and _int_literal(value) == old:
            candidates.append(value)
    if len(candidates) != 1:
        return None
    return Fix(
        f"Pass `{name}={new}` at the load site (the checkpoint was saved with it)",
        ((at(candidates[0]), str(new)),),
    )


def _argument(call: cst.Call, name: str, params: Sequence[str]) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    if name in params:
        index = params.index(name)
        plain = []
        for arg in call.args:
            if arg.keyword is not None or arg.star:
                break
            plain.append(arg.value)
        if index < len(plain):
            return plain[index]
    return None
