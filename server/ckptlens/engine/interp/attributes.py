"""The object model: attribute lookup on every kind of value, classes (MRO, enums, dataclasses)
and their kinds (module, Lightning module, layer, container, plain class)."""

from __future__ import annotations

import ast
from typing import Any

from ckptlens.engine import catalog, stdlib, symbolic, tensor_methods
from ckptlens.engine.interp.builtins import BUILTINS
from ckptlens.engine.interp.constants import (
    CONSTANTS,
    ENUM_BASES,
    GENERATED_INIT,
    LIGHTNING_BASES,
    MAX_BASES,
    MODULE_BASES,
    MODULE_TABLES,
)
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.library_hooks import (
    METHOD_HOOKS,
    PRETRAINED_CLASSMETHODS,
    PRETRAINED_MODEL,
)
from ckptlens.engine.interp.refs import BuiltinRef, ExternalMethod, PyMethod, TensorMethod
from ckptlens.engine.interp.syntax import is_dataclass_decorator, is_field_call, short, target_names
from ckptlens.engine.interp.valueops import plain, same_value
from ckptlens.engine.objects import (
    AttrDict,
    BoundMethod,
    ClassRef,
    ExternalRef,
    FunctionRef,
    HookRef,
    ModuleNamespace,
    ModuleValue,
    ObjectValue,
    PartialValue,
    SuperProxy,
)
from ckptlens.engine.symbolic import Sym, SymConfig
from ckptlens.engine.values import TensorValue, Unknown, is_unknown


class Attributes(Host):
    def getattr(self, obj: Any, name: str, frame: Frame | None = None) -> Any:
        if isinstance(obj, SymConfig):
            return obj.attribute(name)
        if isinstance(obj, Sym):
            nested = symbolic.attribute_of(obj, name)
            if nested is not None:
                return nested
        if is_unknown(obj):
            return Unknown(obj.reason, obj.maybe_module)
        if isinstance(obj, ExternalRef):
            full = f"{obj.qualname}.{name}"
            if full in CONSTANTS:
                return CONSTANTS[full]
            if name in ("__name__", "__qualname__") and "." in obj.qualname:
                return obj.qualname.rsplit(".", 1)[1]  # `norm_layer.__name__.lower()`
            return obj.child(name)
        if isinstance(obj, ModuleNamespace):
            found, value = obj.scope.lookup(name)
            if found:
                return value
            sub = self.loader.find_module(name, obj.scope.source.path, 1)
            if sub is not None and obj.scope.source.path.endswith("__init__.py"):
                return ModuleNamespace(self.scope_for(sub, f"{obj.scope.name}.{name}"))
            return Unknown(f"`{name}` is not defined in `{obj.scope.name}`", maybe_module=True)
        if name == "__class__" and isinstance(obj, (ModuleValue, ObjectValue)):
            return BUILTINS["type"](self, [obj], {}, None)  # `self.__class__` is `type(self)`
        if isinstance(obj, ModuleValue):
            return self.module_getattr(obj, name)
        if isinstance(obj, ObjectValue):
            if name in obj.attrs:
                return obj.attrs[name]
            alias = self.attribute_alias(obj, name)
            if alias is not None and alias in obj.attrs:
                return obj.attrs[alias]
            if obj.cls is not None:
                found, value = self.class_attr(obj.cls, name)
                if found:
                    return self.bind_attr(obj, value)
            if name in ("__setattr__", "__getattribute__", "__getattr__"):  # `config.__setattr__(k, v)`
                return PartialValue(BuiltinRef("setattr" if name == "__setattr__" else "getattr"), (obj,), {})
            if name == "__dict__":
                return obj.attrs  # `self.__dict__.update(kwargs)`
            return Unknown(f"attribute `{name}` is unknown")
        if isinstance(obj, AttrDict):
            if name in obj:
                return obj[name]
            return Unknown(f"hyperparameter `{name}` is unknown")
        if isinstance(obj, ClassRef):
            if name in ("__name__", "__qualname__"):
                return obj.name
            if name == "__module__":
                return obj.scope.name
            member = self.enum_member(obj, name)
            if member is not None:
                return member
            found, value = self.class_attr(obj, name)
            if found:
                if isinstance(value, (FunctionRef, HookRef)) and value.kind == "classmethod":
                    return BoundMethod(obj, value)
                return value
            if name in PRETRAINED_CLASSMETHODS and any(
                isinstance(k, ExternalRef) and k.qualname == PRETRAINED_MODEL for k in self.mro(obj)
            ):
                return BoundMethod(obj, PRETRAINED_CLASSMETHODS[name])
            return Unknown(f"`{obj.name}.{name}` is unknown", maybe_module=True)
        if isinstance(obj, SuperProxy):
            for klass in obj.mro:
                if is_unknown(klass):
                    # a base class the analysis cannot read may define it: `super().__init__()`
                    # through it may build anything
                    if name == "__init__" and isinstance(obj.receiver, ModuleValue):
                        obj.receiver.opaque = obj.receiver.opaque or f"a base class is unknown ({klass.reason})"
                    return Unknown(klass.reason, maybe_module=True)
                if isinstance(klass, ClassRef):
                    found, value = self.class_attr(klass, name, inherit=False)
                    if found:
                        return self.bind_attr(obj.receiver, value)
                elif isinstance(klass, ExternalRef):
                    return ExternalMethod(obj.receiver, klass, name)
            if name in ("__setattr__", "__getattribute__") and isinstance(obj.receiver, ObjectValue):
                # `super().__setattr__(key, value)` reaching `object` (transformers' config)
                return PartialValue(BuiltinRef("setattr" if name == "__setattr__" else "getattr"), (obj.receiver,), {})
            return ExternalMethod(obj.receiver, ExternalRef("builtins.object"), name)
        if isinstance(obj, BuiltinRef) and obj.name == "object" and name == "__setattr__":
            return BuiltinRef("setattr")  # `object.__setattr__(self, name, value)`
        if isinstance(obj, FunctionRef) and name in ("__name__", "__qualname__") and obj.kind == "function":
            # `f.__name__ == "<lambda>"` (lucidrains' `is_lambda`); a decorated function keeps
            # its name only through `functools.wraps`, so only an undecorated one is known
            if isinstance(obj.node, ast.Lambda) or not obj.node.decorator_list:
                return obj.name
        if isinstance(obj, PartialValue) and name in ("func", "args", "keywords"):
            return {"func": obj.func, "args": tuple(obj.args), "keywords": dict(obj.kwargs)}[name]
        if isinstance(obj, stdlib.ArrayValue):
            result = stdlib.array_attribute(obj, name)
            return result if result is not None else PyMethod(obj, name)
        if isinstance(obj, TensorValue):
            result = tensor_methods.tensor_attribute(obj, name)
            if result is not None:
                return result
            return TensorMethod(obj, name)
        if isinstance(obj, dict) and not isinstance(obj, AttrDict):
            return PyMethod(obj, name)
        if isinstance(obj, (list, str, tuple, int, float, set, slice)):
            if isinstance(obj, (int, float)) and name in ("real", "imag"):
                return getattr(obj, name)
            if isinstance(obj, slice) and name in ("start", "stop", "step"):
                return getattr(obj, name)
            return PyMethod(obj, name)
        return Unknown(f"attribute `{name}` of {type(obj).__name__} is unknown")

    def attribute_alias(self, obj: ObjectValue, name: str) -> str | None:
        """Config classes' `attribute_map` (`n_embd` -> `hidden_size`)."""
        if obj.cls is None:
            return None
        found, mapping = self.class_attr(obj.cls, "attribute_map")
        if found and isinstance(mapping, dict):
            target = mapping.get(name)
            return target if isinstance(target, str) else None
        return None

    def config_auto_path(self) -> str:
        return next((p for p, s in self.scopes.items() if s.name == "transformers.models.auto.configuration_auto"), "")

    def module_getattr(self, module: ModuleValue, name: str) -> Any:
        found, value = module.member(name)
        if found:
            return value
        if name in module.attrs:
            return module.attrs[name]
        if name in MODULE_TABLES:  # read-only here: stores through it go to `assign`
            return dict(getattr(module, MODULE_TABLES[name]))
        if name == "hparams" and module.is_lightning:
            hparams = AttrDict()
            module.attrs["hparams"] = hparams
            return hparams
        if module.cls is not None:
            found, value = self.class_attr(module.cls, name)
            if found:
                return self.bind_attr(module, value)
        if module.opaque is not None:
            return Unknown(module.opaque, maybe_module=True)
        return ExternalMethod(module, ExternalRef(module.type_name), name)

    def bind_attr(self, receiver: Any, value: Any) -> Any:
        if isinstance(value, HookRef):
            return BoundMethod(receiver, value)
        if isinstance(value, FunctionRef):
            if value.kind == "staticmethod":
                return value
            if value.kind == "property":
                return self.call_function(value, [receiver], {}, None)
            if value.kind == "classmethod":
                klass = receiver.cls if isinstance(receiver, (ModuleValue, ObjectValue)) else receiver
                return BoundMethod(klass, value)
            return BoundMethod(receiver, value)
        return value

    def class_attr(self, cls: ClassRef, name: str, inherit: bool = True) -> tuple[bool, Any]:
        for klass in self.mro(cls) if inherit else [cls]:
            if not isinstance(klass, ClassRef):
                continue
            cache = class_cache(klass)
            if name in cache:
                return True, cache[name]
            absent = "\0absent:" + name  # a class body does not change: a miss is kept too
            if absent in cache:
                continue
            hook = METHOD_HOOKS.get(f"{klass.qualname}.{name}")
            if hook is not None:
                cache[name] = hook
                return True, hook
            for stmt in klass.node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                    func = FunctionRef(stmt, klass.scope, owner=klass)
                    value = self.decorate_function(func, stmt, Frame(klass.scope))
                    cache[name] = value
                    return True, value
            for stmt in reversed(klass.node.body):
                if isinstance(stmt, ast.Assign) and name in [n for t in stmt.targets for n in target_names(t)]:
                    frame = Frame(klass.scope, {}, None, cls_body=klass)
                    self.exec_stmt(stmt, frame)
                    cache[name] = frame.locals.get(name)
                    return True, cache[name]
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
                    if stmt.value is None:
                        continue
                    value = self.eval(stmt.value, Frame(klass.scope))
                    if is_field_call(stmt.value):
                        value = self.field_default(stmt.value, Frame(klass.scope))
                    cache[name] = value
                    return True, value
            if name == "__init__" and any(is_dataclass_decorator(d) for d in klass.node.decorator_list):
                generated = HookRef(GENERATED_INIT, lambda i, r, a, k, klass=klass: i.dataclass_init(klass, r, a, k))
                cache[name] = generated
                return True, generated
            cache[absent] = True
        return False, None

    def is_enum(self, cls: ClassRef) -> bool:
        return any(isinstance(k, ExternalRef) and k.qualname in ENUM_BASES for k in self.mro(cls))

    def enum_members(self, cls: ClassRef) -> list[str]:
        """The member names of an `enum.Enum` subclass, in definition order (none otherwise)."""
        if not self.is_enum(cls):
            return []
        names: list[str] = []
        for klass in reversed(self.mro(cls)):
            if isinstance(klass, ClassRef):
                for stmt in klass.node.body:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else []
                    for target in targets:
                        if isinstance(target, ast.Name) and not target.id.startswith("_") and target.id not in names:
                            names.append(target.id)
        return names

    def enum_operand(self, value: Any, other: Any) -> Any:
        """A member of `class Mode(str, Enum)` compares as its value with plain values; a plain
        Enum member stays itself (never equal to a plain value)."""
        if isinstance(value, ObjectValue) and value.cls is not None and "_value_" in value.attrs and plain(other):
            if any(isinstance(k, BuiltinRef) and k.name in ("str", "int", "float") for k in self.mro(value.cls)):
                return value.attrs["_value_"]
        return value

    def enum_member(self, cls: ClassRef, name: str) -> ObjectValue | None:
        """`Color.RED`: one object per member (so `is` holds), with `.name` and `.value`."""
        if name.startswith("_") or name not in self.enum_members(cls):
            return None
        cache = class_cache(cls)
        key = f"\0enum:{name}"
        if key not in cache:
            found, value = self.class_attr(cls, name)
            cache[key] = ObjectValue(cls, {"_name_": name, "name": name, "_value_": value, "value": value})
        member = cache[key]
        return member if isinstance(member, ObjectValue) else None

    def decorate_function(self, func: FunctionRef, node: Any, frame: Frame) -> Any:
        for deco in getattr(node, "decorator_list", []):
            name = short(deco)
            if name in ("staticmethod",):
                func.kind = "staticmethod"
            elif name in ("classmethod",):
                func.kind = "classmethod"
            elif name in ("property", "functools.cached_property", "cached_property"):
                func.kind = "property"
        return func

    def mro(self, cls: ClassRef) -> list[Any]:
        """C3 linearisation over ClassRefs and ExternalRefs (library bases end the chain)."""
        cache = class_cache(cls)
        if "__mro__" in cache:
            return cache["__mro__"]
        cache["__mro__"] = [cls]  # cycle guard
        if len(cls.node.bases) > MAX_BASES:  # the C3 merge is cubic in the number of bases
            cache["__mro__"] = [cls, Unknown(f"`{cls.name}` has {len(cls.node.bases)} base classes")]
            return cache["__mro__"]
        bases = [self.eval(b, Frame(cls.scope)) for b in cls.node.bases]
        seqs: list[list[Any]] = []
        for base in bases:
            if isinstance(base, ClassRef):
                seqs.append(list(self.mro(base)))
            elif isinstance(base, ExternalRef):
                seqs.append([base])
            elif is_unknown(base):
                seqs.append([base])
        result = [cls] + _c3_merge(seqs + [list(bases)])
        unknown = [k for k in result if is_unknown(k)]
        if unknown:
            # a base the analysis cannot read most likely derives from the library bases
            # (nn.Module) itself: it comes before them, so its members are not skipped
            known = [k for k in result if not is_unknown(k)]
            first_external = next((i for i, k in enumerate(known) if isinstance(k, ExternalRef)), len(known))
            result = known[:first_external] + unknown + known[first_external:]
        cache["__mro__"] = result
        return result

    def class_kind(self, cls: ClassRef) -> tuple[str, Any]:
        """("module", base) / ("lightning", base) / ("layer", spec) / ("container", name) /
        ("object", None) / ("unknown", reason) for a user class, from its bases."""
        for klass in self.mro(cls)[1:]:
            if is_unknown(klass):
                return "unknown", f"base class of `{cls.name}` is unknown ({klass.reason})"
            if isinstance(klass, ExternalRef):
                qual = klass.qualname
                if qual in LIGHTNING_BASES or qual.endswith(".LightningModule"):
                    return "lightning", klass
                if qual in MODULE_BASES or qual == PRETRAINED_MODEL:
                    return "module", klass
                spec = catalog.lookup(qual)
                if spec is not None:
                    if spec.is_container:
                        return "container", qual.split(".")[-1]
                    return "layer", spec
                if qual.split(".")[0] == "torch" and qual.split(".")[-1] == "Module":
                    return "module", klass
        for klass in self.mro(cls):
            if isinstance(klass, ClassRef) and any(is_dataclass_decorator(d) for d in klass.node.decorator_list):
                return "dataclass", None
        return "object", None


def class_cache(cls: ClassRef) -> dict[str, Any]:
    cache = cls.__dict__.get("_cache")
    if cache is None:
        cache = {}
        cls.__dict__["_cache"] = cache
    return cache


def _c3_merge(seqs: list[list[Any]]) -> list[Any]:
    result: list[Any] = []
    seqs = [list(s) for s in seqs if s]
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in s[1:] for s in seqs if _contains(s[1:], head)):
                break
        else:
            # inconsistent hierarchy: fall back to depth-first order
            for seq in seqs:
                for item in seq:
                    if not _contains(result, item):
                        result.append(item)
            return result
        result.append(head)
        seqs = [[x for x in s if not same_value(x, head)] for s in seqs]
        seqs = [s for s in seqs if s]
    return result


def _contains(items: list[Any], item: Any) -> bool:
    return any(same_value(x, item) for x in items)
