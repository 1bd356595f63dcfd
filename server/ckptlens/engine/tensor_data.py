"""Exact values of small tensors a constructor computes with (RegNet's widths).

`torch.arange(depth) * w_a + w_0`, then `torch.log`, `torch.round`, `torch.pow`, `.int().tolist()`:
library code sometimes derives its layer widths and depths from a few tensor operations on
known numbers. These helpers carry the values of 0-d and 1-D tensors (`TensorValue.data`)
through such operations, as torch computes them: the result dtype follows torch's type
promotion (a Python float makes an integer tensor `float32`; a Python scalar never widens a
tensor of its own kind) and float32 values are rounded to float32 after every operation, so
`+ - * /` are bit-exact and `log`/`exp`/`pow` agree with torch to its last bit in all but
rounding ties. Anything else (more dims, other dtypes, unknown operands, too many values)
answers None, and the caller computes the shape only, as before.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ckptlens.engine.dtype_names import dtype_name
from ckptlens.engine.values import TensorValue

MAX_ITEMS = 4096

_INTS = {"int64": 64, "int32": 32, "int16": 16, "int8": 8}
_FLOATS = {"float32", "float64"}
_KIND = {"bool": 0, **dict.fromkeys(_INTS, 1), "float32": 2, "float64": 2}
_WIDTH = {"bool": 1, **_INTS, "float32": 32, "float64": 64}

Number = int | float | bool


def _f32(x: float) -> float | None:
    try:
        return float(struct.unpack("f", struct.pack("f", x))[0])
    except (OverflowError, struct.error):
        return None


def _cast(values: Sequence[Any], dtype: str) -> tuple[Any, ...] | None:
    """`values` as a tensor of `dtype` holds them, or None when that is not exact here."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if dtype == "bool":
            out.append(bool(v))
        elif dtype in _INTS:
            n = int(v)  # truncation toward zero, as torch converts
            if not -(1 << (_INTS[dtype] - 1)) <= n < 1 << (_INTS[dtype] - 1):
                return None
            out.append(n)
        elif dtype == "float64":
            out.append(float(v))
        elif dtype == "float32":
            f = _f32(float(v))
            if f is None:
                return None
            out.append(f)
        else:
            return None
    return tuple(out)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, bool))


def _operand(v: Any) -> tuple[tuple[Any, ...], str, bool] | None:
    """(values, dtype, is 1-D) of a tensor with known values or a Python number."""
    if isinstance(v, TensorValue):
        if v.data is None or v.dtype not in _KIND or v.shape is None or len(v.shape) > 1:
            return None
        if len(v.shape) == 1 and v.shape[0] != len(v.data):
            return None
        if len(v.shape) == 0 and len(v.data) != 1:
            return None
        return v.data, v.dtype, len(v.shape) == 1
    return None


def _scalar_kind(v: Number) -> int:
    return 0 if isinstance(v, bool) else 1 if isinstance(v, int) else 2


def result_dtype(a: Any, b: Any) -> str | None:
    """torch's type promotion for a binary operation on `a` and `b` (tensors or numbers): a
    dimensioned tensor outranks a 0-d one, which outranks a Python number, within one kind."""
    ranked: list[tuple[int, str]] = []  # (priority, dtype) of tensors
    scalars: list[int] = []
    for v in (a, b):
        if isinstance(v, TensorValue):
            if v.dtype not in _KIND or v.shape is None:
                return None
            ranked.append((2 if len(v.shape) else 1, v.dtype))
        elif _is_number(v):
            scalars.append(_scalar_kind(v))
        else:
            return None
    if not ranked:
        return None
    best_kind = max(_KIND[d] for _, d in ranked)
    top_priority = max(p for p, d in ranked if _KIND[d] == best_kind)
    tensor_dtype = max((d for p, d in ranked if _KIND[d] == best_kind and p == top_priority), key=_WIDTH.__getitem__)
    # a Python number of a higher kind than every tensor gives the default dtype of its kind
    kind = _KIND[tensor_dtype]
    if scalars and max(scalars) > kind:
        return "float32" if max(scalars) == 2 else "int64"
    return tensor_dtype


def _values(v: Any) -> tuple[tuple[Any, ...], bool] | None:
    if _is_number(v):
        return (v,), False
    found = _operand(v)
    if found is None:
        return None
    return found[0], found[2]


def _broadcast(a: tuple[Any, ...], a_dim: bool, b: tuple[Any, ...], b_dim: bool) -> tuple[list[tuple[Any, Any]], bool] | None:
    if a_dim and b_dim and len(a) != len(b) and 1 not in (len(a), len(b)):
        return None
    n = max(len(a), len(b)) if (a_dim or b_dim) else 1
    if n > MAX_ITEMS:
        return None
    return [(a[0] if len(a) == 1 else a[i], b[0] if len(b) == 1 else b[i]) for i in range(n)], a_dim or b_dim


def _true_div(x: Any, y: Any) -> float:
    if y == 0:
        raise ZeroDivisionError
    return x / y


def _floor_div(x: Any, y: Any) -> Any:
    if isinstance(x, float) or isinstance(y, float):
        raise ValueError("float floor division is not modelled")
    return x // y


def _mod(x: Any, y: Any) -> Any:
    if isinstance(x, float) or isinstance(y, float):
        raise ValueError("float remainder is not modelled")
    return x % y


def _pow(x: Any, y: Any) -> Any:
    if isinstance(x, int) and isinstance(y, int) and not isinstance(x, bool) and y < 0:
        raise ValueError("integer to a negative power")
    out = x**y
    if isinstance(out, complex):
        raise ValueError("complex result")
    return out


BINARY: Mapping[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": _true_div,
    "floordiv": _floor_div, "mod": _mod, "pow": _pow,
}  # fmt: skip


def binary(name: str, a: Any, b: Any) -> TensorValue | None:
    """`a <name> b` with known values (one of them a tensor), or None."""
    if name == "truediv":  # the `/` operator: `number / t` is `t.reciprocal() * number`
        if _is_number(a):
            inverse = unary("reciprocal", b)
            return None if inverse is None else binary("mul", inverse, a)
        name = "div"
    fn = BINARY.get(name)
    if fn is None or not (isinstance(a, TensorValue) or isinstance(b, TensorValue)):
        return None
    if any(isinstance(v, bool) or isinstance(v, TensorValue) and v.dtype == "bool" for v in (a, b)):
        return None  # torch refuses some (`t - True`), others are logic: not modelled
    dtype = result_dtype(a, b)
    va, vb = _values(a), _values(b)
    if dtype is None or va is None or vb is None:
        return None
    if name == "div" and dtype not in _FLOATS:
        dtype = "float32"
    if dtype == "bool":
        return None
    pairs = _broadcast(va[0], va[1], vb[0], vb[1])
    if pairs is None:
        return None
    # operands as the computation's dtype holds them (a Python float becomes float32)
    left = _cast([x for x, _ in pairs[0]], dtype)
    right = _cast([y for _, y in pairs[0]], dtype)
    if left is None or right is None:
        return None
    try:
        raw = [fn(x, y) for x, y in zip(left, right, strict=True)]
    except (ArithmeticError, ValueError, TypeError):
        return None
    data = _cast(raw, dtype)
    if data is None:
        return None
    return TensorValue((len(data),) if pairs[1] else (), dtype, False, False, data=data)


def _round(x: Any) -> Any:
    return float(round(x)) if isinstance(x, float) else x


UNARY_FLOAT: Mapping[str, Callable[[float], float]] = {
    "reciprocal": lambda x: 1.0 / x, "log": math.log, "log2": math.log2, "log10": math.log10, "exp": math.exp, "sqrt": math.sqrt,
}  # fmt: skip
UNARY_SAME: Mapping[str, Callable[[Any], Any]] = {
    "round": _round,
    "floor": lambda x: float(math.floor(x)) if isinstance(x, float) else x,
    "ceil": lambda x: float(math.ceil(x)) if isinstance(x, float) else x,
    "trunc": lambda x: float(math.trunc(x)) if isinstance(x, float) else x,
    "abs": abs,
    "neg": operator.neg,
}


def unary(name: str, value: Any) -> TensorValue | None:
    """`torch.<name>(value)` for a tensor with known values, or None."""
    found = _operand(value)
    if found is None:
        return None
    data, dtype, dim = found
    if name in UNARY_FLOAT:
        out_dtype = dtype if dtype in _FLOATS else "float32"
        fn: Callable[[Any], Any] = UNARY_FLOAT[name]
    elif name in UNARY_SAME and dtype != "bool":
        out_dtype, fn = dtype, UNARY_SAME[name]
    else:
        return None
    try:
        raw = [fn(float(x) if out_dtype in _FLOATS else x) for x in data]
    except (ArithmeticError, ValueError):
        return None
    cast = _cast(raw, out_dtype)
    if cast is None:
        return None
    return TensorValue((len(cast),) if dim else (), out_dtype, False, False, data=cast)


def convert(value: TensorValue, dtype: str) -> TensorValue | None:
    """`value.to(dtype)` (`.int()`, `.float()`) with known values, or None."""
    found = _operand(value)
    if found is None or dtype not in _KIND:
        return None
    data = _cast(found[0], dtype)
    if data is None:
        return None
    return TensorValue(value.shape, dtype, False, False, data=data)


def diff(value: Any) -> TensorValue | None:
    """`torch.diff(value)` of a 1-D tensor with known values."""
    found = _operand(value)
    if found is None or not found[2] or found[1] not in _INTS and found[1] not in _FLOATS:
        return None
    data, dtype, _ = found
    out = _cast([b - a for a, b in zip(data, data[1:], strict=False)], dtype)
    return None if out is None else TensorValue((len(out),), dtype, False, False, data=out)


def extreme(value: Any, pick: Callable[..., Any]) -> TensorValue | None:
    """`value.max()` / `value.min()` of a tensor with known values: a 0-d tensor."""
    found = _operand(value)
    if found is None or not found[0]:
        return None
    return TensorValue((), found[1], False, False, data=(pick(found[0]),))


def unique(value: Any, counts: Any) -> Any:
    """`torch.unique(value)` (sorted), with `return_counts=True` also the counts (int64)."""
    found = _operand(value)
    if found is None or not isinstance(counts, bool) or any(isinstance(v, float) and math.isnan(v) for v in found[0]):
        return None
    data, dtype, _ = found
    values = tuple(sorted(set(data)))
    out = TensorValue((len(values),), dtype, False, False, data=values)
    if not counts:
        return out
    tally = tuple(sum(1 for v in data if v == u) for u in values)
    return out, TensorValue((len(values),), "int64", False, False, data=tally)


def cumsum(value: Any) -> TensorValue | None:
    """`torch.cumsum(value, 0)` of a 1-D tensor with known values (integers widen to int64)."""
    found = _operand(value)
    if found is None or not found[2]:
        return None
    data, dtype, _ = found
    dtype = "int64" if dtype in _INTS or dtype == "bool" else dtype
    total: Any = 0
    raw = []
    for x in data:
        total = total + x
        if dtype == "float32":
            total = _f32(total)
            if total is None:
                return None
        raw.append(total)
    out = _cast(raw, dtype)
    return None if out is None else TensorValue((len(out),), dtype, False, False, data=out)


def literal(data: Any, dtype: str | None) -> TensorValue | None:
    """`torch.tensor(data)` of a number or a flat list of numbers."""
    if _is_number(data):
        items, dim = [data], False
    elif isinstance(data, (list, tuple)) and all(_is_number(v) for v in data) and len(data) <= MAX_ITEMS:
        items, dim = list(data), True
    else:
        return None
    if dtype is None:
        kinds = {_scalar_kind(v) for v in items} or {2}
        dtype = {0: "bool", 1: "int64", 2: "float32"}[max(kinds)]
    cast = _cast(items, dtype)
    if cast is None:
        return None
    return TensorValue((len(cast),) if dim else (), dtype, False, False, data=cast)


def arange(start: Any, end: Any, step: Any, dtype: str | None) -> TensorValue | None:
    """`torch.arange(start, end, step)` of known numbers: its values."""
    if not all(_is_number(v) and not isinstance(v, bool) for v in (start, end, step)) or step == 0:
        return None
    length = max(0, math.ceil((end - start) / step))
    if length > MAX_ITEMS:
        return None
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, end, step)) else "float32"
    cast = _cast([start + i * step for i in range(length)], dtype)
    return None if cast is None else TensorValue((length,), dtype, False, False, data=cast)


_BINARY_FUNCTIONS = {
    "add": "add", "sub": "sub", "subtract": "sub", "mul": "mul", "multiply": "mul", "div": "div",
    "divide": "div", "true_divide": "div", "floor_divide": "floordiv", "remainder": "mod", "pow": "pow",
}  # fmt: skip
_UNARY_FUNCTIONS = {*UNARY_FLOAT, *UNARY_SAME, "negative"}
_DTYPE_METHODS = {"int": "int32", "long": "int64", "float": "float32", "double": "float64", "bool": "bool"}


def _dtype(kwargs: Mapping[str, Any]) -> str | None:
    """The `dtype=` of a call: None when absent, "" when not one modelled here."""
    if kwargs.get("dtype") is None:
        return None
    name = dtype_name(kwargs["dtype"])
    return name if name in _KIND else ""


def call(qualname: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """`torch.<fn>(...)` with known values (arange, tensor, elementwise math, diff, cumsum,
    unique), or None."""
    if not qualname.startswith("torch.") or "." in qualname[6:]:
        return None
    name = qualname[6:]
    dtype = _dtype(kwargs)
    kwargs = {k: v for k, v in kwargs.items() if k != "device"}  # the values do not depend on it
    if name == "unique" and len(args) == 1 and not set(kwargs) - {"sorted", "return_counts"}:
        return unique(args[0], kwargs.get("return_counts", False))
    if dtype == "" or set(kwargs) - {"dtype", "dim", "input", "other", "exponent"}:
        return None
    if name == "arange" and "dim" not in kwargs:
        bounds = list(args)
        if not 1 <= len(bounds) <= 3:
            return None
        start, end, step = (0, bounds[0], 1) if len(bounds) == 1 else (*bounds, 1)[:3]
        return arange(start, end, step, dtype or None)
    if name in ("tensor", "as_tensor") and len(args) == 1:
        if isinstance(args[0], TensorValue):
            return None
        return literal(args[0], dtype or None)
    if dtype is not None:
        return None
    if name in _BINARY_FUNCTIONS and len(args) == 2 and not kwargs:
        return binary(_BINARY_FUNCTIONS[name], args[0], args[1])
    if name in _UNARY_FUNCTIONS and len(args) == 1 and not kwargs:
        return unary("neg" if name == "negative" else name, args[0])
    if name == "diff" and len(args) == 1 and not kwargs:
        return diff(args[0])
    if name == "cumsum" and (args[1:2] == [0] or args[1:2] == (0,) or kwargs.get("dim") == 0) and len(args) <= 2:
        return cumsum(args[0])
    return None


def method(value: TensorValue, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """`value.<name>(...)` with known values, or None."""
    if value.data is None or kwargs and name not in ("cumsum", "unique"):
        return None
    if name == "unique" and not args and not set(kwargs) - {"sorted", "return_counts"}:
        return unique(value, kwargs.get("return_counts", False))
    if name in _DTYPE_METHODS and not args:
        return convert(value, _DTYPE_METHODS[name])
    if name in _BINARY_FUNCTIONS and len(args) == 1:
        return binary(_BINARY_FUNCTIONS[name], value, args[0])
    if name in _UNARY_FUNCTIONS and not args:
        return unary("neg" if name == "negative" else name, value)
    if name == "diff" and not args:
        return diff(value)
    if name == "flip" and len(value.shape or ()) == 1 and list(args) in ([0], [-1], [(0,)], [[0]], [(-1,)], [[-1]]):
        return TensorValue(value.shape, value.dtype, False, False, data=tuple(reversed(value.data)))
    if name in ("max", "min") and not args:
        return extreme(value, max if name == "max" else min)
    if name == "unique" and not args:
        return unique(value, False)
    if name == "cumsum" and (list(args) == [0] or kwargs == {"dim": 0}):
        return cumsum(value)
    return None
