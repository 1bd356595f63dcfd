""""Generate key mapping": insert the generated remapping function at the load_state_dict call,
or as a load_state_dict pre-hook in the class."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Sequence

from ckptlens.findings import Fix, SourceRange
from ckptlens.fixes.classes import ast_class_at

HOOK_METHOD = "_remap_state_dict_hook"


def _top_level_statement(tree: ast.Module, line: int) -> ast.stmt | None:
    for node in tree.body:
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            return node
    return None


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _function_named(tree: ast.Module | ast.ClassDef, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _line_range(path: str, first: int, last: int) -> SourceRange:
    """Whole lines first..last (1-based, inclusive), as a range ending at the next line's start."""
    return SourceRange(path, first, 0, last + 1, 0)


def free_function_name(
    source: str, preferred: str, class_name: str, generated: Collection[str] = ()
) -> str:
    """`preferred`, unless the module already defines it as something else than a generated
    mapping (`generated`): then `remap_<class>_state_dict`, numbered if needed."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return preferred
    taken = {
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    } | {
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    taken -= set(generated)
    if preferred not in taken:
        return preferred
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()
    base = f"remap_{snake}_state_dict"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


def mapping_at_load_site(
    source: str,
    path: str,
    state_arg: SourceRange,
    function_text: str,
    function_name: str,
) -> Fix | None:
    """Insert `function_text` (a generated module-level function) above the top-level
    statement holding the load call, and wrap load_state_dict's argument in it. An earlier
    generated function of that name is replaced; an argument already wrapped stays as is."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = source.splitlines(keepends=True)
    edits: list[tuple[SourceRange, str]] = []
    existing = _function_named(tree, function_name)
    if existing is not None:
        edits.append(
            (
                _line_range(path, _first_line(existing), existing.end_lineno or existing.lineno),
                function_text,
            )
        )
    else:
        holder = _top_level_statement(tree, state_arg.start_line)
        if holder is None:
            return None
        line = _first_line(holder)
        while line > 1 and lines[line - 2].lstrip().startswith("#"):
            line -= 1  # keep a comment block with the statement it introduces
        edits.append((SourceRange(path, line, 0, line, 0), function_text + "\n\n"))
    argument = _text_of(lines, state_arg)
    if not re.match(rf"{re.escape(function_name)}\s*\(", argument):
        edits.append(
            (
                SourceRange(
                    path,
                    state_arg.start_line,
                    state_arg.start_col,
                    state_arg.start_line,
                    state_arg.start_col,
                ),
                f"{function_name}(",
            )
        )
        edits.append(
            (
                SourceRange(
                    path,
                    state_arg.end_line,
                    state_arg.end_col,
                    state_arg.end_line,
                    state_arg.end_col,
                ),
                ")",
            )
        )
    return Fix(
        f"Generate key mapping: `{function_name}` applied to the loaded state_dict", tuple(edits)
    )


def _text_of(lines: Sequence[str], where: SourceRange) -> str:
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


def hook_method_text(function_name: str, indent: str) -> str:
    body = [
        "@staticmethod",
        f"def {HOOK_METHOD}(module, state_dict, prefix, *args):",
        f'    """Generated by ckptlens: applies `{function_name}` before load_state_dict."""',
        "    own = [key for key in state_dict if key.startswith(prefix)]",
        f"    remapped = module.{function_name}({{key[len(prefix):]: state_dict.pop(key) for key in own}})",
        "    state_dict.update({prefix + key: value for key, value in remapped.items()})",
    ]
    return "".join(indent + line + "\n" for line in body)


def mapping_in_class(
    source: str,
    path: str,
    class_name: str,
    class_line: int,
    method_text: str,
    function_name: str,
) -> Fix | None:
    """Add `method_text` (the generated function, indented for the class, as a staticmethod)
    and a load_state_dict pre-hook applying it, registered at the end of `__init__`. An earlier
    generated method of that name is replaced; a registered hook is kept."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    cls = ast_class_at(tree, class_line, class_name)
    if cls is None or not cls.body:
        return None
    init = _function_named(cls, "__init__")
    if init is None or not init.body:
        return None
    lines = source.splitlines(keepends=True)
    body_indent = lines[cls.body[0].lineno - 1][: cls.body[0].col_offset]
    init_indent = lines[init.body[-1].lineno - 1][: init.body[-1].col_offset]
    if not body_indent.strip() == "" or not init_indent.strip() == "":
        return None  # non-ASCII indentation cannot be
    edits: list[tuple[SourceRange, str]] = []
    existing = _function_named(cls, function_name)
    has_hook_method = _function_named(cls, HOOK_METHOD) is not None
    registers = any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr.endswith("load_state_dict_pre_hook")
        for n in ast.walk(init)
    )
    staticmethod_text = body_indent + "@staticmethod\n" + method_text
    if not registers:
        last = init.end_lineno or init.lineno
        line_text = f"{init_indent}self.register_load_state_dict_pre_hook(self.{HOOK_METHOD})\n"
        edits.append((SourceRange(path, last + 1, 0, last + 1, 0), line_text))
    if existing is not None:
        edits.append(
            (
                _line_range(path, _first_line(existing), existing.end_lineno or existing.lineno),
                staticmethod_text,
            )
        )
    addition = "" if existing is not None else "\n" + staticmethod_text
    if not has_hook_method:
        addition += "\n" + hook_method_text(function_name, body_indent)
    if addition:
        last = cls.end_lineno or cls.lineno
        if last >= len(lines) and lines and not lines[-1].endswith("\n"):
            edits.append(
                (SourceRange(path, last, len(lines[-1]), last, len(lines[-1])), "\n" + addition)
            )
        else:
            edits.append((SourceRange(path, last + 1, 0, last + 1, 0), addition))
    if not edits:
        return None
    edits.sort(key=lambda e: (e[0].start_line, e[0].start_col))
    return Fix(
        f"Generate key mapping: `{class_name}.{function_name}` as a load_state_dict pre-hook",
        tuple(edits),
        "quickfix",
    )
