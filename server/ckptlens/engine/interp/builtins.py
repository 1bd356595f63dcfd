"""Tables the interpreter consults: Python builtins, library functions, `nn.Module` methods."""

from __future__ import annotations

import collections.abc
import copy
import numbers
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ckptlens.engine import catalog, catalog_einops, costs, stdlib, symbolic
from ckptlens.engine.interp.refs import BuiltinRef
from ckptlens.engine.interp.valueops import plain
from ckptlens.engine.objects import (
    AttrDict,
    BoundMethod,
    ClassRef,
    ExternalRef,
    FunctionRef,
    ModuleValue,
    ObjectValue,
    OrderedDictValue,
    PartialValue,
    SuperProxy,
    mark_open,
    opaque_module,
)
from ckptlens.engine.symbolic import Expr, Sym, SymRange, SymSeq
from ckptlens.engine.tensors import UNKNOWN_DTYPE
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.runtime import Runtime

Builtin = Callable[["Runtime", list[Any], dict[str, Any], "Frame | None"], Any]


def _u(reason: str) -> Unknown:
    return Unknown(reason)


def _known(*values: Any) -> bool:
    return all(not is_unknown(v) and plain(v) for v in values)


def _pure(fn: Callable[..., Any], name: str) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        if not _known(*args, *kwargs.values()):
            return _u(f"`{name}()` of an unknown value")
        if costs.call_too_costly(name, None, [*args, *kwargs.values()]):
            return _u(f"`{name}()` would compute a value too large")
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a failing builtin is just an unknown value
            return _u(f"`{name}()` failed")

    return run


def _over_items(fn: Callable[..., Any], name: str, materialize: bool = True) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        if not args:
            return fn()
        lists = [interp.iterate(a) for a in args]
        if any(items is None for items in lists):
            return _u(f"`{name}()` of an unknown iterable")
        try:
            result = fn(*lists, **kwargs)
        except Exception:  # noqa: BLE001
            return _u(f"`{name}()` failed")
        return list(result) if materialize and not isinstance(result, (list, tuple, dict, set)) else result

    return run


def _symbolic_range(args: list[Any]) -> Any:
    """`range(n)` / `range(start, n)` with `n` a symbol (the inference's loops), else None."""
    if len(args) not in (1, 2) or not isinstance(args[-1], Sym):
        return None
    start = args[0] if len(args) == 2 else 0
    if isinstance(start, bool) or not isinstance(start, int):
        return None
    count = args[-1].expr.add(Expr.const(start), -1)
    if count is None:
        return None
    return SymRange(f"range over an unknown bound ({args[-1].reason})", start=start, count=count)


def _b_len(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    value = args[0] if args else None
    if isinstance(value, SymSeq):
        length = value.count.mul(Expr.const(len(value.one)))
        length = length.add(Expr.const(len(value.head))) if length is not None else None
        return symbolic.as_value(length, value.reason)
    if isinstance(value, ModuleValue):
        if value.opaque or value.uncertain:
            return _u("length of a module whose items are unknown")
        return len(value.params) if value.container in ("ParameterList", "ParameterDict") else len(value.children)
    if isinstance(value, ObjectValue):
        return _u("length of an object")
    items = interp.iterate(value)
    if items is None:
        return _u("length of an unknown value")
    return len(items)


def _b_minmax(fn: Callable[..., Any], name: str) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        items = args if len(args) > 1 else interp.iterate(args[0]) if args else None
        if items is None or not _known(*items) or "key" in kwargs:
            return _u(f"`{name}()` of unknown values")
        try:
            return fn(items, **{k: v for k, v in kwargs.items() if k == "default"})
        except Exception:  # noqa: BLE001
            return _u(f"`{name}()` failed")

    return run


def _b_sum(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else None
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    if items is None or not _known(*items, start):
        return _u("`sum()` of unknown values")
    try:
        return sum(items, start)
    except Exception:  # noqa: BLE001
        return _u("`sum()` failed")


def _b_range(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    symbolic_range = _symbolic_range(args)
    if symbolic_range is not None:
        return symbolic_range
    if not args or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        bad = next((a for a in args if is_unknown(a)), None)
        return _u(f"range over an unknown bound ({bad.reason})" if bad is not None else "range over a non-int")
    try:
        return range(*args)
    except (TypeError, ValueError):
        return _u("invalid range")


def _b_list(kind: type) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        if not args:
            return kind()
        items = interp.iterate(args[0])
        if items is None:
            return _u(f"`{kind.__name__}()` of an unknown iterable")
        if kind is dict:
            mapping = interp.as_mapping(args[0])
            if mapping is not None:
                return {**mapping, **kwargs}
            try:
                return {**dict(items), **kwargs}
            except (TypeError, ValueError):
                return _u("`dict()` of unknown pairs")
        if kind in (set, frozenset):
            try:
                return kind(items)
            except TypeError:
                return _u("unhashable set items")
        return kind(items)

    return run


def _b_dict(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if not args:
        return dict(kwargs)
    return _b_list(dict)(interp, args, kwargs, frame)


def _b_enumerate(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else None
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    if items is None or not isinstance(start, int):
        return _u("`enumerate()` of an unknown iterable")
    return [(i + start, item) for i, item in enumerate(items)]


def _b_map(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) < 2:
        return _u("map()")
    lists = [interp.iterate(a) for a in args[1:]]
    if any(items is None for items in lists):
        return _u("`map()` over an unknown iterable")
    return [interp.call(args[0], list(group), {}, None, frame) for group in zip(*lists, strict=False)]


def _b_filter(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[1]) if len(args) > 1 else None
    if items is None:
        return _u("`filter()` over an unknown iterable")
    out = []
    for item in items:
        keep = interp.truth(item if args[0] is None else interp.call(args[0], [item], {}, None, frame))
        if keep is None:
            return _u("`filter()` with an unknown condition")
        if keep:
            out.append(item)
    return out


def _b_anyall(which: str) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        items = interp.iterate(args[0]) if args else None
        if items is None:
            return _u(f"`{which}()` of an unknown iterable")
        truths = [interp.truth(i) for i in items]
        if which == "any":
            if any(t is True for t in truths):
                return True
            return _u("`any()` of unknown values") if any(t is None for t in truths) else False
        if any(t is False for t in truths):
            return False
        return _u("`all()` of unknown values") if any(t is None for t in truths) else True

    return run


def isinstance_of(interp: Runtime, value: Any, cls: Any) -> bool | None:
    if isinstance(cls, tuple):
        results = [isinstance_of(interp, value, c) for c in cls]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if is_unknown(value) or is_unknown(cls):
        return None
    if isinstance(cls, BuiltinRef):
        py = PY_TYPES.get(cls.name)
        if py is None:
            return None
        if py is type:
            return _is_class(value)
        if isinstance(value, (ModuleValue, ObjectValue)) and value.cls is not None:
            # `class Mode(str, Enum)`: its members are strings
            return any(isinstance(k, BuiltinRef) and issubclass(PY_TYPES.get(k.name, object), py) for k in interp.mro(value.cls))
        if isinstance(value, (ModuleValue, ObjectValue, TensorValue)) or _code_object(value):
            return False
        if not _python_value(value):
            return None
        return isinstance(value, py)
    if isinstance(cls, ExternalRef):
        qual = cls.qualname
        leaf = qual.split(".")[-1]
        if qual.split(".")[0] in PLAIN_TYPE_ROOTS:
            return _isinstance_plain_type(interp, value, qual)
        if qual in ("torch.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            if not isinstance(value, TensorValue):
                return False
            return value.is_parameter if leaf == "Parameter" else True
        if not isinstance(value, ModuleValue):
            if isinstance(value, ObjectValue) and value.cls is not None:
                plain_class = all(isinstance(k, ClassRef) for k in interp.mro(value.cls))
                return False if plain_class else None
            known = _python_value(value) or _code_object(value) or isinstance(value, ObjectValue)
            return False if known or isinstance(value, (list, tuple, dict, TensorValue)) else None
        if leaf == "Module" or leaf == "LightningModule" and value.is_lightning:
            return True
        if value.opaque:
            return None
        if value.container is not None and leaf in catalog_containers():
            return value.container == leaf
        spec = catalog.lookup(qual)
        if spec is not None and value.spec is not None:
            return bool(value.spec.qualname == spec.qualname)
        return False if spec is not None else None
    if isinstance(cls, ClassRef):
        klass = value.cls if isinstance(value, (ModuleValue, ObjectValue)) else None
        if klass is None:
            return False if not isinstance(value, ModuleValue) or not value.opaque else None
        return any(k is cls for k in interp.mro(klass))
    return None


# Library types a plain value can be an instance of (`isinstance(x, typing.Sequence)`): the
# roots whose classes are answered from this table; any other class of theirs is unknown.
PLAIN_TYPE_ROOTS = frozenset({"typing", "typing_extensions", "collections", "numbers", "types", "functools", "enum"})
PLAIN_TYPES: dict[str, Any] = {
    "Iterable": collections.abc.Iterable, "Iterator": collections.abc.Iterator,
    "Sequence": collections.abc.Sequence, "MutableSequence": collections.abc.MutableSequence,
    "Mapping": collections.abc.Mapping, "MutableMapping": collections.abc.MutableMapping,
    "Collection": collections.abc.Collection, "Container": collections.abc.Container,
    "Sized": collections.abc.Sized, "Set": collections.abc.Set, "AbstractSet": collections.abc.Set,
    "Hashable": collections.abc.Hashable, "Callable": collections.abc.Callable,
    "List": list, "Tuple": tuple, "Dict": dict, "FrozenSet": frozenset,
    "Number": numbers.Number, "Integral": numbers.Integral, "Real": numbers.Real,
    "Complex": numbers.Complex, "Rational": numbers.Rational,
}


def _python_value(value: Any) -> bool:
    """A value the interpreter holds as the Python object it stands for (a list is a list)."""
    if isinstance(value, (bool, int, float, str, complex, type(None), range, bytes)):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_python_value(v) or not is_unknown(v) for v in value)
    return isinstance(value, dict) and type(value) in (dict, OrderedDictValue)


def _code_object(value: Any) -> bool:
    """A class, function or library object: never a number, string or container."""
    return isinstance(value, (ClassRef, FunctionRef, BoundMethod, PartialValue, BuiltinRef, ExternalRef))


def _is_class(value: Any) -> bool | None:
    """`isinstance(value, type)`: classes are, instances and functions are not."""
    if isinstance(value, ClassRef):
        return True
    if isinstance(value, BuiltinRef):
        return value.name in PY_TYPES or None
    if isinstance(value, ExternalRef):
        return True if catalog.lookup(value.qualname) is not None else None
    if is_unknown(value) or isinstance(value, ModuleValue) and value.opaque:
        return None
    return False


def _callable(value: Any) -> bool | None:
    if isinstance(value, (ClassRef, FunctionRef, BoundMethod, PartialValue, BuiltinRef, ModuleValue, ExternalRef)):
        return True
    if isinstance(value, ObjectValue):
        return None
    return False if _python_value(value) or isinstance(value, TensorValue) else None


def _isinstance_plain_type(interp: Runtime, value: Any, qual: str) -> bool | None:
    leaf = qual.split(".")[-1]
    if qual in ("functools.partial",):
        return isinstance(value, PartialValue) if not is_unknown(value) else None
    if qual in ("types.FunctionType", "types.LambdaType"):
        if isinstance(value, FunctionRef):
            return True
        if isinstance(value, ExternalRef) and catalog.lookup(value.qualname) is not None:
            return False  # a layer class
        return False if _python_value(value) or isinstance(value, (ClassRef, PartialValue, ModuleValue)) else None
    if qual in ("enum.Enum", "enum.IntEnum", "enum.Flag", "enum.StrEnum"):
        if isinstance(value, ObjectValue) and value.cls is not None:
            return any(isinstance(k, ExternalRef) and k.qualname == qual for k in interp.mro(value.cls))
        return False if _python_value(value) or isinstance(value, (ModuleValue, TensorValue)) else None
    if leaf == "OrderedDict" and _python_value(value):
        return isinstance(value, OrderedDictValue)
    py = PLAIN_TYPES.get(leaf)
    if py is None or qual.split(".")[0] in ("types", "functools", "enum"):
        return None
    if py is collections.abc.Callable:
        return _callable(value)
    if _code_object(value):  # classes and functions are not sequences (an Enum class iterates)
        enum = isinstance(value, ClassRef) and interp.is_enum(value)
        return enum and py in (collections.abc.Iterable, collections.abc.Sized, collections.abc.Container, collections.abc.Collection)
    if _python_value(value):
        return isinstance(value, py)
    if isinstance(value, TensorValue):
        return py in (collections.abc.Iterable, collections.abc.Sized, collections.abc.Container, collections.abc.Collection)
    if isinstance(value, ModuleValue):
        if value.opaque or value.cls is not None:
            return None  # a user class may define `__iter__`
        if value.container is not None:  # containers define `__iter__` and `__len__`
            return py in (collections.abc.Iterable, collections.abc.Sized)
        return False
    if isinstance(value, ObjectValue) and value.cls is None:
        return False
    if isinstance(value, ObjectValue) and value.cls is not None:
        # an instance of a plain user class (a dataclass config): an ABC only by its methods
        mro = interp.mro(value.cls)
        if not all(isinstance(k, ClassRef) for k in mro):
            return None
        defines = {name for name in ("__iter__", "__len__", "__contains__", "__call__", "__getitem__") if interp.class_attr(value.cls, name)[0]}
        by_method = {collections.abc.Iterable: "__iter__", collections.abc.Sized: "__len__", collections.abc.Container: "__contains__"}
        if py in by_method:
            return by_method[py] in defines
        if py is collections.abc.Hashable:
            return None
        return False
    return None


def catalog_containers() -> set[str]:
    return {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}


def _b_isinstance(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) != 2:
        return _u("isinstance()")
    result = isinstance_of(interp, args[0], args[1])
    return _u("isinstance() of an unknown value") if result is None else result


def _subclass(interp: Runtime, cls: Any, base: Any) -> bool | None:
    if isinstance(base, tuple):
        results = [_subclass(interp, cls, b) for b in base]
        return True if True in results else None if None in results else False
    if isinstance(cls, ClassRef) and isinstance(base, ClassRef):
        return any(k is base for k in interp.mro(cls))
    if isinstance(cls, ExternalRef) and isinstance(base, ClassRef):
        return False  # a library class never derives from the user's
    if isinstance(base, ExternalRef):
        spec = catalog.lookup(base.qualname)
        if isinstance(cls, ExternalRef):
            other = catalog.lookup(cls.qualname)
            same = cls.qualname == base.qualname or (spec is not None and other is not None and spec.qualname == other.qualname)
            return True if same else None
        if isinstance(cls, ClassRef):
            mro = interp.mro(cls)
            if any(isinstance(k, ExternalRef) and (k.qualname == base.qualname or spec is not None and catalog.lookup(k.qualname) is spec) for k in mro):
                return True
            if base.qualname in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                kind, _ = interp.class_kind(cls)
                return True if kind in ("module", "lightning", "layer", "container") else None
            # only torch.nn.Module (and the user's classes) above it: no library layer class
            plain = all(isinstance(k, ClassRef) or (isinstance(k, ExternalRef) and k.qualname.endswith(".Module")) for k in mro)
            return False if plain and spec is not None else None
    return None


def _b_issubclass(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    result = _subclass(interp, args[0], args[1]) if len(args) == 2 else None
    return _u("issubclass()") if result is None else result


def _b_getattr(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) < 2 or not isinstance(args[1], str):
        return _u("getattr() with an unknown name")
    obj, name = args[0], args[1]
    has = _has(interp, obj, name)
    if has is False and len(args) > 2:
        return args[2]
    if has is None and len(args) > 2:
        value = interp.getattr(obj, name)
        return value if not is_unknown(value) else _u(f"`{name}` may be missing")
    return interp.getattr(obj, name)


def _has(interp: Runtime, obj: Any, name: str) -> bool | None:
    if is_unknown(obj):
        return None
    if isinstance(obj, ObjectValue):
        if name in obj.attrs:
            return True
        if obj.cls is not None:
            found, _ = interp.class_attr(obj.cls, name)
            return True if found else False
        return False
    if isinstance(obj, ModuleValue):
        found, _ = obj.member(name)
        if found or name in obj.attrs:
            return True
        if obj.cls is not None and interp.class_attr(obj.cls, name)[0]:
            return True
        if obj.opaque:
            return None
        if name in MODULE_METHODS or name in NN_MODULE_NAMES:
            return True
        if obj.container is not None:
            return False  # torch's containers have nothing else (`hasattr(m, "zero_init_last")`)
        return None if obj.spec is None and obj.cls is None else False
    if isinstance(obj, AttrDict):
        return name in obj
    if isinstance(obj, dict):
        return False
    if isinstance(obj, ExternalRef):
        # a library attribute we model is there (`hasattr(nn.utils.parametrizations, "weight_norm")`)
        full = f"{obj.qualname}.{name}"
        if full in EXTERNAL_CALLS or catalog.lookup(full) is not None or full in KNOWN_LIBRARY_NAMES:
            return True
    return None


# Library names feature checks ask about (`hasattr(F, "scaled_dot_product_attention")`): all
# exist in the torch this analysis models (2.x).
KNOWN_LIBRARY_NAMES = frozenset({
    *(f"torch.nn.functional.{n}" for n in ("silu", "hardswish", "hardsigmoid", "mish", "gelu", "relu", "softplus", "elu", "selu", "leaky_relu", "layer_norm", "group_norm", "interpolate", "pad")),
    "torch.nn.functional.scaled_dot_product_attention", "torch.nn.RMSNorm", "torch.compile",
    "torch.nn.functional.rms_norm", "torch.nn.attention", "torch.nn.utils.parametrizations",
    "torch.nn.Buffer", "torch.backends.mps", "torch.fx", "torch.jit", "torch.library",
    "torch.nn.utils.parametrize", "torch.func", "torch._dynamo", "torch.compiler",
})


# What every nn.Module has besides the methods modelled in MODULE_METHODS.
NN_MODULE_NAMES = frozenset({
    "forward", "training", "state_dict", "load_state_dict", "named_parameters", "buffers",
    "named_buffers", "register_forward_hook", "register_forward_pre_hook", "extra_repr",
    "_parameters", "_buffers", "_modules", "__call__", "__class__", "__dict__", "__init__",
    "zero_grad", "ipu", "xpu", "mtia", "register_full_backward_hook", "register_state_dict_pre_hook",
    "_load_from_state_dict", "_save_to_state_dict", "set_extra_state", "get_extra_state",
})


class LibraryNames:
    """`dir(torch.nn.functional)`: answers `name in ...` for the names known to exist."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def contains(self, name: Any) -> bool | None:
        if not isinstance(name, str):
            return None
        full = f"{self.qualname}.{name}"
        return True if full in KNOWN_LIBRARY_NAMES or full in EXTERNAL_CALLS or catalog.lookup(full) is not None else None


def _b_dir(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) == 1 and isinstance(args[0], ExternalRef):
        return LibraryNames(args[0].qualname)
    return _u("dir() is not tracked")


def _b_hasattr(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) != 2 or not isinstance(args[1], str):
        return _u("hasattr()")
    result = _has(interp, args[0], args[1])
    return _u(f"whether `{args[1]}` exists is unknown") if result is None else result


def _b_setattr(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) != 3:
        return None
    obj, name, value = args
    if not isinstance(name, str):
        if isinstance(obj, ModuleValue):
            mark_open(obj, "an attribute with an unknown name is set on it", interp.anchor())
        return None
    interp.setattr(obj, name, value, interp.anchor())
    return None


def _b_super(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) == 2:
        owner, receiver = args
    else:
        f = frame
        while f is not None and (f.func is None or f.func.owner is None):
            f = f.parent
        if f is None or f.func is None:
            return _u("super() outside a method")
        owner = f.func.owner
        params = f.func.node.args
        first = (params.posonlyargs + params.args)[0].arg if (params.posonlyargs + params.args) else None
        receiver = f.locals.get(first) if first else None
    klass = receiver.cls if isinstance(receiver, (ModuleValue, ObjectValue)) else receiver if isinstance(receiver, ClassRef) else None
    if klass is None or not isinstance(owner, ClassRef):
        return _u("super() of an unknown class")
    mro = interp.mro(klass)
    index = next((i for i, k in enumerate(mro) if k is owner), None)
    if index is None:
        return _u("super() outside the class hierarchy")
    return SuperProxy(receiver, tuple(mro[index + 1 :]))


def _b_type(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    value = args[0] if args else None
    if isinstance(value, (ModuleValue, ObjectValue)) and value.cls is not None:
        return value.cls
    if isinstance(value, ModuleValue) and value.spec is not None:
        return ExternalRef(value.spec.qualname)
    if isinstance(value, ModuleValue) and value.container and value.cls is None:
        return ExternalRef(f"torch.nn.{value.container}")  # `type(mod) is nn.ReLU` on a Sequential
    return _u("type() of a value")


def _b_none(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return None


def _b_unknown(name: str) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        return _u(f"`{name}()` is not tracked")

    return run


def _b_exception(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return _u("an exception object")


def _b_next(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else None
    if items:
        return items[0]
    return args[1] if len(args) > 1 else _u("next() of an unknown iterator")


def _b_iter(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else None
    return items if items is not None else _u("iter() of an unknown value")


def _b_round(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return _pure(round, "round")(interp, args, kwargs, frame)


def _b_int(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if args and isinstance(args[0], TensorValue):
        return _u("int() of a tensor")
    return _pure(int, "int")(interp, args, kwargs, frame)


PY_TYPES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple,
    "dict": dict, "set": set, "frozenset": frozenset, "type": type,
}

BUILTINS: dict[str, Builtin] = {
    "range": _b_range, "len": _b_len, "int": _b_int, "float": _pure(float, "float"),
    "bool": lambda i, a, k, f: (i.truth(a[0]) if i.truth(a[0]) is not None else _u("bool() of an unknown value")) if a else False,
    "str": _pure(str, "str"), "abs": _pure(abs, "abs"), "round": _b_round,
    "min": _b_minmax(min, "min"), "max": _b_minmax(max, "max"), "sum": _b_sum,
    "divmod": _pure(divmod, "divmod"), "pow": _pure(pow, "pow"), "list": _b_list(list),
    "tuple": _b_list(tuple), "set": _b_list(set), "frozenset": _b_list(frozenset), "dict": _b_dict,
    "sorted": _over_items(lambda items, **kw: sorted(items, **{k: v for k, v in kw.items() if k == "reverse"}), "sorted"),
    "reversed": _over_items(lambda items: list(reversed(items)), "reversed"),
    "enumerate": _b_enumerate, "zip": _over_items(lambda *ls, **kw: list(zip(*ls, strict=False)), "zip"),
    "map": _b_map, "filter": _b_filter, "any": _b_anyall("any"), "all": _b_anyall("all"),
    "isinstance": _b_isinstance, "issubclass": _b_issubclass, "getattr": _b_getattr,
    "hasattr": _b_hasattr, "setattr": _b_setattr, "super": _b_super, "type": _b_type,
    "print": _b_none, "iter": _b_iter, "next": _b_next, "callable": _b_unknown("callable"),
    "repr": _pure(repr, "repr"), "format": _pure(format, "format"), "chr": _pure(chr, "chr"),
    "ord": _pure(ord, "ord"), "hex": _pure(hex, "hex"), "bin": _pure(bin, "bin"),
    "id": _b_unknown("id"), "hash": _b_unknown("hash"), "vars": _b_unknown("vars"), "dir": _b_dir,
    "open": _b_unknown("open"), "input": _b_unknown("input"), "object": lambda i, a, k, f: ObjectValue(None),
    "NotImplementedError": _b_exception, "ValueError": _b_exception, "TypeError": _b_exception,
    "KeyError": _b_exception, "RuntimeError": _b_exception, "AssertionError": _b_exception,
    "Exception": _b_exception, "AttributeError": _b_exception, "IndexError": _b_exception,
    "ImportError": _b_exception, "ModuleNotFoundError": _b_exception,
}


# ---------------------------------------------------------------- library functions


def _deepcopy(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return copy.deepcopy(args[0]) if args else None


def _partial(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args and isinstance(args[0], PartialValue):  # functools flattens a partial of a partial
        inner = args[0]
        return PartialValue(inner.func, (*inner.args, *args[1:]), {**inner.kwargs, **kwargs})
    return PartialValue(args[0], tuple(args[1:]), kwargs) if args else _u("partial()")


def _namespace(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return ObjectValue(None, dict(kwargs))


def _replace(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args and isinstance(args[0], ObjectValue):
        return ObjectValue(args[0].cls, {**args[0].attrs, **kwargs})
    return _u("dataclasses.replace() of an unknown object")


def _asdict(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`dataclasses.asdict`: the fields as a dict, nested dataclasses too."""

    def convert(value: Any) -> Any:
        if isinstance(value, ObjectValue):
            return {k: convert(v) for k, v in value.attrs.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(convert(v) for v in value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return copy.deepcopy(value)

    if not args or not isinstance(args[0], ObjectValue):
        return _u("dataclasses.asdict() of an unknown object")
    return convert(args[0])


def _norm_dim(dim: Any, rank: int) -> int | None:
    if dim is None:
        return None
    if not isinstance(dim, int):
        return -2
    return dim + rank if dim < 0 else dim


def _norm_shape(shape: tuple[int | None, ...] | None, dim: Any) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    d = _norm_dim(dim, len(shape))
    if d is None:
        return ()
    if d == -2:
        return None
    return tuple(s if i == d else 1 for i, s in enumerate(shape))


def _module_arg(args: list[Any], kwargs: dict[str, Any]) -> tuple[ModuleValue | None, str, Any]:
    module = args[0] if args else kwargs.get("module")
    name = args[1] if len(args) > 1 else kwargs.get("name", "weight")
    dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
    return (module if isinstance(module, ModuleValue) else None), name, dim


def _weight_norm_old(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name, dim = _module_arg(args, kwargs)
    if module is None or module.opaque or not isinstance(name, str):
        return args[0] if args else _u("weight_norm of an unknown module")
    weight = module.params.get(name)
    if weight is None:
        module.opaque = f"weight_norm on `{name}`, which it does not have"
        return module
    del module.params[name]
    module.params[f"{name}_g"] = TensorValue(_norm_shape(weight.shape, dim), weight.dtype, True)
    module.params[f"{name}_v"] = TensorValue(weight.shape, weight.dtype, True)
    return module


def _parametrize(module: ModuleValue, name: str, originals: list[TensorValue], inner_buffers: dict[str, TensorValue]) -> None:
    del module.params[name]
    holder = module.children.get("parametrizations")
    if not isinstance(holder, ModuleValue):
        holder = ModuleValue(type_name="torch.nn.ModuleDict", container="ModuleDict", origin=module.origin)
        module.children["parametrizations"] = holder
    plist = ModuleValue(type_name="torch.nn.utils.parametrize.ParametrizationList", origin=module.origin)
    if len(originals) == 1:
        plist.params["original"] = originals[0]
    else:
        for i, tensor in enumerate(originals):
            plist.params[f"original{i}"] = tensor
    inner = ModuleValue(type_name="parametrization", origin=module.origin)
    inner.buffers.update(inner_buffers)
    plist.children["0"] = inner
    holder.children[name] = plist


def _weight_norm_new(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name, dim = _module_arg(args, kwargs)
    if module is None or module.opaque or not isinstance(name, str) or name not in module.params:
        return args[0] if args else _u("weight_norm of an unknown module")
    weight = module.params[name]
    assert weight is not None
    g = TensorValue(_norm_shape(weight.shape, dim), weight.dtype, True)
    _parametrize(module, name, [g, TensorValue(weight.shape, weight.dtype, True)], {})
    return module


def _spectral_dims(module: ModuleValue, weight: TensorValue, dim: Any) -> tuple[int | None, int | None] | None:
    if weight.shape is None:
        return None
    if dim is None:
        dim = 1 if "ConvTranspose" in module.type_name else 0
    d = _norm_dim(dim, len(weight.shape))
    if d is None or d < 0:
        return None
    h = weight.shape[d]
    rest = [s for i, s in enumerate(weight.shape) if i != d]
    w: int | None = 1
    for s in rest:
        w = None if s is None or w is None else w * s
    return h, w


def _spectral_norm_old(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module = args[0] if args else kwargs.get("module")
    name = args[1] if len(args) > 1 else kwargs.get("name", "weight")
    dim = args[4] if len(args) > 4 else kwargs.get("dim")
    if not isinstance(module, ModuleValue) or module.opaque or name not in module.params:
        return module
    weight = module.params.pop(name)
    assert weight is not None
    dims = _spectral_dims(module, weight, dim)
    module.params[f"{name}_orig"] = weight
    h, w = dims if dims is not None else (None, None)
    module.buffers[f"{name}_u"] = TensorValue((h,))
    module.buffers[f"{name}_v"] = TensorValue((w,))
    module.attrs[name] = TensorValue(weight.shape, weight.dtype)
    return module


def _spectral_norm_new(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module = args[0] if args else kwargs.get("module")
    name = args[1] if len(args) > 1 else kwargs.get("name", "weight")
    dim = args[4] if len(args) > 4 else kwargs.get("dim")
    if not isinstance(module, ModuleValue) or module.opaque or name not in module.params:
        return module
    weight = module.params[name]
    assert weight is not None
    dims = _spectral_dims(module, weight, dim)
    h, w = dims if dims is not None else (None, None)
    _parametrize(module, name, [TensorValue(weight.shape, weight.dtype, True)], {"_u": TensorValue((h,)), "_v": TensorValue((w,))})
    return module


def _ordered(value: Any) -> Any:
    return OrderedDictValue(value) if isinstance(value, dict) else value


def _passthrough(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else None


# Environment variables that switch a library's code path (timm builds its ViTs as NaFlexViT
# when told to): read from the environment the check runs in, as the library would, with the
# library's default when unset. Any other variable is unknown.
LIBRARY_FLAGS = frozenset({"TIMM_USE_NAFLEXVIT", "TIMM_USE_NAFLEX", "TIMM_USE_SCIPY_INTERP", "TIMM_FUSED_ATTN"})


def _unknown_value(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    name = args[0] if args else kwargs.get("key")
    default = args[1] if len(args) > 1 else kwargs.get("default")
    if isinstance(name, str) and name in LIBRARY_FLAGS and (default is None or isinstance(default, (str, int))):
        return os.environ.get(name, default)
    return _u("a value read from the environment")


def _torch_size(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    items = interp.iterate(args[0]) if args else []
    return tuple(items) if items is not None else _u("torch.Size of unknown dims")


def _compile(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    # torch.compile wraps the module in an OptimizedModule whose state_dict nests it under
    # `_orig_mod.`.
    module = args[0] if args else kwargs.get("model")
    if not isinstance(module, ModuleValue):
        return _u("torch.compile of an unknown value")
    wrapper = ModuleValue(type_name="torch._dynamo.eval_frame.OptimizedModule", origin=module.origin)
    wrapper.children["_orig_mod"] = module
    return wrapper


def _from_pretrained_embedding(kind: str) -> Callable[[Runtime, list[Any], dict[str, Any]], Any]:
    def build(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
        table = args[0] if args else kwargs.get("embeddings")
        if not isinstance(table, TensorValue) or table.shape is None or len(table.shape) != 2:
            return opaque_module(f"torch.nn.{kind}", "the pretrained table's shape is unknown", interp.anchor())
        spec = catalog.lookup(f"torch.nn.{kind}")
        return interp.build_layer(spec, [table.shape[0], table.shape[1]], {})

    return build


EXTERNAL_CALLS: dict[str, Callable[[Runtime, list[Any], dict[str, Any]], Any]] = {
    "copy.deepcopy": _deepcopy, "copy.copy": lambda i, a, k: copy.copy(a[0]) if a else None,
    "functools.partial": _partial, "argparse.Namespace": _namespace,
    "types.SimpleNamespace": _namespace, "dataclasses.replace": _replace, "dataclasses.asdict": _asdict,
    "torch.nn.utils.weight_norm": _weight_norm_old,
    "torch.nn.utils.parametrizations.weight_norm": _weight_norm_new,
    "torch.nn.utils.spectral_norm": _spectral_norm_old,
    "torch.nn.utils.spectral_norm.spectral_norm": _spectral_norm_old,
    "torch.nn.utils.parametrizations.spectral_norm": _spectral_norm_new,
    "torch.nn.Embedding.from_pretrained": _from_pretrained_embedding("Embedding"),
    "torch.nn.EmbeddingBag.from_pretrained": _from_pretrained_embedding("EmbeddingBag"),
    "torch.Size": _torch_size, "torch.compile": _compile,
    "os.getenv": _unknown_value, "os.environ.get": _unknown_value,
    "typing.cast": lambda i, a, k: a[1] if len(a) > 1 else None,
    "collections.OrderedDict": lambda i, a, k: _ordered(_b_dict(i, a, k, None)),
    "typing.OrderedDict": lambda i, a, k: _ordered(_b_dict(i, a, k, None)),
    "collections.defaultdict": lambda i, a, k: {},
    "torch.jit.script": _passthrough, "torch.jit.trace": _passthrough,
    "torch.nn.utils.remove_weight_norm": _passthrough,
    **stdlib.NUMPY_CALLS, **stdlib.ITERTOOLS_CALLS, **catalog_einops.FUNCTIONS,
}


# ---------------------------------------------------------------- nn.Module methods

ModuleMethod = Callable[["Runtime", ModuleValue, list[Any], dict[str, Any], "Frame | None"], Any]


def _arg(args: list[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _m_add_module(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    name, value = _arg(args, kwargs, 0, "name"), _arg(args, kwargs, 1, "module")
    if not isinstance(name, str):
        mark_open(module, "a submodule is added under an unknown name", interp.anchor())
        return None
    interp.module_setattr(module, name, value if value is not None else None, interp.anchor())
    if value is None:
        module.children[name] = None
    return None


def _m_register_buffer(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    name = _arg(args, kwargs, 0, "name")
    tensor = _arg(args, kwargs, 1, "tensor")
    persistent = _arg(args, kwargs, 2, "persistent", True)
    if not isinstance(name, str):
        mark_open(module, "a buffer is registered under an unknown name", interp.anchor())
        return None
    module.remove_member(name)
    if is_unknown(persistent):
        module.uncertain[name] = f"whether buffer `{name}` is persistent is unknown"
        return None
    if tensor is None:
        module.buffers[name] = None
    elif isinstance(tensor, TensorValue):
        module.buffers[name] = TensorValue(tensor.shape, tensor.dtype)
    else:
        module.buffers[name] = TensorValue(None, UNKNOWN_DTYPE)
    if not persistent:
        module.non_persistent.add(name)
    anchor = interp.anchor()
    if anchor is not None:
        module.tensor_origins[name] = anchor
    return None


def _m_register_parameter(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    name = _arg(args, kwargs, 0, "name")
    param = _arg(args, kwargs, 1, "param")
    if not isinstance(name, str):
        mark_open(module, "a parameter is registered under an unknown name", interp.anchor())
        return None
    module.remove_member(name)
    if param is None:
        module.params[name] = None
    elif isinstance(param, TensorValue):
        module.params[name] = TensorValue(param.shape, param.dtype, True)
    else:
        module.params[name] = TensorValue(None, UNKNOWN_DTYPE, True)
    anchor = interp.anchor()
    if anchor is not None:
        module.tensor_origins[name] = anchor
    return None


def _m_append(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.container not in ("ModuleList", "Sequential", "ParameterList"):
        return _u("append on a module")
    table = module.params if module.container == "ParameterList" else module.children
    interp.add_item(module, str(len(table) + len(module.uncertain)), args[0] if args else None)
    return module


def _m_extend(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else []
    if items is None:
        module.opaque = module.opaque or "it is extended by an unknown iterable"
        return module
    for item in items:
        _m_append(interp, module, [item], {}, frame)
    return module


def _m_insert(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) != 2 or not isinstance(args[0], int) or module.container != "ModuleList":
        module.opaque = module.opaque or "an item is inserted at an unknown place"
        return None
    values = list(module.children.values())
    values.insert(args[0], args[1] if isinstance(args[1], ModuleValue) else opaque_module("?", "not a module"))
    module.children = {str(i): v for i, v in enumerate(values)}
    return None


def _m_update(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.container not in ("ModuleDict", "ParameterDict"):
        return None
    mapping = interp.as_mapping(args[0]) if args else kwargs
    if mapping is None:
        items = interp.iterate(args[0]) if args else None
        if items is None:
            module.opaque = module.opaque or "it is updated from unknown items"
            return None
        mapping = dict(items)
    for name, value in mapping.items():
        interp.add_item(module, str(name), value)
    return None


def _walk_modules(module: ModuleValue, prefix: str = "") -> list[tuple[str, ModuleValue]]:
    out = [(prefix, module)]
    for name, child in module.children.items():
        if child is not None:
            out.extend(_walk_modules(child, f"{prefix}.{name}" if prefix else name))
    return out


def _m_children(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.opaque:
        return _u(module.opaque, )
    return [c for c in module.children.values() if c is not None]


def _m_named_children(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.opaque:
        return _u(module.opaque)
    return [(n, c) for n, c in module.children.items() if c is not None]


def _m_modules(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    walked = _walk_modules(module)
    if any(m.opaque for _, m in walked):
        return _u("the module tree has unknown parts")
    return [m for _, m in walked]


def _m_named_modules(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    walked = _walk_modules(module)
    if any(m.opaque for _, m in walked):
        return _u("the module tree has unknown parts")
    return list(walked)


def _m_parameters(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    walked = _walk_modules(module)
    if any(m.opaque for _, m in walked):
        return _u("the module tree has unknown parts")
    return [t for _, m in walked for t in m.params.values() if t is not None]


def _m_self(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return module


def _m_none(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return None


def _m_get_submodule(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    target = _arg(args, kwargs, 0, "target")
    if not isinstance(target, str):
        return _u("get_submodule of an unknown name")
    node: Any = module
    for part in target.split(".") if target else []:
        node = interp.module_getattr(node, part) if isinstance(node, ModuleValue) else _u("no such submodule")
    return node


def _m_save_hyperparameters(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    hparams = module.attrs.get("hparams")
    if not isinstance(hparams, AttrDict):
        hparams = AttrDict()
        module.attrs["hparams"] = hparams
    ignore = kwargs.get("ignore") or []
    if isinstance(ignore, str):
        ignore = [ignore]
    ignore = set(ignore) if isinstance(ignore, (list, tuple, set)) else set()
    names = [a for a in args if isinstance(a, str)]
    given = [a for a in args if not isinstance(a, str)]
    for value in given:
        mapping = interp.as_mapping(value)
        if mapping is not None:
            hparams.update(mapping)
        return None
    init_frame = frame
    while init_frame is not None and init_frame.func is None:
        init_frame = init_frame.parent
    if init_frame is None or init_frame.func is None:
        return None
    spec = init_frame.func.node.args
    params = [p.arg for p in [*spec.posonlyargs, *spec.args, *spec.kwonlyargs]][1:]
    for name in params:
        if name in ignore or (names and name not in names):
            continue
        if name in init_frame.locals:
            hparams[name] = init_frame.locals[name]
    if spec.kwarg is not None and not names:
        extra = init_frame.locals.get(spec.kwarg.arg)
        if isinstance(extra, dict):
            hparams.update({k: v for k, v in extra.items() if k not in ignore})
    return None


def _m_setattr(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    """`self.__setattr__(name, value)`: as `setattr(self, name, value)`."""
    return _b_setattr(interp, [module, *args], kwargs, frame)


def _m_to(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return module


MODULE_METHODS: dict[str, ModuleMethod] = {
    "add_module": _m_add_module, "register_module": _m_add_module,
    "register_buffer": _m_register_buffer, "register_parameter": _m_register_parameter,
    "append": _m_append, "extend": _m_extend, "insert": _m_insert, "update": _m_update,
    "children": _m_children, "named_children": _m_named_children, "modules": _m_modules,
    "named_modules": _m_named_modules, "__setattr__": _m_setattr,
    "parameters": _m_parameters, "get_submodule": _m_get_submodule,
    "save_hyperparameters": _m_save_hyperparameters,
    "to": _m_to, "cuda": _m_self, "cpu": _m_self, "float": _m_self, "double": _m_self,
    "half": _m_self, "bfloat16": _m_self, "train": _m_self, "eval": _m_self,
    "requires_grad_": _m_self, "apply": _m_self, "type": _m_self, "share_memory": _m_self,
    "zero_grad": _m_none, "post_init": _m_none, "init_weights": _m_none, "tie_weights": _m_none,
    "reset_parameters": _m_none, "freeze": _m_none, "unfreeze": _m_none,
    "flatten_parameters": _m_none, "_init_weights": _m_none,
}

__all__ = ["BUILTINS", "EXTERNAL_CALLS", "MODULE_METHODS", "catalog"]
