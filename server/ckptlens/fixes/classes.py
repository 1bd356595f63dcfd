"""Parsing the one class a fix edits, with libcst (positions shifted back by the class's first
line: libcst parses only that class), and finding its `self.<attr>` uses."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ckptlens.findings import SourceRange


@dataclass
class ClassSource:
    """A class parsed alone by libcst; `line_offset` / `col_offset` map back to the file."""

    node: cst.ClassDef
    positions: dict[cst.CSTNode, CodeRange]
    line_offset: int
    col_offset: int
    path: str

    def range(self, node: cst.CSTNode) -> SourceRange:
        where = self.positions[node]
        return SourceRange(
            self.path,
            where.start.line + self.line_offset,
            where.start.column + self.col_offset,
            where.end.line + self.line_offset,
            where.end.column + self.col_offset,
        )


def ast_class_at(tree: ast.Module, line: int, name: str | None = None) -> ast.ClassDef | None:
    """The innermost class holding `line` (or, with `name`, the first class of that name holding it
    or, failing that, of that name anywhere)."""
    best: ast.ClassDef | None = None
    named: ast.ClassDef | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        if name is not None and node.name == name and named is None:
            named = node
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if first <= line <= (node.end_lineno or node.lineno) and (
            name is None or node.name == name
        ):
            if best is None or node.lineno >= best.lineno:
                best = node
    return best or named


def parse_class(source: str, path: str, line: int, name: str | None = None) -> ClassSource | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = ast_class_at(tree, line, name)
    if found is None:
        return None
    first = min([found.lineno, *(d.lineno for d in found.decorator_list)])
    last = found.end_lineno or found.lineno
    lines = source.splitlines(keepends=True)[first - 1 : last]
    indent = re.match(r"[ \t]*", lines[0]).group(0) if lines else ""  # type: ignore[union-attr]
    if indent and all(not ln.strip() or ln.startswith(indent) for ln in lines):
        lines = [ln[len(indent) :] if ln.strip() else ln.lstrip(" \t") for ln in lines]
        segment, line_offset, col_offset = "".join(lines), first - 1, len(indent)
    elif not indent:
        segment, line_offset, col_offset = "".join(lines), first - 1, 0
    else:
        segment, line_offset, col_offset = source, 0, 0
    try:
        wrapper = MetadataWrapper(cst.parse_module(segment), unsafe_skip_copy=True)
        positions = dict(wrapper.resolve(PositionProvider))
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None
    for node, where in positions.items():
        if (
            isinstance(node, cst.ClassDef)
            and node.name.value == found.name
            and where.start.line + line_offset == found.lineno
        ):
            return ClassSource(node, positions, line_offset, col_offset, path)
    return None


def dotted(node: cst.BaseExpression) -> str | None:
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def methods(cls: cst.ClassDef) -> list[cst.FunctionDef]:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return [stmt for stmt in body if isinstance(stmt, cst.FunctionDef)]


def self_parameter(func: cst.FunctionDef) -> str | None:
    params = [*func.params.posonly_params, *func.params.params]
    decorators = {dotted(d.decorator) for d in func.decorators}
    if not params or "staticmethod" in decorators or "classmethod" in decorators:
        return None
    return params[0].name.value


class _SelfAttributes(cst.CSTVisitor):
    """`<self>.<name>` in a method body; nested classes and functions rebinding `self` excluded."""

    def __init__(self, self_name: str, attr: str | None) -> None:
        self.self_name = self_name
        self.attr = attr
        self.found: list[cst.Attribute] = []
        self.names: set[str] = set()

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        params = [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
        return all(p.name.value != self.self_name for p in params)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        params = [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
        return all(p.name.value != self.self_name for p in params)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == self.self_name:
            self.names.add(node.attr.value)
            if node.attr.value == self.attr:
                self.found.append(node)


def self_attributes(cls: cst.ClassDef, attr: str | None) -> tuple[list[cst.Attribute], set[str]]:
    found: list[cst.Attribute] = []
    names: set[str] = set()
    for method in methods(cls):
        self_name = self_parameter(method)
        if self_name is None:
            continue
        visitor = _SelfAttributes(self_name, attr)
        method.body.visit(visitor)
        found.extend(visitor.found)
        names |= visitor.names
    return found, names
