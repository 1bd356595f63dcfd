"""Tensor methods over abstract values (`t.view(...)`, `t.float()`, `t.size(0)`, ...) as a table,
name -> handler, and tensor attributes (`t.shape`, `t.dtype`, `t.T`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ckptlens.engine import tensor_data
from ckptlens.engine.dtype_names import DEFAULT_DTYPE, DTYPE_ALIASES, UNKNOWN_DTYPE, dtype_name
from ckptlens.engine.model import Dim, Shape
from ckptlens.engine.tensor_base import (
    argument,
    can_grad,
    dtype_global,
    factory_dtype,
    norm_axis,
    numel,
    plain,
    reduced,
    requires_grad_arg,
    reshape,
    size_arg,
    sizes_arg,
    split,
    torch_tensor,
    unbind,
)
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

_DTYPE_METHODS: Mapping[str, str] = {
    "float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16",
    "long": "int64", "int": "int32", "short": "int16", "char": "int8", "byte": "uint8",
    "bool": "bool", "cfloat": "complex64", "cdouble": "complex128",
}  # fmt: skip

_IN_PLACE = {
    "normal_", "uniform_", "zero_", "fill_", "copy_", "clamp_", "mul_", "add_", "div_",
    "sub_", "exp_", "log_", "abs_", "neg_", "sqrt_", "fill_diagonal_", "bernoulli_",
    "exponential_", "geometric_", "log_normal_", "cauchy_", "random_", "masked_fill_",
    "clamp_min_", "clamp_max_", "tril_", "triu_", "pow_", "sigmoid_", "tanh_",
}  # fmt: skip

_SHAPE_KEEPING = {"tril", "triu", "masked_fill", "abs", "neg", "clamp", "clamp_min", "clamp_max", "flip", "roll"}
_FLOAT_UNARY = {"exp", "log", "sin", "cos", "sqrt", "rsqrt", "sigmoid", "tanh", "reciprocal"}


def _dims_tuple(shape: Shape) -> Any:
    if shape is None:
        return Unknown("the tensor's rank is unknown")
    return tuple(Unknown("this dim is unknown") if d is None else d for d in shape)


def _convert(value: TensorValue, dtype: str) -> TensorValue:
    if dtype == value.dtype:
        return value  # torch returns the tensor itself when nothing changes
    return plain(value, value.shape, dtype)


def _to(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    target: str | None = None
    for arg in args:
        if isinstance(arg, TensorValue):
            target = arg.dtype
        elif isinstance(arg, str) and arg.startswith("torch.") and arg[6:] in DTYPE_ALIASES:
            target = DTYPE_ALIASES[arg[6:]]
        elif isinstance(arg, type) or is_unknown(arg):
            # an unknown argument may be a device or a dtype
            target = dtype_name(arg) if isinstance(arg, type) else UNKNOWN_DTYPE
    if "dtype" in kwargs:
        target = dtype_name(kwargs["dtype"], value.dtype)
    if target is None:
        return value
    return _convert(value, target)


def _squeeze(shape: Shape, args: Sequence[Any]) -> Shape:
    if shape is None:
        return None
    if not args:
        if any(d is None for d in shape):
            return None
        return tuple(d for d in shape if d != 1)
    axes = args[0] if isinstance(args[0], (tuple, list)) else args
    targets: set[int] = set()
    for axis in axes:
        norm = norm_axis(axis, len(shape))
        if norm is None:
            return None
        targets.add(norm)
    out: list[Dim] = []
    for i, d in enumerate(shape):
        if i in targets:
            if d is None:
                return None
            if d == 1:
                continue
        out.append(d)
    return tuple(out)


def _unsqueeze(shape: Shape, axis: Any) -> Shape:
    if shape is None:
        return None
    rank = len(shape) + 1
    norm = norm_axis(axis, rank)
    if norm is None:
        return None
    return (*shape[:norm], 1, *shape[norm:])


def _expand(shape: Shape, sizes: Shape) -> Shape:
    if sizes is None:
        return None
    if shape is None:
        return tuple(None if d == -1 else d for d in sizes)
    lead = len(sizes) - len(shape)
    if lead < 0:
        return None
    out: list[Dim] = []
    for i, d in enumerate(sizes):
        if d == -1:
            out.append(shape[i - lead] if i >= lead else None)
        else:
            out.append(d)
    return tuple(out)


def _repeat(shape: Shape, sizes: Shape) -> Shape:
    if sizes is None:
        return None
    if shape is None:
        return tuple(None for _ in sizes)
    lead = len(sizes) - len(shape)
    if lead < 0:
        return None
    padded: tuple[Dim, ...] = (1,) * lead + shape
    return tuple(
        None if a is None or b is None else a * b for a, b in zip(padded, sizes, strict=True)
    )


def _transpose(shape: Shape, a: Any, b: Any) -> Shape:
    if shape is None:
        return None
    if not shape:
        return shape
    i, j = norm_axis(a, len(shape)), norm_axis(b, len(shape))
    if i is None or j is None:
        return None
    dims = list(shape)
    dims[i], dims[j] = dims[j], dims[i]
    return tuple(dims)


def _permute(shape: Shape, args: Sequence[Any]) -> Shape:
    order = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    if shape is None:
        return tuple(None for _ in order) if order else None
    axes = [norm_axis(a, len(shape)) for a in order]
    if len(axes) != len(shape) or any(a is None for a in axes):
        return None
    return tuple(shape[a] for a in axes if a is not None)


def _flatten(shape: Shape, start: Any, end: Any) -> Shape:
    if shape is None:
        return None
    if not shape:
        return (1,)
    s, e = norm_axis(start, len(shape)), norm_axis(end, len(shape))
    if s is None or e is None or s > e:
        return None
    middle = shape[s : e + 1]
    merged = (
        None if any(d is None for d in middle) else math.prod(d for d in middle if d is not None)
    )
    return (*shape[:s], merged, *shape[e + 1 :])


def _new_sized(
    value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any], fill: bool
) -> TensorValue:
    if fill:
        size = args[0] if args else kwargs.get("size")
        shape = size_arg([size])
    else:
        shape = sizes_arg(args, kwargs)
    return TensorValue(shape, factory_dtype(kwargs, value.dtype), False, requires_grad_arg(kwargs))


MethodHandler = Callable[[TensorValue, Sequence[Any], Mapping[str, Any]], Any]


def _view(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if len(args) == 1 and isinstance(args[0], str):
        return None  # .view(dtype) reinterprets the storage
    if "shape" in kwargs or "size" in kwargs:
        args = [kwargs.get("shape", kwargs.get("size"))]
    return plain(value, reshape(value.shape, size_arg(args)))


def _view_as(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    other = args[0] if args else None
    return plain(value, other.shape if isinstance(other, TensorValue) else None)


def _unsqueeze_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(value, _unsqueeze(value.shape, argument(args, kwargs, 0, "dim", None)))


def _squeeze_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    dims = list(args) if args else ([kwargs["dim"]] if "dim" in kwargs else [])
    return plain(value, _squeeze(value.shape, dims))


def _expand_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(value, _expand(value.shape, sizes_arg(args, kwargs)))


def _repeat_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(value, _repeat(value.shape, sizes_arg(args, kwargs, "repeats")))


def _t(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    shape = value.shape
    if shape is not None and len(shape) > 2:
        return None
    return plain(value, None if shape is None else tuple(reversed(shape)))


def _transpose_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(
        value,
        _transpose(
            value.shape, argument(args, kwargs, 0, "dim0", None), argument(args, kwargs, 1, "dim1", None)
        ),
    )


def _permute_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(value, _permute(value.shape, args or [kwargs.get("dims", ())]))


def _flatten_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(
        value,
        _flatten(
            value.shape, argument(args, kwargs, 0, "start_dim", 0), argument(args, kwargs, 1, "end_dim", -1)
        ),
    )


def _dtype_method(dtype: str) -> MethodHandler:
    """`.float()`, `.long()`, ...: the tensor converted to `dtype`."""

    def method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return _convert(value, dtype)

    return method


def _type(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    target = argument(args, kwargs, 0, "dtype", None)
    if target is None:
        return Unknown("the tensor's type string")
    return _convert(value, dtype_name(target))


def _copy(keeps_grad: bool) -> MethodHandler:
    """`.clone()` (keeps requires_grad) and `.detach()` (drops it)."""

    def method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return TensorValue(value.shape, value.dtype, False, value.requires_grad and keeps_grad)

    return method


def _itself(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return value


def _requires_grad_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    flag = argument(args, kwargs, 0, "requires_grad", True)
    return replace(value, requires_grad=flag if isinstance(flag, bool) else value.requires_grad)


def _shape_keeping(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(value, value.shape)


def _float_unary(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return plain(value, value.shape, value.dtype if can_grad(value.dtype) else DEFAULT_DTYPE)


def _new(fill: bool) -> MethodHandler:
    """`.new_zeros(size)` / `.new_ones` / `.new_empty` and `.new_full(size, fill_value)`."""

    def method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return _new_sized(value, args, kwargs, fill=fill)

    return method


def _new_tensor(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    made = torch_tensor(args, kwargs)
    return made if "dtype" in kwargs else replace(made, dtype=value.dtype)


def _size(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    shape = value.shape
    axis = argument(args, kwargs, 0, "dim", None)
    if axis is None:
        return _dims_tuple(shape)
    if shape is None:
        return Unknown("the tensor's rank is unknown")
    norm = norm_axis(axis, len(shape))
    if norm is None:
        return Unknown("size() of an unknown or invalid dim")
    dim = shape[norm]
    return Unknown("this dim is unknown") if dim is None else dim


def _numel_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    count = numel(value.shape)
    return Unknown("the tensor's size is unknown") if count is None else count


def _dim(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return Unknown("the tensor's rank is unknown") if value.shape is None else len(value.shape)


def _item(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    shape = value.shape
    if not args and not kwargs and value.data is not None:
        return value.data[0] if len(value.data) == 1 and shape in ((), (1,)) else None
    return None


def _tolist(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    shape = value.shape
    if not args and not kwargs and value.data is not None:
        return list(value.data) if shape is not None and len(shape) == 1 else value.data[0] if shape == () else None
    if not args and not kwargs and shape is not None and len(shape) <= 2 and None not in shape:
        # the values are unknown, the structure is not: `[x.tolist() for x in t.split(depths)]`
        if len(shape) == 0:
            return Unknown("a tensor's value")
        if len(shape) == 1:
            return [Unknown("a tensor's value") for _ in range(shape[0] or 0)]
        return [[Unknown("a tensor's value") for _ in range(shape[1] or 0)] for _ in range(shape[0] or 0)]
    return None


def _split_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if value.shape is None:
        return None
    return split(value, argument(args, kwargs, 0, "split_size", kwargs.get("split_size_or_sections")), argument(args, kwargs, 1, "dim", 0))


def _unbind_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if set(kwargs) - {"dim"}:
        return None
    return unbind(value, argument(args, kwargs, 0, "dim", 0))


def _reduction_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if set(kwargs) - {"dim", "keepdim"}:
        return None
    return reduced(value, argument(args, kwargs, 0, "dim", None), argument(args, kwargs, 1, "keepdim", False))


# A method not in this table (`max`, `norm`, `std`, ...) is not modelled: its result is None.
TENSOR_METHODS: Mapping[str, MethodHandler] = {
    "view": _view, "reshape": _view,
    "view_as": _view_as, "reshape_as": _view_as, "expand_as": _view_as,
    "unsqueeze": _unsqueeze_method, "squeeze": _squeeze_method,
    "expand": _expand_method, "repeat": _repeat_method, "t": _t,
    "transpose": _transpose_method, "swapaxes": _transpose_method, "swapdims": _transpose_method,
    "permute": _permute_method, "flatten": _flatten_method,
    **{name: _dtype_method(dtype) for name, dtype in _DTYPE_METHODS.items()},
    "to": _to, "type": _type,
    "clone": _copy(keeps_grad=True), "detach": _copy(keeps_grad=False),
    **dict.fromkeys(("contiguous", "cpu", "cuda", "share_memory_", "pin_memory"), _itself),
    "requires_grad_": _requires_grad_method,
    **dict.fromkeys(_IN_PLACE, _itself),
    **dict.fromkeys(_SHAPE_KEEPING, _shape_keeping),
    **dict.fromkeys(_FLOAT_UNARY, _float_unary),
    **dict.fromkeys(("new_zeros", "new_ones", "new_empty"), _new(fill=False)), "new_full": _new(fill=True),
    "new_tensor": _new_tensor,
    "size": _size, "numel": _numel_method, "nelement": _numel_method,
    "dim": _dim, "ndimension": _dim,
    "item": _item, "tolist": _tolist, "split": _split_method, "unbind": _unbind_method,
    **dict.fromkeys(("sum", "mean", "prod", "amax", "amin"), _reduction_method),
}  # fmt: skip


def tensor_method(
    value: TensorValue, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Any:
    """What `value.<name>(*args, **kwargs)` returns (a TensorValue, a size tuple, an int, a dtype
    string), or None when the method is not one we model."""
    with_data = tensor_data.method(value, name, args, kwargs)
    if with_data is not None:
        return with_data
    method = TENSOR_METHODS.get(name)
    if method is not None:
        return method(value, args, kwargs)
    return tensor_attribute(value, name) if name in ("shape", "ndim", "dtype", "T") else None


def tensor_attribute(value: TensorValue, name: str) -> Any:
    """What `value.<name>` evaluates to (`.shape`, `.ndim`, `.dtype`, `.T`, `.data`), or None."""
    shape = value.shape
    if name == "shape":
        return _dims_tuple(shape)
    if name == "ndim":
        return Unknown("the tensor's rank is unknown") if shape is None else len(shape)
    if name == "dtype":
        return dtype_global(value.dtype)
    if name in ("T", "mT"):
        if shape is None:
            return plain(value, None)
        if name == "mT":
            return plain(value, _transpose(shape, -2, -1) if len(shape) >= 2 else None)
        return plain(value, tuple(reversed(shape)))
    if name == "data":
        return TensorValue(shape, value.dtype, False, False)
    if name == "requires_grad":
        return value.requires_grad
    if name == "is_leaf":
        return Unknown("is_leaf")
    return None
