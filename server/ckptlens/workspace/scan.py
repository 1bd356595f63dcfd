"""Scanning one file: its classes, directives and load calls, from its `ast` (no error escapes)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ckptlens.engine.mapping_code import ParsedMapping, find_mapping_functions
from ckptlens.workspace.directives import class_directives
from ckptlens.workspace.model import EMPTY_SCAN, ClassDecl, FileScan, ImportRef, Link, LoadSite
from ckptlens.workspace.positions import Positions
from ckptlens.workspace.sites import SiteFinder, string_constants

HOOK_REGISTRARS = frozenset(
    {"register_load_state_dict_pre_hook", "_register_load_state_dict_pre_hook"}
)
_TRIGGER = re.compile(r"load_state_dict|load_from_checkpoint|from_pretrained|ckptlens:")


def might_link(text: str) -> bool:
    """Cheap pre-filter: can this file hold a directive or a load call at all?"""
    return _TRIGGER.search(text) is not None


def scan_source(path: str, text: str, tree: ast.Module | None = None) -> FileScan:
    """Classes, directives and load calls of one file (`path` absolute; `tree`: its parse, when
    the caller has it). No error escapes: a file that does not parse gives `ok=False`."""
    if tree is None:
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return replace(EMPTY_SCAN, path=path)
    pos = Positions(path, text)
    imports = _imports(tree)
    mapping_functions = {
        node.name: parsed
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and (parsed := _parsed_mapping(node)) is not None
    }
    # Text first: only the scopes and classes whose lines mention a load call or a hook are
    # walked node by node (a 1,000-line model file has ~30,000 nodes).
    site_lines = _lines_matching(pos.lines, _SITE_TRIGGER)
    hook_lines = _lines_matching(pos.lines, _HOOK_TRIGGER)
    classes: dict[str, ClassDecl] = {}
    directives: list[Link] = []
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in _statements(tree.body):
        if isinstance(node, ast.ClassDef):
            decl = _class_decl(node, pos, hook_lines)
            classes.setdefault(node.name, decl)
            directives.extend(class_directives(node, decl, pos))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append(node)
    sites: list[LoadSite] = []
    if site_lines:
        module_consts = string_constants(tree.body)
        scopes = [tree.body] + [
            f.body for f in functions if _holds_line(site_lines, f.lineno, f.end_lineno or f.lineno)
        ]
        for scope in scopes:
            finder = SiteFinder(pos, imports, set(classes), mapping_functions, module_consts)
            sites.extend(finder.run(scope))
    return FileScan(path, classes, tuple(directives), tuple(sites), imports, mapping_functions)


_SITE_TRIGGER = re.compile(r"load_state_dict\b|load_from_checkpoint|from_pretrained")
_HOOK_TRIGGER = re.compile(r"load_state_dict_pre_hook")


def _lines_matching(lines: Sequence[str], pattern: re.Pattern[str]) -> list[int]:
    return [number for number, line in enumerate(lines, 1) if pattern.search(line)]


def _holds_line(lines: Sequence[int], first: int, last: int) -> bool:
    return any(first <= line <= last for line in lines)


def _statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without descending into expressions."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        nested: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody"):
            value = getattr(node, name, None)
            if isinstance(value, list):
                nested.extend(v for v in value if isinstance(v, ast.stmt))
        for handler in getattr(node, "handlers", ()):
            nested.extend(handler.body)
        for case in getattr(node, "cases", ()):
            nested.extend(case.body)
        stack.extend(reversed(nested))


def _parsed_mapping(node: ast.FunctionDef) -> ParsedMapping | None:
    """The generated mapping in `node`, if it has that form (cheap test first)."""
    if not any(
        isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "STRIP_PREFIX" for t in statement.targets)
        for statement in node.body[:3]
    ):
        return None
    found = find_mapping_functions(ast.unparse(node))
    return replace(found[0], line=node.lineno) if found else None


def _imports(tree: ast.Module) -> dict[str, ImportRef]:
    out: dict[str, ImportRef] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = ImportRef(alias.name, 0, None)
                else:
                    top = alias.name.split(".")[0]
                    out[top] = ImportRef(top, 0, None)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = ImportRef(
                        node.module or "", node.level, alias.name
                    )
    return out


def _class_decl(node: ast.ClassDef, pos: Positions, hook_lines: Sequence[int]) -> ClassDecl:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    body_indent = (
        " " * pos.col(node.body[0].lineno, node.body[0].col_offset) if node.body else "    "
    )
    methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    mapping = None
    for method in methods:
        if isinstance(method, ast.FunctionDef) and (parsed := _parsed_mapping(method)) is not None:
            mapping = parsed
            break
    last = node.end_lineno or node.lineno
    has_hook = _holds_line(hook_lines, first, last) and any(
        isinstance(sub, ast.Call)
        and isinstance(sub.func, ast.Attribute)
        and sub.func.attr in HOOK_REGISTRARS
        for method in methods
        for sub in ast.walk(method)
    )
    init = next((m for m in methods if m.name == "__init__"), None)
    init_lines = (init.lineno, init.end_lineno or init.lineno) if init is not None else None
    return ClassDecl(
        name=node.name,
        name_range=pos.name_range(node),
        first_line=first,
        last_line=node.end_lineno or node.lineno,
        body_indent=body_indent,
        mapping=mapping if has_hook else None,
        has_hook=has_hook,
        init_lines=init_lines,
    )
