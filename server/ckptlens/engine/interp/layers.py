"""Library layers and containers (from the layer catalog), library functions and methods, and
the builtins table."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ckptlens.engine import catalog, costs, stdlib, tensors
from ckptlens.engine.catalog_base import ArgumentError
from ckptlens.engine.interp.builtins import BUILTINS
from ckptlens.engine.interp.constants import NO_EFFECT_PREFIXES, PURE_FUNCTIONS
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.library_calls import EXTERNAL_CALLS
from ckptlens.engine.interp.module_methods import MODULE_METHODS, unknown_method
from ckptlens.engine.interp.refs import ExternalMethod, NewInstance, PyMethod
from ckptlens.engine.interp.signals import Raised, Unfollowable
from ckptlens.engine.interp.valueops import bounded, external_as_data, hashable, plain, short_value
from ckptlens.engine.objects import (
    ClassRef,
    ExternalRef,
    ModuleValue,
    mark_arguments_open,
    opaque_module,
)
from ckptlens.engine.symbolic import SymItems, SymSeq
from ckptlens.engine.values import TensorValue, Unknown, Unresolvable, is_unknown
from ckptlens.findings import SourceRange


class Layers(Host):
    def build_layer(self, spec: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> ModuleValue:
        origin = self.anchor()
        try:
            bound = catalog.bind(spec, list(args), dict(kwargs))
            built = spec.build(bound)
        except ArgumentError as exc:  # Python raises TypeError (timm's `act_layer(inplace=True)` retries)
            raise Raised(None, f"`TypeError`: {exc}") from None
        except Unresolvable as exc:
            return opaque_module(spec.qualname, f"`{spec.qualname.split('.')[-1]}`: {exc}", origin)
        module = ModuleValue(type_name=spec.qualname, spec=spec, origin=origin)
        for decl in built.parameters:
            module.params[decl.name] = TensorValue(decl.shape, decl.dtype, True)
        for decl in built.buffers:
            module.buffers[decl.name] = TensorValue(decl.shape, decl.dtype)
            if not decl.persistent:
                module.non_persistent.add(decl.name)
        for child in built.children:
            if isinstance(child, catalog.ChildLayer):
                sub_spec = catalog.lookup(child.qualname)
                if sub_spec is None:
                    module.children[child.name] = opaque_module(child.qualname, f"`{child.qualname}` is not in the layer catalog", origin)
                else:
                    module.children[child.name] = self.build_layer(sub_spec, [], child.args)
            else:
                value = bound.get(child.arg)
                if value is None:
                    continue
                if not isinstance(value, ModuleValue):
                    module.children[child.name] = opaque_module("?", f"`{child.arg}` is not a known module", origin)
                elif child.copies is None:
                    module.children[child.name] = value
                else:
                    clones = ModuleValue(type_name="torch.nn.ModuleList", container="ModuleList", origin=origin)
                    for i in range(child.copies):
                        clones.children[str(i)] = _clone(value)
                    module.children[child.name] = clones
        module.attrs.update(built.attributes)
        reasons = sorted({v.reason for v in bound.values() if is_unknown(v)})
        if reasons and _has_unknown_dims(module):
            module.unknown_dims.append("; ".join(reasons))
        return module

    def new_container(self, kind: str, args: list[Any], kwargs: dict[str, Any]) -> ModuleValue:
        module = ModuleValue(type_name=f"torch.nn.{kind}", container=kind, origin=self.anchor())
        self.fill_container(module, args, kwargs)
        return module

    def fill_container(self, module: ModuleValue, args: list[Any], kwargs: dict[str, Any]) -> None:
        kind = module.container
        if kind == "Sequential":
            if len(args) == 1 and is_unknown(args[0]):
                # `nn.Sequential(OrderedDict(blocks))` with unknown blocks: one module or a mapping
                # of named ones -- the names of its children are unknown, not `0`
                module.opaque = module.opaque or f"its items are unknown ({args[0].reason})"
                return
            if len(args) == 1 and isinstance(args[0], dict):
                for name, value in args[0].items():
                    self._add_child(module, str(name), value)
            else:
                for i, value in enumerate(args):
                    self._add_child(module, str(i), value)
            return
        source = args[0] if args else kwargs.get("modules", kwargs.get("values", kwargs.get("parameters")))
        if source is None:
            return
        if kind in ("ModuleDict", "ParameterDict"):
            mapping = self.as_mapping(source)
            if mapping is None:
                items = self.iterate(source)
                if items is not None and all(isinstance(i, (tuple, list)) and len(i) == 2 for i in items):
                    mapping = {k: v for k, v in items}
            if mapping is None:
                module.opaque = "its items are unknown"
                return
            items = list(mapping.items())
            if kind == "ParameterDict" and type(mapping) is dict:
                # torch sorts a plain dict's keys here (an OrderedDict keeps its order)
                try:
                    items = sorted(items)
                except TypeError:
                    module.opaque = "its keys cannot be ordered"
                    return
            for name, value in items:
                self.add_item(module, str(name), value)
            return
        items = self.iterate(source)
        if items is None:
            module.opaque = "its items are unknown"
            if isinstance(source, SymSeq) and kind in ("ModuleList", "Sequential"):
                module.sym_items = SymItems(source.count, list(source.head), list(source.one))
            return
        for i, value in enumerate(items):
            self.add_item(module, str(i), value)

    def add_item(self, module: ModuleValue, name: str, value: Any) -> None:
        if module.container == "ParameterList" and isinstance(value, ModuleValue):
            # torch keeps a module item of a ParameterList as a submodule under its index
            # (lucidrains' nViT: a ParameterList of ParameterLists)
            self._add_child(module, name, value)
            return
        if module.container in ("ParameterList", "ParameterDict"):
            if isinstance(value, TensorValue):
                module.params[name] = TensorValue(value.shape, value.dtype, True)
                if self.anchors:
                    module.tensor_origins[name] = self.anchors[-1]
            elif is_unknown(value):
                module.uncertain[name] = value.reason
            return
        self._add_child(module, name, value)

    def _add_child(self, module: ModuleValue, name: str, value: Any) -> None:
        if isinstance(value, ModuleValue):
            module.children[name] = value
            if value.origin is None:
                value.origin = self.anchor()
        elif value is None:
            module.children[name] = None
        elif is_unknown(value):
            module.children[name] = opaque_module("?", value.reason, self.anchor())
        else:
            module.children[name] = opaque_module("?", f"`{short_value(value)}` is not a module", self.anchor())

    def anchor(self) -> SourceRange | None:
        return self.anchors[-1] if self.anchors else None

    def call_external(self, func: ExternalRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        qual = func.qualname
        leaf = qual.split(".")[-1]
        if leaf == "__init__" and args and isinstance(args[0], ModuleValue):
            # `nn.LayerNorm.__init__(self, dim)`: the library base's constructor, called unbound
            self.external_init(args[0], [ExternalRef(qual.rsplit(".", 1)[0])], list(args[1:]), kwargs)
            return None
        if qual in PURE_FUNCTIONS:
            if any(is_unknown(a) or not plain(a) for a in [*args, *kwargs.values()]):
                return Unknown(f"`{qual}` of an unknown value")
            if costs.call_too_costly(qual, None, [*args, *kwargs.values()]):
                return Unknown(f"`{qual}` would compute a value too large")
            try:
                return PURE_FUNCTIONS[qual](*args, **kwargs)
            except Exception:  # noqa: BLE001 - any failure of a pure function is just unknown
                return Unknown(f"`{qual}` failed")
        spec = catalog.lookup(qual)
        if spec is not None:
            if spec.is_container:
                return self.new_container(leaf, args, kwargs)
            return self.build_layer(
                spec, [external_as_data(a) for a in args], {k: external_as_data(v) for k, v in kwargs.items()}
            )
        special = EXTERNAL_CALLS.get(qual) or EXTERNAL_CALLS.get(_canonical_util(qual))
        if special is not None:
            return special(self, args, kwargs)
        tensor = tensors.tensor_call(
            qual, [external_as_data(a) for a in args], {k: external_as_data(v) for k, v in kwargs.items()}
        )
        if tensor is not None:
            return tensor
        if qual.startswith(NO_EFFECT_PREFIXES):
            return args[0] if args else None
        if qual.startswith("torchmetrics."):
            return ModuleValue(type_name=qual)
        if qual.startswith(MODULE_CHANGING_PREFIXES):
            # `prune.l1_unstructured(conv, "weight", ...)`, `parametrize.remove_parametrizations`:
            # not modelled, they may rename, add or drop the tensors of the modules they are
            # handed, so those modules become unknown (never predicted as they were)
            for value in [*args, *kwargs.values()]:
                if isinstance(value, ModuleValue) and not value.opaque:
                    value.opaque = f"`{qual}` may change its tensors; it is not modelled"
        reason = f"`{qual}` is called on it and is not followed"
        if any(isinstance(v, ModuleValue) for v in [*args, *kwargs.values()]):
            # a library function given a module may change it (and may return one)
            mark_arguments_open([*args, *kwargs.values()], reason, self.anchor())
            return Unknown(f"`{qual}` is not known to the analysis", maybe_module=True)
        if qual.startswith("torch.") and leaf[:1].islower():
            return Unknown(f"the result of `{qual}` is not tracked")
        mark_arguments_open([*args, *kwargs.values()], reason, self.anchor())
        return Unknown(f"`{qual}` is not known to the analysis", maybe_module=True)

    def call_external_method(self, method: ExternalMethod, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        receiver, name = method.receiver, method.name
        if name == "__new__" and isinstance(receiver, ClassRef) and args and args[0] is receiver:
            return NewInstance(receiver)  # `super().__new__(cls)` in a class's own `__new__`
        if name == "__init__":
            if isinstance(receiver, ModuleValue):
                mro = self.mro(receiver.cls) if receiver.cls else [method.owner]
                start = mro.index(method.owner) if method.owner in mro else 0
                self.external_init(receiver, mro[start:], args, kwargs)
            return None
        if isinstance(receiver, ModuleValue):
            handler = MODULE_METHODS.get(name)
            if handler is not None:
                return handler(self, receiver, args, kwargs, frame)
            if receiver.opaque is not None:
                return Unknown(receiver.opaque, maybe_module=True)
            if name in receiver.attrs:
                return receiver.attrs[name]
            return unknown_method(self, receiver, name)
        return None

    def call_py_method(self, method: PyMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
        obj, name = method.obj, method.name
        if isinstance(obj, stdlib.ArrayValue):
            return stdlib.array_method(obj, name, args, kwargs)
        if name in ("append", "extend", "insert", "update", "setdefault", "pop", "remove", "clear", "add", "reverse"):
            if name == "extend":
                items = self.iterate(args[0]) if args else []
                if items is None:
                    raise Unfollowable("a list is extended by an unknown iterable")
                args = [items]
            if name == "update" and args:
                mapping = self.as_mapping(args[0])
                if mapping is None:
                    raise Unfollowable("a dict is updated from an unknown mapping")
                args = [mapping]
            # the item appended or added may be unknown; where it goes, or what goes, may not
            if name in ("insert", "setdefault", "pop", "remove"):
                position = list(args[:1])
            elif name == "update" and args:
                position = list(args[0])
            else:
                position = []
            if any(is_unknown(a) or not hashable(a) for a in position):
                raise Unfollowable(f"`.{name}()` of an unknown value changes the container")
            try:
                return getattr(obj, name)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the real call raises too
                raise Raised(None, f"`{type(exc).__name__}` from `.{name}()`") from None
        if any(is_unknown(a) for a in [*args, *kwargs.values()]):
            return Unknown(f"`.{name}()` of an unknown value")
        if name in ("items", "keys", "values"):
            return list(getattr(obj, name)())
        if name == "get" and isinstance(obj, dict):
            key = args[0] if args else None
            if not hashable(key):
                return Unknown("unknown key")
            return obj.get(key, args[1] if len(args) > 1 else kwargs.get("default"))
        if name in SAFE_PY_METHODS and all(plain(a) for a in args):
            if costs.call_too_costly(name, obj, [*args, *kwargs.values()]):
                return Unknown(f"`.{name}()` would compute a value too large")
            try:
                result = getattr(obj, name)(*args, **kwargs)
            except Exception:  # noqa: BLE001
                return Unknown(f"`.{name}()` failed")
            return bounded(result)
        return Unknown(f"`.{name}()` is not tracked")

    def call_builtin(self, name: str, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        return BUILTINS[name](self, args, kwargs, frame)


def _has_unknown_dims(module: ModuleValue) -> bool:
    for tensor in [*module.params.values(), *module.buffers.values()]:
        if tensor is not None and (tensor.shape is None or any(d is None for d in tensor.shape)):
            return True
    return False


def _clone(module: ModuleValue) -> ModuleValue:
    return copy.deepcopy(module)


# library functions that change the tensors of a module they are handed
MODULE_CHANGING_PREFIXES = ("torch.nn.utils.", "torch.ao.", "torch.quantization.")


def _canonical_util(qual: str) -> str:
    return qual.replace("torch.nn.utils.parametrizations.", "torch.nn.utils.parametrizations.").replace(
        "torch.nn.utils.weight_norm.", "torch.nn.utils."
    )


SAFE_PY_METHODS = frozenset(
    {
        "format", "join", "split", "rsplit", "strip", "lstrip", "rstrip", "upper", "lower",
        "startswith", "endswith", "replace", "index", "count", "copy", "title", "capitalize",
        "isdigit", "isalpha", "find", "partition", "rpartition", "zfill", "is_integer",
        "bit_length", "casefold", "removeprefix", "removesuffix", "indices",
    }
)
