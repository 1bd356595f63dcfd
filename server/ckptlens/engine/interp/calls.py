"""Calls: interpreted functions (argument binding, depth limit), class instantiation (plain and
dataclass), and `nn.Module.__init__` of a library base."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from ckptlens.engine import catalog, tensor_methods
from ckptlens.engine.constructor import register_config, registers_config
from ckptlens.engine.interp.attributes import class_cache
from ckptlens.engine.interp.constants import (
    GENERATED_INIT,
    LIGHTNING_BASES,
    MAX_DEPTH,
    MODULE_BASES,
)
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.library_hooks import PRETRAINED_MODEL, pretrained_model_init
from ckptlens.engine.interp.refs import (
    BuiltinRef,
    ExternalMethod,
    NewInstance,
    PyMethod,
    TensorMethod,
)
from ckptlens.engine.interp.signals import Break, Continue, Return
from ckptlens.engine.interp.syntax import dataclass_option, field_option, is_field_call, short
from ckptlens.engine.interp.valueops import external_as_data, same_value, short_value
from ckptlens.engine.objects import (
    BoundMethod,
    ClassRef,
    ExternalRef,
    FunctionRef,
    HookRef,
    ModuleValue,
    ObjectValue,
    PartialValue,
    mark_arguments_open,
    opaque_module,
)
from ckptlens.engine.values import UngivenArgument, Unknown, is_unknown


class Calls(Host):
    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None, frame: Frame | None) -> Any:
        if is_unknown(func):
            if node is not None and frame is not None:
                where = self.anchor() or frame.scope.source.range_of(node)
                reason = f"`{short(node.func, 50)}(...)` is called on it and cannot be followed ({func.reason})"
                mark_arguments_open([*args, *kwargs.values()], reason, where)
            return Unknown(func.reason, maybe_module=True)
        if isinstance(func, BuiltinRef):
            return self.call_builtin(func.name, args, kwargs, frame)
        if isinstance(func, ClassRef):
            return self.instantiate(func, args, kwargs)
        if isinstance(func, FunctionRef):
            return self.call_function(func, args, kwargs, frame)
        if isinstance(func, BoundMethod):
            if isinstance(func.func, HookRef):
                return func.func.fn(self, func.receiver, args, kwargs)
            return self.call_function(func.func, [func.receiver, *args], kwargs, frame)
        if isinstance(func, HookRef):
            return func.fn(self, None, args, kwargs)
        if isinstance(func, ExternalRef):
            return self.call_external(func, args, kwargs)
        if isinstance(func, ExternalMethod):
            return self.call_external_method(func, args, kwargs, frame)
        if isinstance(func, PyMethod):
            return self.call_py_method(func, args, kwargs)
        if isinstance(func, TensorMethod):
            result = tensor_methods.tensor_method(
                func.tensor, func.name, [external_as_data(a) for a in args],
                {k: external_as_data(v) for k, v in kwargs.items()},
            )
            return result if result is not None else Unknown(f"tensor method `{func.name}` is unknown")
        if isinstance(func, PartialValue):
            return self.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node, frame)
        if isinstance(func, ModuleValue):
            return Unknown("the result of calling a module (forward) is not tracked")
        if isinstance(func, ObjectValue) and func.cls is not None:
            # an instance whose class defines `__call__` (timm's EfficientNetBuilder)
            found, method = self.class_attr(func.cls, "__call__")
            if found and isinstance(method, (FunctionRef, HookRef)):
                return self.call(self.bind_attr(func, method), args, kwargs, node, frame)
        return Unknown(f"cannot call {type(func).__name__}", maybe_module=True)

    def call_function(self, func: FunctionRef, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        if self.depth >= MAX_DEPTH:
            # only this call is given up: what it would have built is unknown
            return Unknown(f"`{func.name}` is reached through calls nested deeper than {MAX_DEPTH}", maybe_module=True)
        node = func.node
        new = Frame(func.scope, {}, func.closure, func)
        self.bind_arguments(node.args, args, kwargs, new, func)
        if args and isinstance(args[0], ModuleValue) and registers_config(node):
            register_config(self, args[0], node, new)  # diffusers' @register_to_config
        self.depth += 1
        try:
            if isinstance(node, ast.Lambda):
                return self.eval(node.body, new)
            self.exec_block(node.body, new)
            return None
        except Return as ret:
            return ret.value
        except (Break, Continue):
            return None
        finally:
            self.depth -= 1

    def bind_arguments(self, spec: ast.arguments, args: list[Any], kwargs: dict[str, Any], frame: Frame, func: FunctionRef) -> None:
        positional, defaults, kwonly, vararg, kwarg = _parameters(spec)
        local = frame.locals
        defining: list[Frame] = []  # where defaults are evaluated (made when one is needed)
        kwargs = dict(kwargs)
        given = len(args)
        for i, name in enumerate(positional):
            if i < given:
                local[name] = args[i]
            elif name in kwargs:
                local[name] = kwargs.pop(name)
            elif name in defaults:
                local[name] = self._default(defaults[name], func, defining)
            else:
                # nobody gave it: it may be a module (`DETR(backbone, ...)`), so kept on `self`
                # it is an unknown member, never an attribute that drops the module's keys
                local[name] = UngivenArgument(
                    f"argument `{name}` of `{func.name}` is not given (pass --init {name}=...)",
                    maybe_module=True,
                )
        if vararg is not None:
            local[vararg] = tuple(args[len(positional) :])
        for name in kwonly:
            if name in kwargs:
                local[name] = kwargs.pop(name)
            elif name in defaults:
                local[name] = self._default(defaults[name], func, defining)
            else:
                local[name] = UngivenArgument(f"argument `{name}` of `{func.name}` is not given", maybe_module=True)
        if kwarg is not None:
            local[kwarg] = dict(kwargs)

    def _default(self, node: ast.expr, func: FunctionRef, defining: list[Frame]) -> Any:
        """A parameter's default value: a constant without the `eval` call (the same step
        counted); anything else evaluated in the function's defining scope."""
        if type(node) is ast.Constant:
            self.tick()
            return node.value
        if not defining:
            defining.append(Frame(func.scope, {}, func.closure))
        return self.eval(node, defining[0])

    def instantiate(self, cls: ClassRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        kind, info = self.class_kind(cls)
        if kind == "unknown":
            return opaque_module(cls.qualname, info, self.anchor())
        if kind in ("module", "lightning", "layer", "container"):
            found_new, new = self.class_attr(cls, "__new__")
            if found_new and isinstance(new, FunctionRef) and not _returns_its_instance(new.node):
                # x-transformers' LoRALinear: `__new__` may hand back another module (then
                # `__init__` never runs) or `super().__new__(cls)`, which `__init__` then builds
                made = self.call_function(new, [cls, *args], kwargs, None)
                if isinstance(made, ModuleValue) and made.cls is not cls:
                    return made
                if not (isinstance(made, NewInstance) and made.cls is cls):
                    return opaque_module(cls.qualname, f"its `__new__` returns {short_value(made)}", self.anchor())
            module = ModuleValue(type_name=cls.qualname, cls=cls, origin=self.anchor())
            module.is_lightning = kind == "lightning"
            found, init = self.class_attr(cls, "__init__")
            if found and isinstance(init, FunctionRef):
                self.call_function(init, [module, *args], kwargs, None)
            else:
                self.external_init(module, self.mro(cls)[1:], args, kwargs)
            return module
        if kind == "dataclass":
            return self.instantiate_dataclass(cls, args, kwargs)
        if self.is_enum(cls):  # `Color(1)`: the member with that value
            for member_name in self.enum_members(cls):
                member = self.enum_member(cls, member_name)
                if member is not None and len(args) == 1 and same_value(member.attrs["value"], args[0]):
                    return member
            return Unknown(f"`{cls.name}` has no member of value `{short_value(args[0]) if args else ''}`")
        obj = ObjectValue(cls)
        found, init = self.class_attr(cls, "__init__")
        if found and isinstance(init, FunctionRef):
            self.call_function(init, [obj, *args], kwargs, None)
        return obj

    def instantiate_dataclass(self, cls: ClassRef, args: list[Any], kwargs: dict[str, Any]) -> ObjectValue:
        obj = ObjectValue(cls)
        found, init = self.class_attr(cls, "__init__")
        if found and isinstance(init, FunctionRef):  # a subclass's own `__init__` (torchvision's MBConvConfig)
            self.call_function(init, [obj, *args], kwargs, None)
        elif found and isinstance(init, HookRef) and init.name != GENERATED_INIT:
            init.fn(self, obj, args, kwargs)
        else:  # generated: the fields of `cls` and its bases (transformers makes every config subclass a dataclass)
            self.dataclass_init(cls, obj, args, kwargs)
        return obj

    def dataclass_init(self, cls: ClassRef, obj: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
        """The `__init__` `@dataclass` generates for `cls`: its fields and its bases', in order."""
        if not isinstance(obj, ObjectValue):
            return
        # a field redefined by a subclass keeps its first position, as in `dataclasses`
        memo = class_cache(cls)
        table: dict[str, tuple[ast.AnnAssign, ClassRef, bool]] = memo.get("\0dataclass_fields") or {}
        for klass in reversed(self.mro(cls)) if not table else ():
            if not isinstance(klass, ClassRef):
                continue
            kw_only = any(dataclass_option(d, "kw_only") for d in klass.node.decorator_list)
            for stmt in klass.node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    if "ClassVar" in short(stmt.annotation) or "InitVar" in short(stmt.annotation):
                        continue
                    if short(stmt.annotation).split(".")[-1] == "KW_ONLY":
                        kw_only = True
                        continue
                    table[stmt.target.id] = (stmt, klass, kw_only or field_option(stmt.value, "kw_only"))
        memo["\0dataclass_fields"] = table
        fields = [(name, stmt, klass) for name, (stmt, klass, _) in table.items()]
        positional = [name for name, (stmt, _, kw) in table.items() if not kw and field_option(stmt.value, "init", True)]
        for name, stmt, klass in fields:
            # `self.<field> = value` goes through the class's `attribute_map` (transformers'
            # `num_local_experts` field sets `n_routed_experts`, which a later field sets again)
            key = self.attribute_alias(obj, name) or name
            if stmt.value is not None and not field_option(stmt.value, "init", True):
                obj.attrs[key] = self.field_default(stmt.value, Frame(klass.scope))
            elif name in positional and positional.index(name) < len(args):
                obj.attrs[key] = args[positional.index(name)]
            elif name in kwargs:
                obj.attrs[key] = kwargs[name]
            elif stmt.value is not None:
                frame = Frame(klass.scope)
                obj.attrs[key] = self.field_default(stmt.value, frame) if is_field_call(stmt.value) else self.eval(stmt.value, frame)
            else:
                obj.attrs[key] = Unknown(f"field `{name}` of `{cls.name}` is not given")
        extra = {k: v for k, v in kwargs.items() if k not in {f[0] for f in fields}}
        found, post = self.class_attr(obj.cls or cls, "__post_init__")
        if found and isinstance(post, FunctionRef):
            spec = post.node.args
            self.call_function(post, [obj], extra if spec.kwarg is not None else {}, None)
        elif found and isinstance(post, HookRef):
            post.fn(self, obj, [], extra)

    def field_default(self, call: ast.expr, frame: Frame) -> Any:
        assert isinstance(call, ast.Call)
        for kw in call.keywords:
            if kw.arg == "default":
                return self.eval(kw.value, frame)
            if kw.arg == "default_factory":
                return self.call(self.eval(kw.value, frame), [], {}, None, frame)
        return Unknown("dataclass field without a default")

    def external_init(self, module: ModuleValue, bases: Sequence[Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        """`super().__init__(...)` reaching a library base class."""
        for base in bases:
            if is_unknown(base):
                module.opaque = module.opaque or base.reason
                return
            if not isinstance(base, ExternalRef):
                continue
            qual = base.qualname
            if qual == PRETRAINED_MODEL:  # keeps the config, builds nothing
                pretrained_model_init(self, module, args, kwargs)
                return
            if qual in MODULE_BASES or qual in LIGHTNING_BASES or qual.endswith(".LightningModule"):
                return
            spec = catalog.lookup(qual)
            if spec is None:
                continue
            if spec.is_container:
                module.container = qual.split(".")[-1]
                self.fill_container(module, args, kwargs)
                return
            layer = self.build_layer(spec, args, kwargs)
            module.params.update(layer.params)
            module.buffers.update(layer.buffers)
            module.non_persistent |= layer.non_persistent
            module.children.update(layer.children)
            module.attrs.update(layer.attrs)
            module.unknown_dims.extend(layer.unknown_dims)
            module.spec = spec
            if layer.opaque:
                module.opaque = layer.opaque
            return


_Parameters = tuple[tuple[str, ...], dict[str, ast.expr], tuple[str, ...], str | None, str | None]


def _parameters(spec: ast.arguments) -> _Parameters:
    """(positional names, default expression by name, keyword-only names, `*args` name,
    `**kwargs` name) of a parameter list, kept on its node: a function is called many times."""
    known: _Parameters | None = spec.__dict__.get("_ckptlens_parameters")
    if known is not None:
        return known
    positional = [*spec.posonlyargs, *spec.args]
    defaults: dict[str, ast.expr] = {}
    for param, default in zip(positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True):
        defaults[param.arg] = default
    for param, kw_default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
        if kw_default is not None:
            defaults[param.arg] = kw_default
    known = (
        tuple(p.arg for p in positional),
        defaults,
        tuple(p.arg for p in spec.kwonlyargs),
        spec.vararg.arg if spec.vararg is not None else None,
        spec.kwarg.arg if spec.kwarg is not None else None,
    )
    spec.__dict__["_ckptlens_parameters"] = known
    return known


def _returns_its_instance(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> bool:
    """A `__new__` whose every `return` hands back the instance `super().__new__(cls)` made
    (huggingface_hub's ModelHubMixin, which only records a config on it): `__init__` then builds
    the module as usual. (Attributes it sets before `Module.__init__` cannot be tensors: torch
    refuses them.)"""
    if isinstance(node, ast.Lambda):
        return False
    made: set[str] = set()
    other: set[str] = set()
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.Assign):
            value = stmt.value
            from_super = (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "__new__"
                and isinstance(value.func.value, ast.Call) and isinstance(value.func.value.func, ast.Name)
                and value.func.value.func.id == "super"
            )
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    (made if from_super else other).add(target.id)
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension)):
            other.update(n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name))
        elif isinstance(stmt, ast.withitem) and stmt.optional_vars is not None:
            other.update(n.id for n in ast.walk(stmt.optional_vars) if isinstance(n, ast.Name))
        elif isinstance(stmt, ast.arg):
            other.add(stmt.arg)
    names = made - other
    returns = [s for s in ast.walk(node) if isinstance(s, ast.Return)]
    return bool(returns) and all(isinstance(r.value, ast.Name) and r.value.id in names for r in returns)

