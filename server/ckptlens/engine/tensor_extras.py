"""Tensor operations real model code uses in shapes that the core tables leave out:
`torch.where(cond, x, y)` (transformers' MiniMax decay tables), `torch.normal(mean, std, size)`
is in tensors.py. Shapes broadcast as torch broadcasts them; a dim that cannot be settled is
None (unknown), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ckptlens.engine.dtype_names import DEFAULT_DTYPE, UNKNOWN_DTYPE
from ckptlens.engine.model import Shape
from ckptlens.engine.tensor_data import result_dtype
from ckptlens.engine.values import TensorValue


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """torch's broadcasting of several shapes (None where a dim is not known to agree)."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes if s is not None), default=0)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes if s is not None]
    dims: list[Any] = []
    for column in zip(*padded, strict=True):
        sizes = {d for d in column if d != 1}
        if not sizes:
            dims.append(1)
        elif len(sizes) == 1:
            dims.append(next(iter(sizes)))
        else:
            dims.append(None)  # a None among known sizes, or sizes torch would reject
    return tuple(dims)


def where(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    """`torch.where(condition, input, other)`: the three broadcast; the dtype is the promotion
    of `input` and `other` (a Python number counts as a scalar). The one-argument form
    (`nonzero` as a tuple) has data-dependent sizes: unknown."""
    names = ("condition", "input", "other")
    values = [args[i] if i < len(args) else kwargs.get(name) for i, name in enumerate(names)]
    cond, x, y = values
    if not isinstance(cond, TensorValue) or x is None or y is None:
        return TensorValue(None, UNKNOWN_DTYPE, False, False)
    operands = [v for v in (x, y) if isinstance(v, TensorValue)]
    for v in (x, y):
        if not isinstance(v, TensorValue) and not (isinstance(v, (int, float, bool))):
            return TensorValue(None, UNKNOWN_DTYPE, False, False)
    if operands:
        dtype = result_dtype(x, y) or UNKNOWN_DTYPE
    elif any(isinstance(v, float) for v in (x, y)):
        dtype = DEFAULT_DTYPE
    else:
        dtype = "bool" if all(isinstance(v, bool) for v in (x, y)) else "int64"
    shape = broadcast([cond.shape, *(v.shape for v in operands)])
    grad = any(v.requires_grad for v in operands) and dtype in ("float32", "float64", "float16", "bfloat16")
    return TensorValue(shape, dtype, False, grad)


def compare(left: Any, right: Any) -> TensorValue | None:
    """`t >= 0`, `a == b` with a tensor: an elementwise bool tensor of the broadcast shape;
    None when neither side is a tensor or the other is not a number or tensor."""
    if not isinstance(left, TensorValue) and not isinstance(right, TensorValue):
        return None
    for v in (left, right):
        if not isinstance(v, (TensorValue, int, float)):
            return None
    shapes = [v.shape for v in (left, right) if isinstance(v, TensorValue)]
    return TensorValue(broadcast(shapes), "bool", False, False)
