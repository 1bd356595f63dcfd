"""The `shape-mismatch` quick fix: change the literal (or the default, or the module constant)
behind a dim so the layer matches the checkpoint. `LAYER_DIMS` says which constructor argument
makes each dim of a layer's tensors."""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import libcst as cst

from ckptlens.findings import Fix, SourceRange
from ckptlens.fixes.classes import ClassSource, dotted, methods, parse_class

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


def _target_call(parsed: ClassSource, at: SourceRange) -> tuple[cst.Call, cst.FunctionDef] | None:
    """The call assigned to the `self.x` target at `at`, and the method doing it."""
    for method in methods(parsed.node):
        finder = _AssignFinder(parsed, at)
        method.body.visit(finder)
        if finder.call is not None:
            return finder.call, method
    return None


class _AssignFinder(cst.CSTVisitor):
    def __init__(self, parsed: ClassSource, at: SourceRange) -> None:
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
        callee = dotted(call.func)
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
    callee = dotted(call.func)
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
    parsed: ClassSource,
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
    parsed = parse_class(source, path, at.start_line)
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
