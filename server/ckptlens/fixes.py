"""Source edits that make code and checkpoint agree: the quick fixes of the language server.

Pure (libcst and ast, no pygls). Each function returns a `Fix` (title + text edits in the
engine's coordinates: 1-based lines, 0-based character columns) or None when no edit is sure
to fix the finding. libcst parses only the class concerned (a whole 1,000-line module costs
~0.4 s; one class a few ms), so positions are shifted back by the class's first line.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ckptlens.findings import Fix, SourceRange

Shape = tuple[int | None, ...] | None

# What each dim of a layer's tensors is made of: constructor arguments in positional order,
# then, per tensor name, the argument behind each dim (None: not a single argument).
# A `*` suffix: only when the layer has no `groups` argument (the dim is `arg / groups`).
LayerRow = tuple[tuple[str, ...], dict[str, tuple[str | None, ...]]]
_NORM: LayerRow = (
    ("num_features",),
    {name: ("num_features",) for name in ("weight", "bias", "running_mean", "running_var")},
)
_CONV: LayerRow = (
    ("in_channels", "out_channels", "kernel_size"),
    {"weight": ("out_channels", "in_channels*"), "bias": ("out_channels",)},
)
_CONV_T: LayerRow = (
    ("in_channels", "out_channels", "kernel_size"),
    {"weight": ("in_channels", "out_channels*"), "bias": ("out_channels",)},
)
LAYER_DIMS: dict[str, LayerRow] = {
    "Linear": (
        ("in_features", "out_features", "bias"),
        {"weight": ("out_features", "in_features"), "bias": ("out_features",)},
    ),
    "Bilinear": (
        ("in1_features", "in2_features", "out_features"),
        {"weight": ("out_features", "in1_features", "in2_features"), "bias": ("out_features",)},
    ),
    "Conv1d": _CONV,
    "Conv2d": _CONV,
    "Conv3d": _CONV,
    "ConvTranspose1d": _CONV_T,
    "ConvTranspose2d": _CONV_T,
    "ConvTranspose3d": _CONV_T,
    "BatchNorm1d": _NORM,
    "BatchNorm2d": _NORM,
    "BatchNorm3d": _NORM,
    "SyncBatchNorm": _NORM,
    "InstanceNorm1d": _NORM,
    "InstanceNorm2d": _NORM,
    "InstanceNorm3d": _NORM,
    "GroupNorm": (
        ("num_groups", "num_channels"),
        {"weight": ("num_channels",), "bias": ("num_channels",)},
    ),
    "LayerNorm": (
        ("normalized_shape",),
        {"weight": ("normalized_shape",), "bias": ("normalized_shape",)},
    ),
    "RMSNorm": (("normalized_shape",), {"weight": ("normalized_shape",)}),
    "Embedding": (
        ("num_embeddings", "embedding_dim"),
        {"weight": ("num_embeddings", "embedding_dim")},
    ),
    "EmbeddingBag": (
        ("num_embeddings", "embedding_dim"),
        {"weight": ("num_embeddings", "embedding_dim")},
    ),
    "PReLU": (("num_parameters",), {"weight": ("num_parameters",)}),
}
_CONTAINERS_BY_INDEX = frozenset({"Sequential", "ModuleList"})


# -- parsing one class ----------------------------------------------------------------------


@dataclass
class _ClassSource:
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


def _ast_class_at(tree: ast.Module, line: int, name: str | None = None) -> ast.ClassDef | None:
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


def _parse_class(source: str, path: str, line: int, name: str | None = None) -> _ClassSource | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = _ast_class_at(tree, line, name)
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
            return _ClassSource(node, positions, line_offset, col_offset, path)
    return None


def _dotted(node: cst.BaseExpression) -> str | None:
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _methods(cls: cst.ClassDef) -> list[cst.FunctionDef]:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return [stmt for stmt in body if isinstance(stmt, cst.FunctionDef)]


def _self_name(func: cst.FunctionDef) -> str | None:
    params = [*func.params.posonly_params, *func.params.params]
    decorators = {_dotted(d.decorator) for d in func.decorators}
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


def _self_attributes(cls: cst.ClassDef, attr: str | None) -> tuple[list[cst.Attribute], set[str]]:
    found: list[cst.Attribute] = []
    names: set[str] = set()
    for method in _methods(cls):
        self_name = _self_name(method)
        if self_name is None:
            continue
        visitor = _SelfAttributes(self_name, attr)
        method.body.visit(visitor)
        found.extend(visitor.found)
        names |= visitor.names
    return found, names


# -- rename ---------------------------------------------------------------------------------


def rename_names(model_prefix: str | None, checkpoint_prefix: str | None) -> tuple[str, str] | None:
    """(old attribute, new attribute) when the two paths differ in one attribute name only."""
    if not model_prefix or not checkpoint_prefix:
        return None
    model, ckpt = model_prefix.split("."), checkpoint_prefix.split(".")
    while model and ckpt and model[-1] == ckpt[-1]:
        model.pop()
        ckpt.pop()
    if len(model) != len(ckpt) or not model or model[:-1] != ckpt[:-1]:
        return None
    old, new = model[-1], ckpt[-1]
    if not old.isidentifier() or not new.isidentifier() or keyword.iskeyword(new) or old == new:
        return None
    return old, new


def rename_fix(
    source: str, path: str, at: SourceRange, model_prefix: str | None, checkpoint_prefix: str | None
) -> Fix | None:
    """Rename `self.<old>` to `self.<new>` everywhere in the class that creates it (`at` is the
    `self.<old>` target of the finding); only `self` uses inside that class."""
    names = rename_names(model_prefix, checkpoint_prefix)
    if names is None:
        return None
    old, new = names
    parsed = _parse_class(source, path, at.start_line)
    if parsed is None:
        return None
    uses, attributes = _self_attributes(parsed.node, old)
    if new in attributes or not uses:
        return None  # `self.<new>` exists already: renaming would merge two attributes
    ranges = [parsed.range(use.attr) for use in uses]
    if not any(
        r.start_line == at.start_line and at.start_col <= r.start_col <= at.end_col for r in ranges
    ):
        return None  # the finding is not on a `self.<old>` of this class
    edits = tuple((r, new) for r in sorted(set(ranges)))
    return Fix(f"Rename `self.{old}` to `self.{new}` (as in the checkpoint)", edits)


# -- shape ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimChange:
    relative_key: (
        str  # the tensor's key below the module created at the finding (`weight`, `0.bias`)
    )
    checkpoint_shape: tuple[int, ...]
    model_shape: Shape


def _call_argument(
    call: cst.Call, name: str, positional: Sequence[str]
) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    if name in positional:
        index = positional.index(name)
        plain = []
        for arg in call.args:
            if arg.keyword is not None or arg.star:
                break
            plain.append(arg.value)
        if index < len(plain):
            return plain[index]
    return None


def _has_argument(call: cst.Call, name: str, positional: Sequence[str]) -> bool:
    return _call_argument(call, name, positional) is not None


def _target_call(parsed: _ClassSource, at: SourceRange) -> tuple[cst.Call, cst.FunctionDef] | None:
    """The call assigned to the `self.x` target at `at`, and the method doing it."""
    for method in _methods(parsed.node):
        finder = _AssignFinder(parsed, at)
        method.body.visit(finder)
        if finder.call is not None:
            return finder.call, method
    return None


class _AssignFinder(cst.CSTVisitor):
    def __init__(self, parsed: _ClassSource, at: SourceRange) -> None:
        self.parsed = parsed
        self.at = at
        self.call: cst.Call | None = None

    def _matches(self, target: cst.BaseExpression) -> bool:
        where = self.parsed.range(target)
        return (where.start_line, where.start_col) == (self.at.start_line, self.at.start_col)

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Call) and any(self._matches(t.target) for t in node.targets):
            self.call = node.value

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.value, cst.Call) and self._matches(node.target):
            self.call = node.value


def _argument_for(
    call: cst.Call, relative_key: str
) -> list[tuple[int, cst.BaseExpression | None, str]] | None:
    """Per dim of the tensor at `relative_key` under `call`'s module: (dim, the argument
    expression, its name); None when the layer is not in the table."""
    parts = relative_key.split(".")
    while len(parts) > 1:
        callee = _dotted(call.func)
        head = callee.split(".")[-1] if callee else ""
        if head not in _CONTAINERS_BY_INDEX or not parts[0].isdigit():
            return None
        items: Sequence[cst.BaseExpression]
        if head == "ModuleList":
            first = call.args[0].value if call.args else None
            if not isinstance(first, cst.List | cst.Tuple):
                return None
            items = [e.value for e in first.elements if isinstance(e, cst.Element)]
        else:
            if any(a.keyword is not None or a.star for a in call.args):
                return None
            items = [a.value for a in call.args]
        index = int(parts[0])
        if index >= len(items) or not isinstance(items[index], cst.Call):
            return None
        call = items[index]  # type: ignore[assignment]
        parts = parts[1:]
    callee = _dotted(call.func)
    row = LAYER_DIMS.get(callee.split(".")[-1]) if callee else None
    if row is None or parts[0] not in row[1]:
        return None
    positional, tensors = row
    out = []
    for dim, name in enumerate(tensors[parts[0]]):
        if name is None:
            continue
        if name.endswith("*"):
            name = name[:-1]
            if _has_argument(call, "groups", ()):
                continue
        out.append((dim, _call_argument(call, name, positional), name))
    return out


def _int_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class _Target:
    range: SourceRange
    describe: str


def _literal_target(
    expr: cst.BaseExpression,
    parsed: _ClassSource,
    method: cst.FunctionDef,
    source: str,
    *,
    arg_name: str,
    root_class: str,
    given: Collection[str],
) -> _Target | None:
    """Where the value of `expr` is written as an integer literal we may change."""
    if _int_value(expr) is not None:
        return _Target(parsed.range(expr), f"`{arg_name}`")
    if not isinstance(expr, cst.Name):
        return None
    name = expr.value
    params = [*method.params.posonly_params, *method.params.params, *method.params.kwonly_params]
    for param in params:
        if param.name.value != name:
            continue
        # A default only decides when the root class's constructor gets no value for it.
        if method.name.value != "__init__" or parsed.node.name.value != root_class or name in given:
            return None
        if param.default is not None and _int_value(param.default) is not None:
            return _Target(parsed.range(param.default), f"the default of `{name}`")
        return None
    local = _LocalAssignments(name)
    method.body.visit(local)
    if local.count == 1 and local.value is not None and _int_value(local.value) is not None:
        return _Target(parsed.range(local.value), f"`{name}`")
    if local.count:
        return None
    return _module_constant(source, parsed.path, name)


class _LocalAssignments(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.value: cst.BaseExpression | None = None

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name) and target.target.value == self.name:
                self.count += 1
                self.value = node.value
            elif not isinstance(target.target, cst.Name | cst.Attribute | cst.Subscript):
                self.count += 2  # tuple unpacking etc.: not a single literal

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if (
            isinstance(node.target, cst.Name)
            and node.target.value == self.name
            and node.value is not None
        ):
            self.count += 1
            self.value = node.value

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name) and node.target.value == self.name:
            self.count += 2


def _module_constant(source: str, path: str, name: str) -> _Target | None:
    """`NAME = 30` assigned once at module level."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    values = []
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            values.append(value)
    if (
        len(values) != 1
        or not isinstance(values[0], ast.Constant)
        or type(values[0].value) is not int
    ):
        return None
    constant = values[0]
    lines = source.splitlines()
    line = constant.lineno
    text = lines[line - 1] if 0 < line <= len(lines) else ""

    def col(byte_col: int) -> int:
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    end = constant.end_col_offset if constant.end_col_offset is not None else constant.col_offset
    return _Target(
        SourceRange(path, line, col(constant.col_offset), constant.end_lineno or line, col(end)),
        f"`{name}`",
    )


def shape_fix(
    source: str,
    path: str,
    at: SourceRange,
    changes: Sequence[DimChange],
    *,
    root_class: str,
    given: Collection[str] = (),
) -> Fix | None:
    """Change the integer literal (or default, or constant) that produced each mismatching dim
    of the module created at `at`, to the checkpoint's value. None unless every mismatching dim
    comes from one such literal, consistently. `given`: constructor arguments the check passes
    to `root_class` (their defaults do not decide anything)."""
    parsed = _parse_class(source, path, at.start_line)
    if parsed is None:
        return None
    found = _target_call(parsed, at)
    if found is None:
        return None
    call, method = found
    wanted: dict[SourceRange, tuple[int, str]] = {}
    for change in changes:
        if change.model_shape is None or len(change.model_shape) != len(change.checkpoint_shape):
            return None
        differing = [
            d
            for d, (m, c) in enumerate(
                zip(change.model_shape, change.checkpoint_shape, strict=True)
            )
            if m is not None and m != c
        ]
        if not differing:
            continue
        dims = _argument_for(call, change.relative_key)
        if dims is None:
            return None
        by_dim = {dim: (expr, name) for dim, expr, name in dims}
        for d in differing:
            if d not in by_dim or by_dim[d][0] is None:
                return None
            expr, arg_name = by_dim[d]
            assert expr is not None
            target = _literal_target(
                expr, parsed, method, source, arg_name=arg_name, root_class=root_class, given=given
            )
            if target is None:
                return None
            value = change.checkpoint_shape[d]
            previous = wanted.get(target.range)
            if previous is not None and previous[0] != value:
                return None
            wanted[target.range] = (value, target.describe)
    if not wanted:
        return None
    edits = tuple((where, str(value)) for where, (value, _) in sorted(wanted.items()))
    described = ", ".join(f"{what} to {value}" for value, what in wanted.values())
    return Fix(f"Change {described} (as in the checkpoint)", edits)


# -- the key mapping ------------------------------------------------------------------------

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
    cls = _ast_class_at(tree, class_line, class_name)
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
