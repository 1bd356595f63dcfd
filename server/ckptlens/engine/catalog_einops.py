"""einops (0.8): its torch layers as catalog rows, and its functions on tensors as shape rules.

`Rearrange` and `Reduce` own no tensors; `EinMix` owns `weight` (the axes of `weight_shape`)
and, with `bias_shape`, a `bias` shaped like the output with every other axis 1. `rearrange`,
`repeat` and `reduce` map a tensor's shape through the pattern. Whatever the pattern leaves
open (an axis of unknown length, a form not parsed here) is an unknown dim or Unresolvable."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ckptlens.engine.catalog_base import LayerBuild, Row, nothing, param, signature
from ckptlens.engine.values import TensorValue, Unresolvable, is_unknown

ELLIPSIS = "…"
_TOKEN = re.compile(r"\(|\)|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\d+|\S")


def parse_side(text: str) -> list[list[str] | str]:
    """`b (h p1) ... c` -> [["b"], ["h", "p1"], "…", ["c"]]; numbers stay as strings."""
    groups: list[list[str] | str] = []
    current: list[str] | None = None
    for token in _TOKEN.findall(text):
        if token == "(":
            if current is not None:
                raise Unresolvable(f"nested parentheses in `{text}`")
            current = []
        elif token == ")":
            if current is None:
                raise Unresolvable(f"unbalanced `{text}`")
            groups.append(current)
            current = None
        elif token == "...":
            if current is not None:
                raise Unresolvable(f"`...` inside parentheses in `{text}`")
            groups.append(ELLIPSIS)
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|\d+", token):
            if current is not None:
                current.append(token)
            else:
                groups.append([token])
        else:
            raise Unresolvable(f"cannot read the einops pattern `{text}`")
    if current is not None:
        raise Unresolvable(f"unbalanced `{text}`")
    return groups


def _length(axis: str, lengths: Mapping[str, Any]) -> int | None:
    if axis.isdigit():
        return int(axis)
    value = lengths.get(axis)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pattern_shape(pattern: str, shape: Sequence[int | None] | None, lengths: Mapping[str, Any], kind: str) -> tuple[int | None, ...] | None:
    """The output shape of `rearrange`/`repeat`/`reduce` (None when even the rank is unknown)."""
    if "->" not in pattern:
        raise Unresolvable(f"no `->` in the einops pattern `{pattern}`")
    left_text, right_text = pattern.split("->", 1)
    left, right = parse_side(left_text), parse_side(right_text)
    known: dict[str, int | None] = {k: v for k, v in ((k, _length(k, lengths)) for k in lengths) if v is not None}
    ellipsis_dims: list[int | None] | None = None
    if shape is not None:
        fixed = [g for g in left if g != ELLIPSIS]
        if ELLIPSIS in left:
            rest = len(shape) - len(fixed)
            if rest < 0:
                raise Unresolvable(f"`{pattern}` does not fit a tensor of rank {len(shape)}")
        elif len(fixed) != len(shape):
            raise Unresolvable(f"`{pattern}` does not fit a tensor of rank {len(shape)}")
        i = 0
        for group in left:
            if group == ELLIPSIS:
                ellipsis_dims = list(shape[i : i + rest])
                i += rest
                continue
            size = shape[i]
            i += 1
            assert isinstance(group, list)
            open_axes = [a for a in group if _length(a, known) is None]
            if len(open_axes) == 1 and size is not None:
                rest_product = math.prod(_length(a, known) or 1 for a in group if a != open_axes[0])
                if rest_product and size % rest_product == 0:
                    known[open_axes[0]] = size // rest_product
    elif ELLIPSIS in left or ELLIPSIS in right:
        return None
    out: list[int | None] = []
    for group in right:
        if group == ELLIPSIS:
            if ellipsis_dims is None:
                return None
            out.extend(ellipsis_dims)
            continue
        assert isinstance(group, list)
        sizes = [_length(a, known) for a in group]
        out.append(None if None in sizes else math.prod(s for s in sizes if s is not None))
    if shape is None:
        return None
    return tuple(out)


def einops_function(kind: str) -> Any:
    """`einops.rearrange/repeat/reduce(tensor, pattern, [reduction], **axes_lengths)`."""

    def run(interp: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        from ckptlens.engine.values import Unknown

        tensor = args[0] if args else kwargs.get("tensor")
        pattern = args[1] if len(args) > 1 else kwargs.get("pattern")
        lengths = {k: v for k, v in kwargs.items() if k not in ("tensor", "pattern", "reduction")}
        if not isinstance(tensor, TensorValue) or not isinstance(pattern, str):
            return Unknown(f"`einops.{kind}` of an unknown value")
        try:
            shape = pattern_shape(pattern, tensor.shape, lengths, kind)
        except Unresolvable:
            shape = None
        return TensorValue(shape, tensor.dtype, False, tensor.requires_grad)

    return run


def _einmix(a: dict[str, Any]) -> LayerBuild:
    pattern, weight_shape, bias_shape = a["pattern"], a["weight_shape"], a["bias_shape"]
    lengths = a["axes_lengths"]
    if not isinstance(pattern, str) or not isinstance(weight_shape, str) or "->" not in pattern:
        raise Unresolvable("the EinMix pattern is unknown")
    if not isinstance(lengths, dict) or any(is_unknown(v) for v in lengths.values()):
        raise Unresolvable("the EinMix axis lengths are unknown")
    weight = parse_side(weight_shape)
    if any(g == ELLIPSIS or len(g) != 1 for g in weight):
        raise Unresolvable(f"EinMix weight shape `{weight_shape}`")
    weight_dims = tuple(_length(g[0], lengths) for g in weight)
    params = [param("weight", weight_dims)]
    if bias_shape is not None:
        if not isinstance(bias_shape, str):
            raise Unresolvable("the EinMix bias shape is unknown")
        bias_axes = {a for g in parse_side(bias_shape) if g != ELLIPSIS for a in g}
        dims: list[int | None] = []
        for group in parse_side(pattern.split("->", 1)[1]):
            if group == ELLIPSIS:
                continue
            for axis in group:
                dims.append(_length(axis, lengths) if axis in bias_axes else 1)
        params.append(param("bias", tuple(dims)))
    return LayerBuild(params, attributes={"pattern": pattern, "weight_shape": weight_shape, "bias_shape": bias_shape})


ROWS: tuple[Row, ...] = (
    Row("einops.layers.torch", "Rearrange", signature("pattern, **axes_lengths"), nothing, False),
    Row("einops.layers.torch", "Reduce", signature("pattern, reduction, **axes_lengths"), nothing, False),
    Row("einops.layers.torch", "EinMix", signature("pattern, weight_shape, bias_shape=None, **axes_lengths"), _einmix, False),
)

FUNCTIONS: dict[str, Any] = {
    "einops.rearrange": einops_function("rearrange"),
    "einops.repeat": einops_function("repeat"),
    "einops.reduce": einops_function("reduce"),
    "einops.einops.rearrange": einops_function("rearrange"),
    "einops.einops.repeat": einops_function("repeat"),
    "einops.einops.reduce": einops_function("reduce"),
}
