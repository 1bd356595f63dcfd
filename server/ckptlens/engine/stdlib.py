"""Tables of the standard library (and numpy's scalar math) the interpreter applies to known
values: `math`, `operator`, `itertools`, `functools.reduce`, and 1-D numpy arrays of numbers,
which library code uses for widths, depths and drop rates (`np.linspace(0, rate, depth).tolist()`).

Every function here computes exactly what Python (or numpy) would, or gives up with Unknown."""

from __future__ import annotations

import ast
import itertools
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ckptlens.engine.values import Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.runtime import Runtime

MAX_ITEMS = 100_000

# Pure functions safe to apply to known (plain) arguments, by qualified name.
_MATH = (
    "sqrt", "ceil", "floor", "log", "log2", "log10", "log1p", "exp", "expm1", "pow", "prod", "gcd",
    "isqrt", "trunc", "fabs", "cos", "sin", "tan", "acos", "asin", "atan", "atan2", "cosh", "sinh",
    "tanh", "lcm", "hypot", "radians", "degrees", "factorial", "comb", "perm", "isclose", "isfinite",
    "isinf", "isnan", "copysign", "fmod", "modf", "frexp", "ldexp", "erf", "erfc", "gamma", "lgamma",
    "fsum", "dist", "remainder",
)
_OPERATOR = (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs", "eq", "ne", "lt",
    "le", "gt", "ge", "not_", "truth", "and_", "or_", "xor", "invert", "lshift", "rshift", "index",
    "contains", "concat", "is_", "is_not", "getitem",
)
def _regex(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`re.split` and friends on known strings (results of strings and lists only)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if kwargs or not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise TypeError("not a plain regex call")
        return fn(*args)

    return run


PURE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "re.split": _regex(re.split), "re.sub": _regex(re.sub), "re.findall": _regex(re.findall),
    "re.escape": _regex(re.escape),
    **{f"math.{name}": getattr(math, name) for name in _MATH if hasattr(math, name)},
    **{f"operator.{name}": getattr(operator, name) for name in _OPERATOR},
    **{f"operator.__{name.rstrip('_')}__": getattr(operator, name) for name in _OPERATOR if hasattr(operator, f"__{name.rstrip('_')}__")},
}
CONSTANTS: dict[str, Any] = {
    "math.pi": math.pi, "math.e": math.e, "math.inf": math.inf, "math.tau": math.tau, "math.nan": math.nan,
    "numpy.pi": math.pi, "numpy.e": math.e, "numpy.inf": math.inf, "numpy.nan": math.nan,
    "numpy.newaxis": None,
}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not is_unknown(value)


# ---------------------------------------------------------------- numpy


@dataclass(eq=False)
class ArrayValue:
    """A 1-D numpy array of known numbers (what `np.linspace`, `np.arange`, `np.array` make)."""

    items: list[Any]

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return ArrayValue(list(self.items))


def _numbers(interp: Runtime, value: Any) -> list[Any] | None:
    """The numbers of a flat list/tuple/array, or None."""
    if isinstance(value, ArrayValue):
        return list(value.items)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return list(value)
    return None


def _np_unary(fn: Callable[[Any], Any], name: str, as_float: bool = False) -> Callable[..., Any]:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) != 1 or kwargs:
            return Unknown(f"`numpy.{name}` with these arguments is not modelled")
        value = args[0]
        try:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                result = fn(value)
                return float(result) if as_float else result
            items = _numbers(interp, value)
            if items is None:
                return Unknown(f"`numpy.{name}` of an unknown value")
            return ArrayValue([float(fn(v)) if as_float else fn(v) for v in items])
        except (ValueError, OverflowError, TypeError, ZeroDivisionError):
            return Unknown(f"`numpy.{name}` failed")

    return run


def _np_reduce(fn: Callable[[list[Any]], Any], name: str) -> Callable[..., Any]:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) != 1 or kwargs:
            return Unknown(f"`numpy.{name}` with these arguments is not modelled")
        value = args[0]
        items = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else _numbers(interp, value)
        if not items:
            return Unknown(f"`numpy.{name}` of an unknown value")
        return fn(items)

    return run


def _np_linspace(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    names = ("start", "stop", "num", "endpoint")
    bound = dict(zip(names, args, strict=False))
    bound.update({k: v for k, v in kwargs.items() if k in names})
    start: Any = bound.get("start")
    stop: Any = bound.get("stop")
    num, endpoint = bound.get("num", 50), bound.get("endpoint", True)
    if set(kwargs) - set(names) or not (_number(start) and _number(stop)) or not isinstance(num, int) or not isinstance(endpoint, bool):
        return Unknown("`numpy.linspace` of unknown values")
    if num < 0 or num > MAX_ITEMS:
        return Unknown("`numpy.linspace` of an invalid length")
    div = num - 1 if endpoint else num
    delta = float(stop) - float(start)
    if div <= 0:
        return ArrayValue([float(start)] * num)
    step = delta / div
    if delta == 0:
        return ArrayValue([float(start)] * num)  # numpy: every value is `start` (a drop-path rate of 0)
    if step == 0:
        return Unknown("`numpy.linspace` with a zero step")
    items = [i * step + float(start) for i in range(num)]
    if endpoint and num > 1:
        items[-1] = float(stop)
    return ArrayValue(items)


def _np_arange(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if kwargs or not args or len(args) > 3 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return Unknown("`numpy.arange` of these values is not modelled")
    span = range(*args)
    return ArrayValue(list(span)) if len(span) <= MAX_ITEMS else Unknown("too long")


def _np_array(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    items = _numbers(interp, args[0]) if len(args) == 1 and not kwargs else None
    return ArrayValue(items) if items is not None else Unknown("`numpy.array` of these values is not modelled")


def _np_cumsum(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    items = _numbers(interp, args[0]) if len(args) == 1 and not kwargs else None
    if items is None:
        return Unknown("`numpy.cumsum` of an unknown value")
    return ArrayValue(list(itertools.accumulate(items)))


def _float_round(value: Any, decimals: int = 0) -> float:
    return float(round(value, decimals))


def _np_int_binary(fn: Callable[[int, int], int], name: str) -> Callable[..., Any]:
    """`numpy.lcm` / `numpy.gcd` of two known ints (Reformer's chunk length)."""

    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) != 2 or kwargs or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return Unknown(f"`numpy.{name}` of these values is not modelled")
        return fn(args[0], args[1])

    return run


def _np_argsort(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`numpy.argsort` of a flat list of known numbers (a stable sort, as `kind='stable'`; the
    default quicksort agrees when the values are distinct)."""
    items = _numbers(interp, args[0]) if len(args) == 1 else None
    if items is None or set(kwargs) - {"axis"} or kwargs.get("axis", -1) not in (0, -1):
        return Unknown("`numpy.argsort` of these values is not modelled")
    if len(set(items)) != len(items):
        return Unknown("`numpy.argsort` of repeated values (the order of ties is not modelled)")
    return ArrayValue(sorted(range(len(items)), key=items.__getitem__))


NUMPY_CALLS: dict[str, Callable[..., Any]] = {
    "numpy.lcm": _np_int_binary(math.lcm, "lcm"), "numpy.gcd": _np_int_binary(math.gcd, "gcd"),
    "numpy.argsort": _np_argsort,
    "numpy.log": _np_unary(math.log, "log", True), "numpy.log2": _np_unary(math.log2, "log2", True),
    "numpy.log10": _np_unary(math.log10, "log10", True), "numpy.exp": _np_unary(math.exp, "exp", True),
    "numpy.sqrt": _np_unary(math.sqrt, "sqrt", True), "numpy.ceil": _np_unary(math.ceil, "ceil", True),
    "numpy.floor": _np_unary(math.floor, "floor", True), "numpy.abs": _np_unary(abs, "abs"),
    "numpy.round": _np_unary(_float_round, "round", True), "numpy.around": _np_unary(_float_round, "around", True),
    "numpy.trunc": _np_unary(math.trunc, "trunc", True),
    "numpy.prod": _np_reduce(math.prod, "prod"), "numpy.sum": _np_reduce(sum, "sum"),
    "numpy.max": _np_reduce(max, "max"), "numpy.min": _np_reduce(min, "min"),
    "numpy.amax": _np_reduce(max, "amax"), "numpy.amin": _np_reduce(min, "amin"),
    "numpy.linspace": _np_linspace, "numpy.arange": _np_arange, "numpy.array": _np_array,
    "numpy.asarray": _np_array, "numpy.cumsum": _np_cumsum,
}


def array_attribute(array: ArrayValue, name: str) -> Any:
    if name == "shape":
        return (len(array.items),)
    if name == "size":
        return len(array.items)
    if name == "ndim":
        return 1
    return None


def array_method(array: ArrayValue, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    items = array.items
    if kwargs or (args and name != "astype"):
        return Unknown(f"`ndarray.{name}()` with arguments is not modelled")
    if name == "tolist":
        return list(items)
    if name == "item":
        return items[0] if len(items) == 1 else Unknown("`ndarray.item()` of more than one item")
    if name in ("sum", "prod", "max", "min", "cumsum") and items:
        reducers: dict[str, Callable[[list[Any]], Any]] = {
            "sum": sum, "prod": math.prod, "max": max, "min": min,
            "cumsum": lambda xs: ArrayValue(list(itertools.accumulate(xs))),
        }
        return reducers[name](items)
    if name == "astype" and len(args) == 1:
        target = getattr(args[0], "name", None) or getattr(args[0], "qualname", "")
        if target in ("int",) or str(target).split(".")[-1] in ("int32", "int64", "int_"):
            return ArrayValue([int(v) for v in items])
        if target in ("float",) or str(target).split(".")[-1] in ("float32", "float64", "float_"):
            return ArrayValue([float(v) for v in items])
    return Unknown(f"`ndarray.{name}()` is not modelled")


def array_getitem(array: ArrayValue, key: Any) -> Any:
    if isinstance(key, int) and not isinstance(key, bool):
        return array.items[key] if -len(array.items) <= key < len(array.items) else Unknown("index out of range")
    if isinstance(key, slice):
        return ArrayValue(array.items[key])
    return Unknown("this numpy indexing is not modelled")


def array_binop(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """Elementwise arithmetic with a number or an array of the same length."""
    def items(value: Any) -> list[Any] | None:
        return value.items if isinstance(value, ArrayValue) else None

    a, b = items(left), items(right)
    if a is not None and b is not None and len(a) != len(b):
        return Unknown("arrays of different lengths")
    if a is None and not _number(left) or b is None and not _number(right):
        return Unknown("arithmetic of an array with a non-number")
    n = len(a if a is not None else b or [])
    try:
        return ArrayValue([op(a[i] if a is not None else left, b[i] if b is not None else right) for i in range(n)])
    except (ArithmeticError, TypeError, ValueError):
        return Unknown("array arithmetic failed")


# ---------------------------------------------------------------- itertools, functools.reduce


def _lists(interp: Runtime, values: list[Any]) -> list[list[Any]] | None:
    out = []
    for value in values:
        items = interp.iterate(value)
        if items is None:
            return None
        out.append(items)
    return out


def _repeat(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    times = args[1] if len(args) > 1 else kwargs.get("times")
    if not args or not isinstance(times, int) or isinstance(times, bool):
        return Unknown("`itertools.repeat` without a known count", False)
    return [args[0]] * max(times, 0) if times <= MAX_ITEMS else Unknown("too long")


def _chain(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    lists = _lists(interp, args)
    return [x for items in lists for x in items] if lists is not None else Unknown("`itertools.chain` of an unknown iterable")


def _chain_from_iterable(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    outer = interp.iterate(args[0]) if len(args) == 1 else None
    return _chain(interp, outer, {}) if outer is not None else Unknown("`chain.from_iterable` of an unknown iterable")


def _product(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    repeat = kwargs.get("repeat", 1)
    lists = _lists(interp, args)
    if lists is None or not isinstance(repeat, int) or set(kwargs) - {"repeat"}:
        return Unknown("`itertools.product` of an unknown iterable")
    total = math.prod(len(items) for items in lists) ** repeat
    if total > MAX_ITEMS:
        return Unknown("too long")
    return list(itertools.product(*lists, repeat=repeat))


def _combinatoric(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
        lists = _lists(interp, args[:1])
        rest = [*args[1:], *kwargs.values()]
        if lists is None or not all(isinstance(r, int) or r is None for r in rest):
            return Unknown(f"`itertools.{name}` of an unknown iterable")
        result = list(itertools.islice(fn(lists[0], *args[1:], **kwargs), MAX_ITEMS + 1))
        return result if len(result) <= MAX_ITEMS else Unknown("too long")

    return run


def _accumulate(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    lists = _lists(interp, args[:1])
    func = args[1] if len(args) > 1 else kwargs.get("func")
    initial = kwargs.get("initial")
    if lists is None:
        return Unknown("`itertools.accumulate` of an unknown iterable")
    items = lists[0]
    out = [] if initial is None else [initial]
    total = initial
    for i, item in enumerate(items):
        if i == 0 and initial is None:
            total = item
        elif func is None:
            total = interp.binop(ast.Add(), total, item)
        else:
            total = interp.call(func, [total, item], {}, None, None)
        out.append(total)
    return out


def _islice(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    lists = _lists(interp, args[:1])
    bounds = args[1:]
    if lists is None or kwargs or not bounds or not all(b is None or isinstance(b, int) for b in bounds):
        return Unknown("`itertools.islice` of an unknown iterable")
    try:
        return list(itertools.islice(lists[0], *bounds))
    except ValueError:
        return Unknown("invalid `itertools.islice`")


def _zip_longest(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    lists = _lists(interp, args)
    if lists is None or set(kwargs) - {"fillvalue"}:
        return Unknown("`itertools.zip_longest` of an unknown iterable")
    return list(itertools.zip_longest(*lists, fillvalue=kwargs.get("fillvalue")))


def _pairwise(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    lists = _lists(interp, args[:1])
    return list(zip(lists[0], lists[0][1:], strict=False)) if lists is not None else Unknown("`pairwise` of an unknown iterable")


_NO_INITIAL = object()


def _reduce(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) < 2:
        return Unknown("functools.reduce()")
    items = interp.iterate(args[1])
    if items is None:
        return Unknown("`functools.reduce` over an unknown iterable")
    total: Any = args[2] if len(args) > 2 else _NO_INITIAL
    for item in items:
        total = item if total is _NO_INITIAL else interp.call(args[0], [total, item], {}, None, None)
    return Unknown("`functools.reduce` of nothing") if total is _NO_INITIAL else total


ITERTOOLS_CALLS: dict[str, Callable[..., Any]] = {
    "itertools.repeat": _repeat, "itertools.chain": _chain,
    "itertools.chain.from_iterable": _chain_from_iterable, "itertools.product": _product,
    "itertools.accumulate": _accumulate, "itertools.islice": _islice,
    "itertools.zip_longest": _zip_longest, "itertools.pairwise": _pairwise,
    "itertools.combinations": _combinatoric(itertools.combinations, "combinations"),
    "itertools.combinations_with_replacement": _combinatoric(itertools.combinations_with_replacement, "combinations_with_replacement"),
    "itertools.permutations": _combinatoric(itertools.permutations, "permutations"),
    "functools.reduce": _reduce,
}
