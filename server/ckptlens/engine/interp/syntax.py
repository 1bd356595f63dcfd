"""Helpers over the syntax tree: assigned names, short source excerpts, dataclass declarations."""

from __future__ import annotations

import ast
import functools
from typing import Any


def target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        out: list[str] = []
        for elt in target.elts:
            out.extend(target_names(elt.value if isinstance(elt, ast.Starred) else elt))
        return out
    return []


def one_line(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(node: Any, limit: int = 60) -> str:
    text = _unparse(node) if isinstance(node, ast.AST) else str(node)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=8192)
def _unparse(node: ast.AST) -> str:
    """Source text of a node, for reasons; the same loop or branch is reported many times."""
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001
        return type(node).__name__


def is_dataclass_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return short(target).split(".")[-1] == "dataclass"


def field_option(node: ast.expr | None, option: str, default: bool = False) -> bool:
    """A literal boolean option of `field(...)` (`init=False`, `kw_only=True`)."""
    if node is None or not is_field_call(node):
        return default
    assert isinstance(node, ast.Call)
    for kw in node.keywords:
        if kw.arg == option and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):
            return kw.value.value
    return default


def dataclass_option(node: ast.expr, option: str) -> bool:
    """`@dataclass(kw_only=True)`."""
    return isinstance(node, ast.Call) and is_dataclass_decorator(node) and any(
        kw.arg == option and isinstance(kw.value, ast.Constant) and kw.value.value is True for kw in node.keywords
    )


def is_field_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and short(node.func).split(".")[-1] == "field"
