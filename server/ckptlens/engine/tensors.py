"""Tensor factories and tensor methods over abstract values: shapes and dtypes, never data.

`tensor_call` answers for calls such as `torch.zeros(4, d)` or `nn.Parameter(torch.randn(d))`;
`tensor_method` / `tensor_attribute` for what model code applies to a tensor in `__init__`
(`.view(1, 1, n, n)`, `.float()`, `.shape`). A dim the analysis cannot know is `None`; a shape
whose rank it cannot know is `None`.

Conventions shared with the layer catalog:

- dtypes are canonical short names (`"float32"`, `"int64"`, `"bool"`); a dtype argument
  arrives as the string `"torch.<name>"` (`"torch.long"`, `"torch.half"`), or as the Python type
  `int` / `float` / `bool`; one that cannot be known is `UNKNOWN_DTYPE`.
- `nn.Buffer(t, persistent=False)` gives a `BufferValue`, a `TensorValue` carrying `persistent`
  (`register_buffer(name, BufferValue)` keeps the tensor's own flag unless the call overrides it,
  as torch does).
- values: a `TensorValue`; `Unknown` for anything that cannot be known (an element of
  `.size()`, `.numel()` of a shape with unknown dims).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ckptlens.engine import tensor_data
from ckptlens.engine.dtype_names import DEFAULT_DTYPE, DTYPE_ALIASES, UNKNOWN_DTYPE, dtype_name
from ckptlens.engine.model import Dim, Shape
from ckptlens.engine.symbolic import Sym
from ckptlens.engine.values import TensorValue, Unknown, as_dim, is_unknown

# legacy typed constructors: torch.FloatTensor(...) etc.
_TYPED_TENSORS: Mapping[str, str] = {
    "Tensor": DEFAULT_DTYPE, "FloatTensor": "float32", "DoubleTensor": "float64",
    "HalfTensor": "float16", "BFloat16Tensor": "bfloat16", "ByteTensor": "uint8",
    "CharTensor": "int8", "ShortTensor": "int16", "IntTensor": "int32",
    "LongTensor": "int64", "BoolTensor": "bool",
}  # fmt: skip

_FLOATING = {"float32", "float64", "float16", "bfloat16"}
_COMPLEX = {"complex32", "complex64", "complex128"}


@dataclass(frozen=True)
class BufferValue(TensorValue):
    """`torch.nn.Buffer(t, persistent=...)`: a tensor marked to become a buffer when assigned."""

    persistent: bool = True


def dtype_global(dtype: str) -> Any:
    """What `t.dtype` evaluates to for the interpreter: the string `"torch.<name>"`."""
    if dtype == UNKNOWN_DTYPE:
        return Unknown("the tensor's dtype is unknown")
    return f"torch.{dtype}"


# ---------------------------------------------------------------- shape arithmetic


def _numel(shape: Shape) -> int | None:
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


def _norm_axis(axis: Any, rank: int) -> int | None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        return None
    if axis < 0:
        axis += rank
    return axis if 0 <= axis < rank else None


def _reshape(shape: Shape, new: Shape) -> Shape:
    if new is None:
        return None
    if sum(1 for d in new if d == -1) > 1:
        return None
    if -1 not in new:
        return new
    total = _numel(shape)
    known = [d for d in new if d != -1]
    if total is None or any(d is None for d in known):
        return tuple(None if d == -1 else d for d in new)
    rest = math.prod(d for d in known if d is not None)
    inferred = total // rest if rest else None
    return tuple(inferred if d == -1 else d for d in new)


def _sizes(args: Sequence[Any], kwargs: Mapping[str, Any], key: str = "size") -> Shape:
    if key in kwargs:
        return size_arg([kwargs[key]])
    return size_arg(args)


# ---------------------------------------------------------------- factories


def _factory_dtype(kwargs: Mapping[str, Any], default: str) -> str:
    return dtype_name(kwargs.get("dtype"), default)


def _requires_grad(kwargs: Mapping[str, Any]) -> bool:
    value = kwargs.get("requires_grad", False)
    return value if isinstance(value, bool) else False


def _sized(default_dtype: str) -> Callable[[Sequence[Any], Mapping[str, Any]], TensorValue]:
    def make(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
        return TensorValue(
            _sizes(args, kwargs),
            _factory_dtype(kwargs, default_dtype),
            False,
            _requires_grad(kwargs),
        )

    return make


def _scalar_dtype(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return DEFAULT_DTYPE
    if isinstance(value, complex):
        return "complex64"
    return UNKNOWN_DTYPE


def _full(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    size = args[0] if args else kwargs.get("size")
    fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
    return TensorValue(
        size_arg([size]), _factory_dtype(kwargs, _scalar_dtype(fill)), False, _requires_grad(kwargs)
    )


def _like(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    """zeros_like & co.: the source's shape and dtype (full_like keeps the dtype too)."""
    source = args[0] if args else kwargs.get("input")
    if not isinstance(source, TensorValue):
        return TensorValue(
            None, _factory_dtype(kwargs, UNKNOWN_DTYPE), False, _requires_grad(kwargs)
        )
    return TensorValue(
        source.shape, _factory_dtype(kwargs, source.dtype), False, _requires_grad(kwargs)
    )


def _randint(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    # randint(high, size) | randint(low, high, size); size may come by keyword
    if "size" in kwargs:
        size: Any = kwargs["size"]
    elif len(args) >= 2:
        size = args[-1]
    else:
        size = Unknown("randint size")
    return TensorValue(
        size_arg([size]), _factory_dtype(kwargs, "int64"), False, _requires_grad(kwargs)
    )


def _eye(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    n = args[0] if args else kwargs.get("n")
    m = args[1] if len(args) > 1 else kwargs.get("m")
    rows = as_dim(n)
    cols = rows if m is None else as_dim(m)
    return TensorValue(
        (rows, cols), _factory_dtype(kwargs, DEFAULT_DTYPE), False, _requires_grad(kwargs)
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
        return TensorValue((None,), _factory_dtype(kwargs, dtype), False, _requires_grad(kwargs))
    dtype = "int64" if all(isinstance(v, int) for v in values) else DEFAULT_DTYPE
    a, b, s = _number(start), _number(end), _number(step)
    length: int | None = None
    if a is not None and b is not None and s:
        length = max(0, math.ceil((b - a) / s))
    return TensorValue((length,), _factory_dtype(kwargs, dtype), False, _requires_grad(kwargs))


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
        (count,), _factory_dtype(kwargs, DEFAULT_DTYPE), False, _requires_grad(kwargs), data=data
    )


_CATEGORY = {"bool": 0, "int64": 1, "float32": 2, "complex64": 3}


def _promote(dtypes: list[str]) -> str:
    known = [d for d in dtypes if d in _CATEGORY]
    unknown = len(known) != len(dtypes)
    best = max(known, key=_CATEGORY.__getitem__, default=None)
    if best is None:
        return UNKNOWN_DTYPE
    if unknown and _CATEGORY[best] < _CATEGORY["float32"]:
        return UNKNOWN_DTYPE
    return best


def _tensor_data(data: Any) -> tuple[Shape, str]:
    """The shape and inferred dtype of nested literal data (`torch.tensor([[1, 2], [3, 4]])`).
    An Unknown element counts as a scalar: its siblings' lengths still give the shape."""
    if isinstance(data, TensorValue):
        return data.shape, data.dtype
    if is_unknown(data):
        return (), UNKNOWN_DTYPE
    if isinstance(data, (list, tuple)):
        if not data:
            return (0,), DEFAULT_DTYPE
        parts = [_tensor_data(item) for item in data]
        dtype = _promote([d for _, d in parts])
        shapes = {shape for shape, _ in parts}
        inner = shapes.pop() if len(shapes) == 1 else None
        if inner is None:
            return None, dtype
        return (len(data), *inner), dtype
    return (), _scalar_dtype(data)


def _tensor(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    data = args[0] if args else kwargs.get("data")
    if is_unknown(data):
        return TensorValue(
            None, _factory_dtype(kwargs, UNKNOWN_DTYPE), False, _requires_grad(kwargs)
        )
    shape, dtype = _tensor_data(data)
    return TensorValue(shape, _factory_dtype(kwargs, dtype), False, _requires_grad(kwargs))


def _as_tensor(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    data = args[0] if args else kwargs.get("data")
    if isinstance(data, TensorValue):
        dtype = _factory_dtype(kwargs, data.dtype)
        return data if dtype == data.dtype else replace(data, dtype=dtype, is_parameter=False)
    return _tensor(args, kwargs)


def _typed_tensor(dtype: str) -> Callable[[Sequence[Any], Mapping[str, Any]], TensorValue]:
    def make(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
        if not args:
            return TensorValue((0,), dtype, False, False)
        if len(args) == 1 and isinstance(args[0], (list, tuple)):  # data, as torch reads it
            shape, _ = _tensor_data(args[0])
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
        return _plain(source, source.shape)
    return TensorValue(None, UNKNOWN_DTYPE, False, False)


def _to_float(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue:
    source = args[0] if args else kwargs.get("input")
    if isinstance(source, TensorValue):
        return _plain(
            source, source.shape, source.dtype if _can_grad(source.dtype) else DEFAULT_DTYPE
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
    grad = any(v is not None and v.requires_grad for v in vectors) and _can_grad(dtype)
    return TensorValue(dims, dtype, False, grad)


def _axis(dim: Any, rank: int) -> int | None:
    if isinstance(dim, bool) or not isinstance(dim, int) or not -rank <= dim < rank:
        return None
    return dim + rank if dim < 0 else dim


def _tensors(value: Any) -> list[TensorValue] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, TensorValue) for v in value):
        return list(value)
    return None


def _stack(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    """`torch.stack(tensors, dim)`: equal shapes, a new dim of their count."""
    items = _tensors(args[0] if args else kwargs.get("tensors"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if items is None:
        return None
    dtype = _promote([t.dtype for t in items])
    shapes = {t.shape for t in items}
    if len(shapes) != 1 or None in shapes:
        return TensorValue(None, dtype, False, False)
    shape = next(iter(shapes))
    assert shape is not None
    axis = _axis(dim, len(shape) + 1)
    if axis is None:
        return TensorValue(None, dtype, False, False)
    return TensorValue((*shape[:axis], len(items), *shape[axis:]), dtype, False, False)


def _cat(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    """`torch.cat(tensors, dim)`: the dims add up along `dim`, the others agree."""
    items = _tensors(args[0] if args else kwargs.get("tensors"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if items is None:
        return None
    dtype = _promote([t.dtype for t in items])
    shapes = [t.shape for t in items]
    if any(sh is None for sh in shapes) or len({len(sh) for sh in shapes if sh is not None}) != 1:
        return TensorValue(None, dtype, False, False)
    rank = len(shapes[0] or ())
    axis = _axis(dim, rank)
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


def _split(value: TensorValue, sizes: Any, dim: Any) -> Any:
    """`t.split(sizes, dim)`: a tuple of tensors, the dim cut into the sizes given (or chunks)."""
    shape = value.shape
    assert shape is not None
    axis = _axis(dim, len(shape))
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
    pieces = tuple(_plain(value, (*shape[:axis], n, *shape[axis + 1 :])) for n in parts)
    if value.data is not None and len(shape) == 1:
        starts = [sum(parts[:i]) for i in range(len(parts))]
        pieces = tuple(replace(p, data=value.data[a : a + n]) for p, a, n in zip(pieces, starts, parts, strict=True))
    return pieces


def _reduced(value: TensorValue, dim: Any, keepdim: Any) -> TensorValue:
    """`t.sum(dim)`-style reductions: the dims named go (or become 1 with keepdim)."""
    shape = value.shape
    if value.dtype == "bool":  # sum/prod of booleans count in int64
        value = TensorValue(shape, "int64", False, False)
    if dim is None:
        dims: Shape = () if keepdim is False else None
        if keepdim is True and shape is not None:
            dims = tuple(1 for _ in shape)
        return _plain(value, dims)
    if shape is None or not isinstance(keepdim, bool):
        return _plain(value, None)
    axes = [_axis(d, len(shape)) for d in (dim if isinstance(dim, (list, tuple)) else [dim])]
    if any(a is None for a in axes):
        return _plain(value, None)
    if keepdim:
        return _plain(value, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return _plain(value, tuple(d for i, d in enumerate(shape) if i not in axes))


def _reduction(args: Sequence[Any], kwargs: Mapping[str, Any]) -> TensorValue | None:
    source = args[0] if args else kwargs.get("input")
    if not isinstance(source, TensorValue) or set(kwargs) - {"input", "dim", "keepdim", "dtype"}:
        return None
    if kwargs.get("dtype") is not None:
        return None
    return _reduced(source, _arg(list(args[1:]), kwargs, 0, "dim", None), _arg(list(args[1:]), kwargs, 1, "keepdim", False))


_Factory = Callable[[Sequence[Any], Mapping[str, Any]], Any]

_FACTORIES: Mapping[str, _Factory] = {
    "torch.zeros": _sized(DEFAULT_DTYPE),
    "torch.ones": _sized(DEFAULT_DTYPE),
    "torch.empty": _sized(DEFAULT_DTYPE),
    "torch.rand": _sized(DEFAULT_DTYPE),
    "torch.randn": _sized(DEFAULT_DTYPE),
    "torch.randint": _randint,
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
    "torch.tensor": _tensor,
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


# ---------------------------------------------------------------- methods

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


def _can_grad(dtype: str) -> bool:
    return dtype in _FLOATING or dtype in _COMPLEX or dtype == UNKNOWN_DTYPE


def _plain(value: TensorValue, shape: Shape, dtype: str | None = None) -> TensorValue:
    """A new (non-parameter) tensor computed from `value`: it requires grad when `value` does
    and its dtype can carry gradients."""
    dtype = value.dtype if dtype is None else dtype
    return TensorValue(shape, dtype, False, value.requires_grad and _can_grad(dtype))


def _dims_tuple(shape: Shape) -> Any:
    if shape is None:
        return Unknown("the tensor's rank is unknown")
    return tuple(Unknown("this dim is unknown") if d is None else d for d in shape)


def _convert(value: TensorValue, dtype: str) -> TensorValue:
    if dtype == value.dtype:
        return value  # torch returns the tensor itself when nothing changes
    return _plain(value, value.shape, dtype)


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
        norm = _norm_axis(axis, len(shape))
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
    norm = _norm_axis(axis, rank)
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
    i, j = _norm_axis(a, len(shape)), _norm_axis(b, len(shape))
    if i is None or j is None:
        return None
    dims = list(shape)
    dims[i], dims[j] = dims[j], dims[i]
    return tuple(dims)


def _permute(shape: Shape, args: Sequence[Any]) -> Shape:
    order = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    if shape is None:
        return tuple(None for _ in order) if order else None
    axes = [_norm_axis(a, len(shape)) for a in order]
    if len(axes) != len(shape) or any(a is None for a in axes):
        return None
    return tuple(shape[a] for a in axes if a is not None)


def _flatten(shape: Shape, start: Any, end: Any) -> Shape:
    if shape is None:
        return None
    if not shape:
        return (1,)
    s, e = _norm_axis(start, len(shape)), _norm_axis(end, len(shape))
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
        shape = _sizes(args, kwargs)
    return TensorValue(shape, _factory_dtype(kwargs, value.dtype), False, _requires_grad(kwargs))


def _arg(
    args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any
) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


# -- the methods, by name

TensorMethod = Callable[[TensorValue, Sequence[Any], Mapping[str, Any]], Any]


def _view(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if len(args) == 1 and isinstance(args[0], str):
        return None  # .view(dtype) reinterprets the storage
    if "shape" in kwargs or "size" in kwargs:
        args = [kwargs.get("shape", kwargs.get("size"))]
    return _plain(value, _reshape(value.shape, size_arg(args)))


def _view_as(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    other = args[0] if args else None
    return _plain(value, other.shape if isinstance(other, TensorValue) else None)


def _unsqueeze_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(value, _unsqueeze(value.shape, _arg(args, kwargs, 0, "dim", None)))


def _squeeze_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    dims = list(args) if args else ([kwargs["dim"]] if "dim" in kwargs else [])
    return _plain(value, _squeeze(value.shape, dims))


def _expand_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(value, _expand(value.shape, _sizes(args, kwargs)))


def _repeat_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(value, _repeat(value.shape, _sizes(args, kwargs, "repeats")))


def _t(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    shape = value.shape
    if shape is not None and len(shape) > 2:
        return None
    return _plain(value, None if shape is None else tuple(reversed(shape)))


def _transpose_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(
        value,
        _transpose(
            value.shape, _arg(args, kwargs, 0, "dim0", None), _arg(args, kwargs, 1, "dim1", None)
        ),
    )


def _permute_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(value, _permute(value.shape, args or [kwargs.get("dims", ())]))


def _flatten_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(
        value,
        _flatten(
            value.shape, _arg(args, kwargs, 0, "start_dim", 0), _arg(args, kwargs, 1, "end_dim", -1)
        ),
    )


def _dtype_method(dtype: str) -> TensorMethod:
    """`.float()`, `.long()`, ...: the tensor converted to `dtype`."""

    def method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return _convert(value, dtype)

    return method


def _type(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    target = _arg(args, kwargs, 0, "dtype", None)
    if target is None:
        return Unknown("the tensor's type string")
    return _convert(value, dtype_name(target))


def _copy(keeps_grad: bool) -> TensorMethod:
    """`.clone()` (keeps requires_grad) and `.detach()` (drops it)."""

    def method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return TensorValue(value.shape, value.dtype, False, value.requires_grad and keeps_grad)

    return method


def _itself(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return value


def _requires_grad_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    flag = _arg(args, kwargs, 0, "requires_grad", True)
    return replace(value, requires_grad=flag if isinstance(flag, bool) else value.requires_grad)


def _shape_keeping(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(value, value.shape)


def _float_unary(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return _plain(value, value.shape, value.dtype if _can_grad(value.dtype) else DEFAULT_DTYPE)


def _new(fill: bool) -> TensorMethod:
    """`.new_zeros(size)` / `.new_ones` / `.new_empty` and `.new_full(size, fill_value)`."""

    def method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return _new_sized(value, args, kwargs, fill=fill)

    return method


def _new_tensor(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    made = _tensor(args, kwargs)
    return made if "dtype" in kwargs else replace(made, dtype=value.dtype)


def _size(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    shape = value.shape
    axis = _arg(args, kwargs, 0, "dim", None)
    if axis is None:
        return _dims_tuple(shape)
    if shape is None:
        return Unknown("the tensor's rank is unknown")
    norm = _norm_axis(axis, len(shape))
    if norm is None:
        return Unknown("size() of an unknown or invalid dim")
    dim = shape[norm]
    return Unknown("this dim is unknown") if dim is None else dim


def _numel_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    count = _numel(value.shape)
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
    return _split(value, _arg(args, kwargs, 0, "split_size", kwargs.get("split_size_or_sections")), _arg(args, kwargs, 1, "dim", 0))


def _reduction_method(value: TensorValue, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if set(kwargs) - {"dim", "keepdim"}:
        return None
    return _reduced(value, _arg(args, kwargs, 0, "dim", None), _arg(args, kwargs, 1, "keepdim", False))


# A method not in this table (`max`, `norm`, `std`, ...) is not modelled: its result is None.
TENSOR_METHODS: Mapping[str, TensorMethod] = {
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
    "item": _item, "tolist": _tolist, "split": _split_method,
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
            return _plain(value, None)
        if name == "mT":
            return _plain(value, _transpose(shape, -2, -1) if len(shape) >= 2 else None)
        return _plain(value, tuple(reversed(shape)))
    if name == "data":
        return TensorValue(shape, value.dtype, False, False)
    if name == "requires_grad":
        return value.requires_grad
    if name == "is_leaf":
        return Unknown("is_leaf")
    return None
