"""The table of Python builtins the interpreter consults (`len`, `range`, `isinstance`, `hasattr`, ...).

The other tables: library functions in `library_calls`, `nn.Module` methods in `module_methods`,
library hooks in `library_hooks`. They all depend on `runtime.Runtime`, never on `Interpreter`."""

from __future__ import annotations

import ast
import collections.abc
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ckptlens.engine import catalog, class_facts, costs, symbolic
from ckptlens.engine.interp.builtins_shared import Builtin, b_dict, b_list, b_setattr
from ckptlens.engine.interp.library_calls import EXTERNAL_CALLS
from ckptlens.engine.interp.module_methods import MODULE_METHODS
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
)
from ckptlens.engine.symbolic import Expr, Sym, SymRange, SymSeq
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.runtime import Runtime


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
    first = symbolic.sym_value(start)  # an int, or a symbol (`range(sum(depths[:i]), ...)`)
    if isinstance(start, bool) or first is None:
        return None
    count = args[-1].expr.add(first, -1)
    if count is None:
        return None
    return SymRange(f"range over an unknown bound ({args[-1].reason})", start=start, count=count)


def _b_len(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    value = args[0] if args else None
    length = symbolic.length_of(value)  # issue 15: `len(config.depths)`
    if length is not None:
        return length
    if isinstance(value, SymSeq):
        length = value.count.mul(Expr.const(len(value.one)))
        length = length.add(Expr.const(len(value.head))) if length is not None else None
        return symbolic.as_value(length, value.reason)
    if isinstance(value, ModuleValue):
        if value.opaque or value.uncertain:
            return _u("length of a module whose items are unknown")
        if value.container == "ParameterList":
            return len(value.params) + len(value.children)
        return len(value.params) if value.container == "ParameterDict" else len(value.children)
    if isinstance(value, ObjectValue):
        method = class_facts.own_method(interp, value.cls, "__len__") if value.cls is not None else None
        if method is not None:  # a class of the source defines `len(obj)`
            return interp.call(method, [value], {}, None, frame)
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
    total = symbolic.sym_sum(items, start) if items is not None else None
    if total is not None:  # issue 15: a sum of symbols (`sum(config.depths[:i])`)
        return total
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


def _b_enumerate(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else None
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    if items is None and isinstance(start, int):  # issue 15: a list nobody gave
        loop = symbolic.as_range(args[0], enumerated=start) if args else None
        if loop is not None:
            return loop
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
    if isinstance(value, (bool, int, float, str, complex, type(None), range, bytes, slice)):
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
        if isinstance(obj, symbolic.SymConfig):  # issue 15: the value used, given or default
            return obj.attribute(name, optional=args[2] is None)
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
    if isinstance(obj, ClassRef):
        return class_facts.class_has(interp, obj, name)
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
    # `type(norm_layer) == functools.partial` (taming's NLayerDiscriminator)
    if isinstance(value, PartialValue):
        return ExternalRef("functools.partial")
    if isinstance(value, ExternalRef) and catalog.lookup(value.qualname) is not None:
        return ExternalRef("builtins.type")  # a torch layer class: its metaclass is `type`
    if isinstance(value, FunctionRef) and value.kind == "function":
        return ExternalRef("types.FunctionType")
    if isinstance(value, ClassRef) and _plain_metaclass(interp, value):
        return ExternalRef("builtins.type")
    return _u("type() of a value")


def _plain_metaclass(interp: Runtime, cls: ClassRef) -> bool:
    """A source class whose metaclass is `type`: no `metaclass=` anywhere in its MRO, whose
    library bases are torch.nn modules (not `Parameter`, an enum, an ABC...)."""
    for klass in interp.mro(cls):
        if isinstance(klass, ClassRef):
            if any(k.arg == "metaclass" for k in klass.node.keywords):
                return False
        elif not (isinstance(klass, ExternalRef) and (
            klass.qualname == "builtins.object"
            or (klass.qualname.startswith("torch.nn.") and "arameter" not in klass.qualname)
        )):
            return False
    return True


def _b_none(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return None


def _b_unknown(name: str) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        return _u(f"`{name}()` is not tracked")

    return run


def _b_callable(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    """`callable(d)` (the `default(val, d)` helper of lucidrains' repositories): known for
    functions, classes, partials, modules and plain values; unknown for an instance whose class
    might define `__call__`, or an unknown value."""
    if len(args) != 1 or kwargs:
        return _u("`callable()` with unusual arguments")
    known = _callable(args[0])
    return _u("`callable()` of a value that is not known") if known is None else known


def _b_locals(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    """`locals()` in a function (lucidrains' CvT: `kwargs = dict(locals())`): its parameters and
    the names bound so far, and `__class__` in a method that uses `super()` (CPython keeps the
    cell there). At module level, in a class body or a comprehension: unknown."""
    if args or kwargs or frame is None or frame.func is None or frame.cls_body is not None:
        return _u("`locals()` outside a function")
    if frame.parent is not None and frame.parent.func is frame.func:
        return _u("`locals()` in a comprehension")
    out = dict(frame.locals)
    func = frame.func
    if isinstance(func.owner, ClassRef) and any(
        isinstance(n, ast.Name) and n.id in ("super", "__class__") for n in ast.walk(func.node)
    ):
        out["__class__"] = func.owner
    return out


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
    "dict": dict, "set": set, "frozenset": frozenset, "type": type, "slice": slice,
}

BUILTINS: dict[str, Builtin] = {
    "range": _b_range, "len": _b_len, "int": _b_int, "float": _pure(float, "float"),
    "bool": lambda i, a, k, f: (i.truth(a[0]) if i.truth(a[0]) is not None else _u("bool() of an unknown value")) if a else False,
    "str": _pure(str, "str"), "abs": _pure(abs, "abs"), "slice": _pure(slice, "slice"), "round": _b_round,
    "min": _b_minmax(min, "min"), "max": _b_minmax(max, "max"), "sum": _b_sum,
    "divmod": _pure(divmod, "divmod"), "pow": _pure(pow, "pow"), "list": b_list(list),
    "tuple": b_list(tuple), "set": b_list(set), "frozenset": b_list(frozenset), "dict": b_dict,
    "sorted": _over_items(lambda items, **kw: sorted(items, **{k: v for k, v in kw.items() if k == "reverse"}), "sorted"),
    "reversed": _over_items(lambda items: list(reversed(items)), "reversed"),
    "enumerate": _b_enumerate, "zip": _over_items(lambda *ls, **kw: list(zip(*ls, strict=False)), "zip"),
    "map": _b_map, "filter": _b_filter, "any": _b_anyall("any"), "all": _b_anyall("all"),
    "isinstance": _b_isinstance, "issubclass": _b_issubclass, "getattr": _b_getattr,
    "hasattr": _b_hasattr, "setattr": b_setattr, "super": _b_super, "type": _b_type,
    "print": _b_none, "iter": _b_iter, "next": _b_next, "callable": _b_callable,
    "repr": _pure(repr, "repr"), "format": _pure(format, "format"), "chr": _pure(chr, "chr"),
    "ord": _pure(ord, "ord"), "hex": _pure(hex, "hex"), "bin": _pure(bin, "bin"),
    "id": _b_unknown("id"), "hash": _b_unknown("hash"), "vars": _b_unknown("vars"), "dir": _b_dir, "locals": _b_locals,
    "open": _b_unknown("open"), "input": _b_unknown("input"), "object": lambda i, a, k, f: ObjectValue(None),
    "NotImplementedError": _b_exception, "ValueError": _b_exception, "TypeError": _b_exception,
    "KeyError": _b_exception, "RuntimeError": _b_exception, "AssertionError": _b_exception,
    "Exception": _b_exception, "AttributeError": _b_exception, "IndexError": _b_exception,
    "ImportError": _b_exception, "ModuleNotFoundError": _b_exception,
}


__all__ = ["BUILTINS", "catalog"]
