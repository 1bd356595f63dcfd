"""What the tensor factories (`tensors`) and the tensor methods (`tensor_methods`) share: shape
arithmetic, the dtypes of results, `torch.tensor(data)`, splitting and reducing along a dim."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ckptlens.engine.dtype_names import DEFAULT_DTYPE, UNKNOWN_DTYPE, dtype_name
from ckptlens.engine.model import Shape
from ckptlens.engine.symbolic import Sym
from ckptlens.engine.values import TensorValue, Unknown, as_dim, is_unknown

_FLOATING = {"float32", "float64", "float16", "bfloat16"}
_COMPLEX = {"complex32", "complex64", "complex128"}


def dtype_global(dtype: str) -> Any:
    """What `t.dtype` evaluates to for the interpreter: the string `"torch.<name>"`."""
    if dtype == UNKNOWN_DTYPE:
        return Unknown("the tensor's dtype is unknown")
    return f"torch.{dtype}"


def numel(shape: Shape) -> int | None:
    if shape is None or any(not isinstance(d, int) for d in shape):  # unknown, or a symbol
        return None
    return math.prod(d for d in shape if d is not None)


def size_arg(args: Sequence[Any]) -> Shape:
    """A size given as varargs ints, or one tuple / list (torch.Size arrives as a tuple)."""
    if len(args) == 1:
        only = args[0]
        if isinstance(only, (tuple, list)):
            return tuple(_size_dim(v) for v in only)
        if isinstance(only, Sym):  # a symbolic int (the inference's symbolic pass)
            return (only,)  # type: ignore[return-value]
        if is_unknown(only):  # an int or a whole size: the rank is unknown
            return None
        return (as_dim(only),)
    if any(isinstance(a, (tuple, list)) for a in args):
        return None
    return tuple(_size_dim(a) for a in args)


def _size_dim(value: Any) -> Any:
    return value if isinstance(value, Sym) else as_dim(value)


def norm_axis(axis: Any, rank: int) -> int | None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        return None
    if axis < 0:
        axis += rank
    return axis if 0 <= axis < rank else None


def reshape(shape: Shape, new: Shape) -> Shape:
    if new is None:
        return None
    if sum(1 for d in new if d == -1) > 1:
        return None
    if -1 not in new:
        return new
    total = numel(shape)
    known = [d for d in new if d != -1]
    if total is None or any(d is None for d in known):
        return tuple(None if d == -1 else d for d in new)
    rest = math.prod(d for d in known if d is not None)
    inferred = total // rest if rest else None
    return tuple(inferred if d == -1 else d for d in new)


def sizes_arg(args: Sequence[Any], kwargs: Mapping[str, Any], key: str = "size") -> Shape:
    if key in kwargs:
        return size_arg([kwargs[key]])
    return size_arg(args)


def factory_dtype(kwargs: Mapping[str, Any], default: str) -> str:
    return dtype_name(kwargs.get("dtype"), default)


def requires_grad_arg(kwargs: Mapping[str, Any]) -> bool:
    value = kwargs.get("requires_grad", False)
    return value if isinstance(value, bool) else False


def scalar_dtype(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return DEFAULT_DTYPE
    if isinstance(value, complex):
        return "complex64"
    return UNKNOWN_DTYPE


_CATEGORY = {"bool": 0, "int64": 1, "float32": 2, "complex64": 3}


def promote(dtypes: list[str]) -> str:
    known = [d for d in dtypes if d in _CATEGORY]
    unknown = len(known) != len(dtypes)
    best = max(known, key=_CATEGORY.__getitem__, default=None)
    if best is None:
        return UNKNOWN_DTYPE
    if unknown and _CATEGORY[best] < _CATEGORY["float32"]:
        return UNKNOWN_DTYPE
    return best


def data_shape_and_dtype(data: Any) -> tuple[Shape, str]:
    """The shape and inferred dtype of nested literal data (`torch.tensor([[1, 2], [3, 4]])`).
    An Unknown element counts as a scalar: its siblings' lengths still give the shape."""
    if isinstance(data, TensorValue):
        return data.shape, data.dtype
    if is_unknown(data):
        return (), UNKNOWN_DTYPE
    if isinstance(data, (list, tuple)):
        if not data:
            return (0,), DEFAULT_DTYPE
        parts = [data_shape_and_dtype(item) for item in data]
        dtype = promote([d for _, d in parts])
        shapes = {shape for shape, _ in parts}
        inner = shapes.pop() if len(shapes) == 1 else None
        if inner is None:
            return None, dtype
        return (len(data), *inner), dtype
    return (), scalar_dtype(data)


def torch_tensor(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    data = args[0] if args else kwargs.get("data")
    if is_unknown(data):
        return TensorValue(
            None, factory_dtype(kwargs, UNKNOWN_DTYPE), False, requires_grad_arg(kwargs)
        )
    shape, dtype = data_shape_and_dtype(data)
    return TensorValue(shape, factory_dtype(kwargs, dtype), False, requires_grad_arg(kwargs))


def axis_of(dim: Any, rank: int) -> int | None:
    if isinstance(dim, bool) or not isinstance(dim, int) or not -rank <= dim < rank:
        return None
    return dim + rank if dim < 0 else dim


def split(value: TensorValue, sizes: Any, dim: Any) -> Any:
    """`t.split(sizes, dim)`: a tuple of tensors, the dim cut into the sizes given (or chunks)."""
    shape = value.shape
    assert shape is not None
    axis = axis_of(dim, len(shape))
    if axis is None:
        return None
    total = shape[axis]
    if isinstance(sizes, (list, tuple)) and all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        if total is not None and sum(sizes) != total:
            return None
        parts = list(sizes)
    elif isinstance(sizes, int) and not isinstance(sizes, bool) and sizes > 0 and total is not None:
        parts = [min(sizes, total - start) for start in range(0, total, sizes)]
    else:
        return None
    pieces = tuple(plain(value, (*shape[:axis], n, *shape[axis + 1 :])) for n in parts)
    if value.data is not None and len(shape) == 1:
        starts = [sum(parts[:i]) for i in range(len(parts))]
        pieces = tuple(replace(p, data=value.data[a : a + n]) for p, a, n in zip(pieces, starts, parts, strict=True))
    return pieces


MAX_UNBIND = 4096  # `t.unbind()` into more pieces than this: not followed


def unbind(value: TensorValue, dim: Any) -> tuple[TensorValue, ...] | None:
    """`t.unbind(dim)`: one tensor per index of the dim, the dim removed."""
    shape = value.shape
    if shape is None or not shape:
        return None
    axis = axis_of(dim, len(shape))
    if axis is None:
        return None
    count = shape[axis]
    if not isinstance(count, int) or count > MAX_UNBIND:
        return None
    piece = plain(value, (*shape[:axis], *shape[axis + 1 :]))
    return (piece,) * count


def reduced(value: TensorValue, dim: Any, keepdim: Any) -> TensorValue:
    """`t.sum(dim)`-style reductions: the dims named go (or become 1 with keepdim)."""
    shape = value.shape
    if value.dtype == "bool":  # sum/prod of booleans count in int64
        value = TensorValue(shape, "int64", False, False)
    if dim is None:
        dims: Shape = () if keepdim is False else None
        if keepdim is True and shape is not None:
            dims = tuple(1 for _ in shape)
        return plain(value, dims)
    if shape is None or not isinstance(keepdim, bool):
        return plain(value, None)
    axes = [axis_of(d, len(shape)) for d in (dim if isinstance(dim, (list, tuple)) else [dim])]
    if any(a is None for a in axes):
        return plain(value, None)
    if keepdim:
        return plain(value, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return plain(value, tuple(d for i, d in enumerate(shape) if i not in axes))


def can_grad(dtype: str) -> bool:
    return dtype in _FLOATING or dtype in _COMPLEX or dtype == UNKNOWN_DTYPE


def plain(value: TensorValue, shape: Shape, dtype: str | None = None) -> TensorValue:
    """A new (non-parameter) tensor computed from `value`: it requires grad when `value` does
    and its dtype can carry gradients."""
    dtype = value.dtype if dtype is None else dtype
    return TensorValue(shape, dtype, False, value.requires_grad and can_grad(dtype))


def argument(
    args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any
) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)
