"""Tensor factories and tensor methods over abstract values: shapes and dtypes, never data.

`tensor_call` answers for calls such as `torch.zeros(4, d)` or `nn.Parameter(torch.randn(d))`;
`tensor_methods.tensor_method` / `tensor_attribute` for what model code applies to a tensor in
`__init__` (`.view(1, 1, n, n)`, `.float()`, `.shape`); `tensor_base` holds what both share. A dim the analysis cannot know is `None`; a shape
whose rank it cannot know is `None`.

Conventions shared with the layer catalog:

- dtypes are canonical short names (`"float32"`, `"int64"`, `"bool"`); a dtype argument
  arrives as the string `"torch.<name>"` (`"torch.long"`, `"torch.half"`), or as the Python type
  `int` / `float` / `bool`; one that cannot be known is `UNKNOWN_DTYPE`.
- `nn.Buffer(t, persistent=False)` gives a `BufferValue`, a `TensorValue` carrying `persistent`
  (`register_buffer(name, BufferValue)` keeps the tensor's own flag unless the call overrides it,
  as torch does).
- values: a `TensorValue`; `Unknown` for anything that cannot be known (an element of
  `.size()`, `.numel()` of a shape with unknown dims)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ckptlens.engine import tensor_data, tensor_extras
from ckptlens.engine.dtype_names import DEFAULT_DTYPE, UNKNOWN_DTYPE
from ckptlens.engine.tensor_base import (
    argument,
    axis_of,
    can_grad,
    data_shape_and_dtype,
    factory_dtype,
    plain,
    promote,
    reduced,
    requires_grad_arg,
    scalar_dtype,
    size_arg,
    sizes_arg,
    torch_tensor,
    unbind,
)
from ckptlens.engine.tensor_methods import tensor_method
from ckptlens.engine.values import TensorValue, Unknown, as_dim, is_unknown

# legacy typed constructors: torch.FloatTensor(...) etc.
_TYPED_TENSORS: Mapping[str, str] = {
    "Tensor": DEFAULT_DTYPE, "FloatTensor": "float32", "DoubleTensor": "float64",
    "HalfTensor": "float16", "BFloat16Tensor": "bfloat16", "ByteTensor": "uint8",
    "CharTensor": "int8", "ShortTensor": "int16", "IntTensor": "int32",
    "LongTensor": "int64", "BoolTensor": "bool",
}  # fmt: skip


@dataclass(frozen=True)
class BufferValue(TensorValue):
    """`torch.nn.Buffer(t, persistent=...)`: a tensor marked to become a buffer when assigned."""

    persistent: bool = True


def _sized(default_dtype: str) -> Callable[[Sequence[Any], Mapping[str, Any]], TensorValue]:
    def make(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
        return TensorValue(
            sizes_arg(args, kwargs),
            factory_dtype(kwargs, default_dtype),
            False,
            requires_grad_arg(kwargs),
        )

    return make


def _full(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    size = args[0] if args else kwargs.get("size")
    fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
    return TensorValue(
        size_arg([size]), factory_dtype(kwargs, scalar_dtype(fill)), False, requires_grad_arg(kwargs)
    )


def _like(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    """zeros_like & co.: the source's shape and dtype (full_like keeps the dtype too)."""
    source = args[0] if args else kwargs.get("input")
    if not isinstance(source, TensorValue):
        return TensorValue(
            None, factory_dtype(kwargs, UNKNOWN_DTYPE), False, requires_grad_arg(kwargs)
        )
    return TensorValue(
        source.shape, factory_dtype(kwargs, source.dtype), False, requires_grad_arg(kwargs)
    )


def _normal(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    """torch.normal(mean, std, size=...): `size` with two numbers, else the tensor's shape."""
    mean = args[0] if args else kwargs.get("mean")
    std = args[1] if len(args) > 1 else kwargs.get("std", 1.0)
    given = [v for v in (mean, std) if isinstance(v, TensorValue)]
    if len(given) == 1 or (len(given) == 2 and given[0].shape == given[1].shape):
        return plain(given[0], given[0].shape)
    size = args[2] if len(args) > 2 else kwargs.get("size")
    shape = size_arg([size]) if not given and size is not None else None
    return TensorValue(shape, factory_dtype(kwargs, DEFAULT_DTYPE), False, requires_grad_arg(kwargs))


def _randint(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    # randint(high, size) | randint(low, high, size); size may come by keyword
    if "size" in kwargs:
        size: Any = kwargs["size"]
    elif len(args) >= 2:
        size = args[-1]
    else:
        size = Unknown("randint size")
    return TensorValue(
        size_arg([size]), factory_dtype(kwargs, "int64"), False, requires_grad_arg(kwargs)
    )


def _eye(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    n = args[0] if args else kwargs.get("n")
    m = args[1] if len(args) > 1 else kwargs.get("m")
    rows = as_dim(n)
    cols = rows if m is None else as_dim(m)
    return TensorValue(
        (rows, cols), factory_dtype(kwargs, DEFAULT_DTYPE), False, requires_grad_arg(kwargs)
    )


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _arange(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    names = ("start", "end", "step")
    given = dict(zip(names, args, strict=False)) if len(args) != 1 else {"end": args[0]}
    given.update({k: kwargs[k] for k in names if k in kwargs})
    start, end, step = given.get("start", 0), given.get("end"), given.get("step", 1)
    values = (start, end, step)
    if any(is_unknown(v) for v in values):
        # integral unless some bound is a float; an unknown one may be either
        dtype = DEFAULT_DTYPE if any(isinstance(v, float) for v in values) else UNKNOWN_DTYPE
        return TensorValue((None,), factory_dtype(kwargs, dtype), False, requires_grad_arg(kwargs))
    dtype = "int64" if all(isinstance(v, int) for v in values) else DEFAULT_DTYPE
    a, b, s = _number(start), _number(end), _number(step)
    length: int | None = None
    if a is not None and b is not None and s:
        length = max(0, math.ceil((b - a) / s))
    return TensorValue((length,), factory_dtype(kwargs, dtype), False, requires_grad_arg(kwargs))


def _steps(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    steps = args[2] if len(args) > 2 else kwargs.get("steps")
    start: Any = args[0] if args else kwargs.get("start")
    end: Any = args[1] if len(args) > 1 else kwargs.get("end")
    data = None
    count = as_dim(steps)
    if count is not None and count <= 100_000 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, end)
    ) and start == end and kwargs.get("dtype") in (None, "torch.float32", "torch.float", "torch.float64"):
        data = (float(start),) * count  # every value is `start`, exactly
    return TensorValue(
        (count,), factory_dtype(kwargs, DEFAULT_DTYPE), False, requires_grad_arg(kwargs), data=data
    )


def _as_tensor(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    data = args[0] if args else kwargs.get("data")
    if isinstance(data, TensorValue):
        dtype = factory_dtype(kwargs, data.dtype)
        return data if dtype == data.dtype else replace(data, dtype=dtype, is_parameter=False)
    return torch_tensor(args, kwargs)


def _typed_tensor(dtype: str) -> Callable[[Sequence[Any], Mapping[str, Any]], TensorValue]:
    def make(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
        if not args:
            return TensorValue((0,), dtype, False, False)
        if len(args) == 1 and isinstance(args[0], (list, tuple)):  # data, as torch reads it
            shape, _ = data_shape_and_dtype(args[0])
            return TensorValue(shape, dtype, False, False)
        if len(args) == 1 and isinstance(args[0], TensorValue):
            return TensorValue(args[0].shape, dtype, False, False)
        return TensorValue(size_arg(args), dtype, False, False)

    return make


def _parameter(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    data = args[0] if args else kwargs.get("data")
    requires_grad = args[1] if len(args) > 1 else kwargs.get("requires_grad", True)
    if not isinstance(requires_grad, bool):
        requires_grad = True
    if data is None:
        return TensorValue((0,), DEFAULT_DTYPE, True, requires_grad)
    if isinstance(data, TensorValue):
        return TensorValue(data.shape, data.dtype, True, requires_grad)
    return TensorValue(None, UNKNOWN_DTYPE, True, requires_grad)


def _buffer(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    data = args[0] if args else kwargs.get("data")
    persistent = kwargs.get("persistent", True)
    if not isinstance(persistent, bool):
        persistent = True  # unknown: the interpreter asks again through `register_buffer`
    if data is None:
        return BufferValue((0,), DEFAULT_DTYPE, False, False, persistent)
    if isinstance(data, TensorValue):
        return BufferValue(data.shape, data.dtype, False, data.requires_grad, persistent)
    return BufferValue(None, UNKNOWN_DTYPE, False, False, persistent)


def _init(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    tensor = args[0] if args else kwargs.get("tensor")
    if isinstance(tensor, TensorValue):
        return tensor
    return TensorValue(None, UNKNOWN_DTYPE, False, False)


def _same(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    source = args[0] if args else kwargs.get("input")
    if isinstance(source, TensorValue):
        return plain(source, source.shape)
    return TensorValue(None, UNKNOWN_DTYPE, False, False)


def _to_float(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    source = args[0] if args else kwargs.get("input")
    if isinstance(source, TensorValue):
        return plain(
            source, source.shape, source.dtype if can_grad(source.dtype) else DEFAULT_DTYPE
        )
    return TensorValue(None, UNKNOWN_DTYPE, False, False)


def _outer(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    if len(args) < 2:
        return None
    vectors = [
        a if isinstance(a, TensorValue) and a.shape is not None and len(a.shape) == 1 else None
        for a in args[:2]
    ]
    dims = tuple(v.shape[0] if v is not None and v.shape is not None else None for v in vectors)
    dtypes = {v.dtype if v is not None else UNKNOWN_DTYPE for v in vectors}
    dtype = dtypes.pop() if len(dtypes) == 1 else UNKNOWN_DTYPE
    grad = any(v is not None and v.requires_grad for v in vectors) and can_grad(dtype)
    return TensorValue(dims, dtype, False, grad)


def _tensors(value: Any) -> list[TensorValue] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, TensorValue) for v in value):
        return list(value)
    return None


def _unbind(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """`torch.unbind(t, dim)`: one tensor per index of the dim."""
    value = args[0] if args else kwargs.get("input")
    if not isinstance(value, TensorValue) or set(kwargs) - {"input", "dim"}:
        return None
    return unbind(value, args[1] if len(args) > 1 else kwargs.get("dim", 0))


def _stack(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    """`torch.stack(tensors, dim)`: equal shapes, a new dim of their count."""
    items = _tensors(args[0] if args else kwargs.get("tensors"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if items is None:
        return None
    dtype = promote([t.dtype for t in items])
    shapes = {t.shape for t in items}
    if len(shapes) != 1 or None in shapes:
        return TensorValue(None, dtype, False, False)
    shape = next(iter(shapes))
    assert shape is not None
    axis = axis_of(dim, len(shape) + 1)
    if axis is None:
        return TensorValue(None, dtype, False, False)
    return TensorValue((*shape[:axis], len(items), *shape[axis:]), dtype, False, False)


def _cat(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    """`torch.cat(tensors, dim)`: the dims add up along `dim`, the others agree."""
    items = _tensors(args[0] if args else kwargs.get("tensors"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if items is None:
        return None
    dtype = promote([t.dtype for t in items])
    shapes = [t.shape for t in items]
    if any(sh is None for sh in shapes) or len({len(sh) for sh in shapes if sh is not None}) != 1:
        return TensorValue(None, dtype, False, False)
    rank = len(shapes[0] or ())
    axis = axis_of(dim, rank)
    if axis is None:
        return TensorValue(None, dtype, False, False)
    dims: list[int | None] = []
    for i in range(rank):
        column = [sh[i] for sh in shapes if sh is not None]
        if i == axis:
            dims.append(None if None in column else sum(d for d in column if d is not None))
        else:
            dims.append(column[0] if len(set(column)) == 1 else None)
    return TensorValue(tuple(dims), dtype, False, False)


def _meshgrid(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """`torch.meshgrid(a, b, indexing=...)`: one tensor per input, each of all their lengths."""
    items = _tensors(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else _tensors(list(args))
    indexing = kwargs.get("indexing", "ij")
    if items is None or indexing not in ("ij", "xy") or any(t.shape is None or len(t.shape) > 1 for t in items):
        return None
    lengths = [t.shape[0] if t.shape else 1 for t in items]
    if indexing == "xy" and len(lengths) >= 2:
        lengths[0], lengths[1] = lengths[1], lengths[0]
    return tuple(TensorValue(tuple(lengths), t.dtype, False, False) for t in items)


def _flatten_call(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    source = args[0] if args else kwargs.get("input")
    if not isinstance(source, TensorValue):
        return None
    result = tensor_method(source, "flatten", list(args[1:]), {k: v for k, v in kwargs.items() if k != "input"})
    return result if isinstance(result, TensorValue) else None


def _reduction(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    source = args[0] if args else kwargs.get("input")
    if not isinstance(source, TensorValue) or set(kwargs) - {"input", "dim", "keepdim", "dtype"}:
        return None
    if kwargs.get("dtype") is not None:
        return None
    return reduced(source, argument(list(args[1:]), kwargs, 0, "dim", None), argument(list(args[1:]), kwargs, 1, "keepdim", False))


_Factory = Callable[[Sequence[Any], Mapping[str, Any]], Any]

_FACTORIES: Mapping[str, _Factory] = {
    "torch.zeros": _sized(DEFAULT_DTYPE),
    "torch.ones": _sized(DEFAULT_DTYPE),
    "torch.empty": _sized(DEFAULT_DTYPE),
    "torch.rand": _sized(DEFAULT_DTYPE),
    "torch.randn": _sized(DEFAULT_DTYPE),
    "torch.randint": _randint,
    "torch.normal": _normal,
    "torch.where": tensor_extras.where,
    "torch.full": _full,
    "torch.zeros_like": _like,
    "torch.ones_like": _like,
    "torch.empty_like": _like,
    "torch.rand_like": _like,
    "torch.randn_like": _like,
    "torch.randint_like": _like,
    "torch.full_like": _like,
    "torch.eye": _eye,
    "torch.arange": _arange,
    "torch.linspace": _steps,
    "torch.logspace": _steps,
    "torch.tensor": torch_tensor,
    "torch.as_tensor": _as_tensor,
    "torch.nn.Parameter": _parameter,
    "torch.nn.parameter.Parameter": _parameter,
    "torch.nn.Buffer": _buffer,
    "torch.nn.parameter.Buffer": _buffer,
    "torch.tril": _same,
    "torch.triu": _same,
    "torch.outer": _outer,
    "torch.stack": _stack,
    "torch.cat": _cat,
    "torch.concat": _cat,
    "torch.concatenate": _cat,
    "torch.meshgrid": _meshgrid,
    "torch.unbind": _unbind,
    "torch.flatten": _flatten_call,
    "torch.sum": _reduction,
    "torch.prod": _reduction,
    "torch.mean": _reduction,
    "torch.amax": _reduction,
    "torch.amin": _reduction,
    "torch.ger": _outer,
    **{
        f"torch.{name}": _to_float
        for name in ("exp", "log", "sin", "cos", "sqrt", "rsqrt", "sigmoid", "tanh", "log2", "log10", "log1p", "expm1")
    },
    **{f"torch.{name}": _same for name in ("abs", "neg", "sign", "floor", "ceil", "round", "trunc", "clamp", "clip")},
    **{f"torch.{name}": _typed_tensor(dtype) for name, dtype in _TYPED_TENSORS.items()},
}

# torch.nn.init functions that return something other than their tensor argument
_INIT_NOT_TENSOR = {"calculate_gain"}


def tensor_call(
    qualname: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Any:
    """The tensor (or tuple of tensors) a call to `qualname` returns, or None when it is not a
    function we know."""
    with_data = tensor_data.call(qualname, args, kwargs)
    if with_data is not None:
        return with_data
    factory = _FACTORIES.get(qualname)
    if factory is not None:
        return factory(args, kwargs)
    prefix = "torch.nn.init."
    if qualname.startswith(prefix):
        name = qualname[len(prefix) :]
        if name.startswith("_") or name in _INIT_NOT_TENSOR:
            return None
        return _init(args, kwargs)
    return None
