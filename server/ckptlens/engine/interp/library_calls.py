"""The table of library functions the interpreter models (`copy.deepcopy`, `functools.partial`,
`torch.nn.utils.weight_norm`, ...)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ckptlens.engine import catalog, catalog_einops, stdlib, symbolic
from ckptlens.engine.interp.builtins_shared import b_dict
from ckptlens.engine.interp.tensor_moves import TENSOR_MOVES, parametrize
from ckptlens.engine.objects import (
    BoundMethod,
    ClassRef,
    ExternalRef,
    FunctionRef,
    HookRef,
    ModuleValue,
    ObjectValue,
    OrderedDictValue,
    PartialValue,
    opaque_module,
)
from ckptlens.engine.values import TensorValue, Unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.runtime import Runtime


def _deepcopy(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args and isinstance(args[0], symbolic.SymConfig):  # issue 15: a config nobody gave
        return args[0].copy()
    return copy.deepcopy(args[0]) if args else None


def _partial(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args and isinstance(args[0], PartialValue):  # functools flattens a partial of a partial
        inner = args[0]
        return PartialValue(inner.func, (*inner.args, *args[1:]), {**inner.kwargs, **kwargs})
    return PartialValue(args[0], tuple(args[1:]), kwargs) if args else Unknown("partial()")


def _namespace(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return ObjectValue(None, dict(kwargs))


def _namedtuple(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`collections.namedtuple("Config", ["a", "b"], defaults=...)`: a factory whose instances
    carry the fields as attributes (they hold no tensors; `lucidrains`' `AttentionConfig`)."""
    typename = args[0] if args else kwargs.get("typename")
    fields = args[1] if len(args) > 1 else kwargs.get("field_names")
    if isinstance(fields, str):
        fields = fields.replace(",", " ").split()
    if not isinstance(typename, str) or not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields):
        return Unknown("`collections.namedtuple` with names that are not known")
    defaults = kwargs.get("defaults") or ()
    if not isinstance(defaults, (list, tuple)) or len(defaults) > len(fields):
        return Unknown("`collections.namedtuple` with defaults that are not known")
    names = tuple(fields)
    preset = dict(zip(names[len(names) - len(defaults):], defaults, strict=True))

    def make(interp: Runtime, receiver: Any, call_args: list[Any], call_kwargs: dict[str, Any]) -> Any:
        if len(call_args) > len(names) or any(k not in names for k in call_kwargs):
            return Unknown(f"`{typename}(...)` with arguments it does not take")
        values = {**preset, **dict(zip(names, call_args, strict=False)), **call_kwargs}
        if any(n not in values for n in names):
            return Unknown(f"`{typename}(...)` without all its fields")
        return ObjectValue(None, {n: values[n] for n in names})

    return HookRef(typename, make)


_PLAIN = (bool, int, float, str, complex, type(None), list, tuple, dict, set, range, bytes, slice)


def _inspect_is(kind: str) -> Callable[[Runtime, list[Any], dict[str, Any]], Any]:
    """`inspect.isfunction(d)` (stable-diffusion's `default(val, d)`) and `inspect.isclass`:
    known for the interpreter's own functions, classes, modules, tensors and plain values;
    unknown for a library object (a function or a class, by its source)."""

    def check(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) != 1 or kwargs:
            return Unknown(f"`inspect.{kind}` with unusual arguments")
        value = args[0]
        if isinstance(value, FunctionRef):  # a def or a lambda
            return kind == "isfunction"
        if isinstance(value, ClassRef) or (isinstance(value, ExternalRef) and catalog.lookup(value.qualname) is not None):
            return kind == "isclass"  # a class of the source, or a torch layer the catalog knows
        if isinstance(value, (BoundMethod, PartialValue, ModuleValue, ObjectValue, TensorValue)) or (
            isinstance(value, _PLAIN) and not isinstance(value, Unknown)
        ):
            return False
        return Unknown(f"`inspect.{kind}` of a value that is not known")

    return check


def _replace(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args and isinstance(args[0], ObjectValue):
        return ObjectValue(args[0].cls, {**args[0].attrs, **kwargs})
    return Unknown("dataclasses.replace() of an unknown object")


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
        return Unknown("dataclasses.asdict() of an unknown object")
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
        return args[0] if args else Unknown("weight_norm of an unknown module")
    weight = module.params.get(name)
    if weight is None:
        module.opaque = f"weight_norm on `{name}`, which it does not have"
        return module
    del module.params[name]
    module.params[f"{name}_g"] = TensorValue(_norm_shape(weight.shape, dim), weight.dtype, True)
    module.params[f"{name}_v"] = TensorValue(weight.shape, weight.dtype, True)
    return module


def _weight_norm_new(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name, dim = _module_arg(args, kwargs)
    if module is None or module.opaque or not isinstance(name, str) or name not in module.params:
        return args[0] if args else Unknown("weight_norm of an unknown module")
    weight = module.params[name]
    assert weight is not None
    g = TensorValue(_norm_shape(weight.shape, dim), weight.dtype, True)
    inner = ModuleValue(type_name="torch.nn.utils.parametrizations._WeightNorm", origin=module.origin)
    parametrize(module, name, [g, TensorValue(weight.shape, weight.dtype, True)], inner)
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
    inner = ModuleValue(type_name="torch.nn.utils.parametrizations._SpectralNorm", origin=module.origin)
    inner.buffers.update({"_u": TensorValue((h,)), "_v": TensorValue((w,))})
    parametrize(module, name, [TensorValue(weight.shape, weight.dtype, True)], inner)
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
    return Unknown("a value read from the environment")


def _torch_size(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    items = interp.iterate(args[0]) if args else []
    return tuple(items) if items is not None else Unknown("torch.Size of unknown dims")


def _compile(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    # torch.compile wraps the module in an OptimizedModule whose state_dict nests it under
    # `_orig_mod.`.
    module = args[0] if args else kwargs.get("model")
    if not isinstance(module, ModuleValue):
        return Unknown("torch.compile of an unknown value")
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
    "collections.OrderedDict": lambda i, a, k: _ordered(b_dict(i, a, k, None)),
    "typing.OrderedDict": lambda i, a, k: _ordered(b_dict(i, a, k, None)),
    "collections.defaultdict": lambda i, a, k: {},
    "collections.namedtuple": _namedtuple,
    "inspect.isfunction": _inspect_is("isfunction"), "inspect.isclass": _inspect_is("isclass"),
    "torch.jit.script": _passthrough, "torch.jit.trace": _passthrough,
    **TENSOR_MOVES, **stdlib.NUMPY_CALLS, **stdlib.ITERTOOLS_CALLS, **catalog_einops.FUNCTIONS,
}
