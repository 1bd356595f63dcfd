"""`# ckptlens: checkpoint=... config=... init:KEY=VALUE` comments above (or first in) a class."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from typing import Any

from ckptlens.findings import SourceRange
from ckptlens.workspace.model import DIRECTIVE, ClassDecl, Link
from ckptlens.workspace.positions import Positions

_DIRECTIVE = re.compile(r"^\s*#\s*ckptlens\s*:(?P<body>.*)$")
_DIRECTIVE_ITEM = re.compile(r"""(?P<key>[A-Za-z_][\w:.-]*)=(?P<value>"[^"]*"|'[^']*'|\S+)""")


def parse_directive(body: str) -> tuple[dict[str, tuple[str, int, int]], dict[str, Any]]:
    """`checkpoint=x config=y init:k=v` -> ({name: (value, start, end)}, init). Offsets are
    of the value inside `body`, quotes excluded."""
    fields: dict[str, tuple[str, int, int]] = {}
    init: dict[str, Any] = {}
    for match in _DIRECTIVE_ITEM.finditer(body):
        key, value = match.group("key"), match.group("value")
        start, end = match.start("value"), match.end("value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value, start, end = value[1:-1], start + 1, end - 1
        if key.startswith("init:"):
            name = key[len("init:") :]
            if all(part.isidentifier() for part in name.split(".")):  # `init:config.n_layer=6` too
                init[name] = literal_or_string(value)
        elif key in ("checkpoint", "config") and key not in fields:
            fields[key] = (value, start, end)
    return fields, init


def literal_or_string(raw: str) -> Any:
    """`--init` semantics: a Python literal when it reads as one, else the string."""
    try:
        return ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


def _directive_lines(node: ast.ClassDef, decl: ClassDecl, lines: list[str]) -> Iterator[int]:
    """1-based lines that may hold the class's directive: the comment block directly above it
    (decorators may sit between) and the comments before its first statement."""
    line = decl.first_line - 1
    while line >= 1 and lines[line - 1].lstrip().startswith("#"):
        yield line
        line -= 1
    for line in range(decl.first_line, node.lineno):  # between decorators
        if lines[line - 1].lstrip().startswith("#"):
            yield line
    first_statement = node.body[0].lineno if node.body else node.lineno + 1
    for line in range(node.lineno + 1, min(first_statement, len(lines) + 1)):
        if lines[line - 1].lstrip().startswith("#"):
            yield line


def class_directives(node: ast.ClassDef, decl: ClassDecl, pos: Positions) -> list[Link]:
    out = []
    folder = os.path.dirname(pos.path)
    for line in sorted(set(_directive_lines(node, decl, pos.lines))):
        text = pos.lines[line - 1]
        match = _DIRECTIVE.match(text)
        if match is None:
            continue
        fields, init = parse_directive(match.group("body"))
        if "checkpoint" not in fields:
            continue
        value, start, end = fields["checkpoint"]
        offset = match.start("body")
        where = SourceRange(pos.path, line, offset + start, line, offset + end)
        out.append(
            Link(
                kind=DIRECTIVE,
                class_file=pos.path,
                class_name=node.name,
                checkpoint=value,
                search_dirs=(folder,),
                site_file=pos.path,
                path_range=where,
                literal_range=where,
                class_range=decl.name_range,
                init=tuple(init.items()),
                config=fields["config"][0] if "config" in fields else None,
            )
        )
    return out
