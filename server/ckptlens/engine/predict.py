"""From source to the predicted state_dict: build the model tree, then walk it like torch."""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ckptlens.engine.constructor import config_fields, config_object, signature_facts
from ckptlens.engine.interp.interpreter import Interpreter
from ckptlens.engine.interp.library_hooks import PRETRAINED_MODEL
from ckptlens.engine.interp.scope import ModuleScope
from ckptlens.engine.interp.signals import Budget, Raised
from ckptlens.engine.loader import Loader
from ckptlens.engine.messages import PartlyUnknownShapes, UnresolvedPart
from ckptlens.engine.model import (
    ModuleInfo,
    PredictedStateDict,
    PredictedTensor,
    SymbolicContainer,
    UnknownPart,
)
from ckptlens.engine.objects import ClassRef, ExternalRef, FunctionRef, ModuleValue, ObjectValue
from ckptlens.engine.symbolic import symbolic_config_class
from ckptlens.engine.values import Unknown, is_unknown
from ckptlens.findings import Finding, SourceRange


class TargetError(Exception):
    """The class or function to analyse is not there. `str(err)` is one line for the user."""


@dataclass(frozen=True)
class TargetInfo:
    """What the caller needs to know about a class before building it."""

    name: str
    origin: SourceRange
    is_lightning: bool
    params: tuple[str, ...]  # constructor parameters (without self), in order
    has_var_kwargs: bool
    config_param: str | None  # a parameter conventionally holding a config object
    config_class: ClassRef | None  # the class that parameter is annotated with, if resolvable
    config_fields: tuple[str, ...] = ()  # what that config class accepts (fields, __init__ params)
    # engine/constructor.py's `signature_facts`: parameter defaults (source text), parameters
    # without one, a decorator registering the arguments as a config (`@register_to_config`),
    # a config class taking any key, what the code reads from an unannotated config parameter
    defaults: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()
    registered: bool = False
    config_open: bool = True
    config_reads: tuple[str, ...] = ()


def _sole_config_like(node: ast.FunctionDef | ast.AsyncFunctionDef, params: Sequence[ast.arg]) -> bool:
    """hifi-gan's `Generator.__init__(self, h)`: the one parameter, unannotated, without a
    default, used only as a bag of values -- its attributes read one level deep (`h.upsample_rates`),
    or it kept or passed on whole -- is a config object by use, whatever its name, so `--config`
    (or a checkpoint record naming what it reads) gives it whole. Not a parameter used as a module
    or a function: called, a method of it called, an attribute of an attribute read
    (`backbone.fc.in_features`), iterated, returned."""
    spec = node.args
    if len(params) != 1 or params[0].annotation is not None or spec.vararg or spec.kwarg:
        return False
    if spec.defaults or any(d is not None for d in spec.kw_defaults):
        return False
    name = params[0].arg
    parents: dict[int, ast.AST] = {}
    for outer in ast.walk(node):
        for child in ast.iter_child_nodes(outer):
            parents[id(child)] = outer
    reads = 0
    for use in ast.walk(node):
        if not (isinstance(use, ast.Name) and use.id == name):
            continue
        up = parents.get(id(use))
        if isinstance(up, ast.Attribute) and isinstance(up.ctx, ast.Load):
            above = parents.get(id(up))
            if isinstance(above, ast.Attribute) or (isinstance(above, ast.Call) and above.func is up):
                return False
            reads += 1
        elif isinstance(up, ast.Call) and up.func is not use:
            continue  # passed on whole (`ResBlock1(h, ...)`)
        elif isinstance(up, ast.Compare):
            continue  # `h is None`
        elif isinstance(up, ast.Assign) and up.value is use:
            continue  # kept (`self.h = h`), as a config is
        else:
            return False  # stored, called, iterated, returned: not only a bag of values
    return reads > 0


CONFIG_PARAM_NAMES = ("config", "cfg", "conf", "hparams", "args", "opt", "params")


class Analyzer:
    """One analysis session: a loader (with its parse cache) and interpreter settings."""

    def __init__(self, loader: Loader | None = None) -> None:
        self.loader = loader or Loader()

    def _target(self, interp: Interpreter, source: str, name: str) -> tuple[ModuleScope, Any]:
        scope = interp.scope_for(source)
        found, value = scope.lookup(name)
        if not found or is_unknown(value):
            raise TargetError(f"no class or function named `{name}` in {scope.source.path}")
        if not isinstance(value, (ClassRef, FunctionRef)):
            raise TargetError(f"`{name}` in {scope.source.path} is not a class or a function")
        return scope, value

    def module_classes(self, source: str, names: Sequence[str], kinds: Collection[str]) -> list[str]:
        """Those of the top-level classes `names` of `source` whose kind (`class_kind`:
        "module", "lightning", ...) is one of `kinds`; [] when the file cannot be read."""
        interp = Interpreter(self.loader)
        out = []
        try:
            scope = interp.scope_for(source)
            for name in names:
                try:
                    found, value = scope.lookup(name)
                    if found and isinstance(value, ClassRef) and interp.class_kind(value)[0] in kinds:
                        out.append(name)
                except Exception:  # noqa: BLE001 - a class the interpreter cannot read is left out
                    continue
        except Exception:  # noqa: BLE001
            return []
        finally:
            interp.release()
        return out

    def describe(self, source: str, name: str) -> TargetInfo:
        interp = Interpreter(self.loader)
        try:
            return self._describe_safely(interp, source, name)
        finally:
            interp.release()

    def _describe_safely(self, interp: Interpreter, source: str, name: str) -> TargetInfo:
        try:
            return self._describe(interp, source, name)
        except (Budget, Raised, RecursionError):
            # the class exists (found above) but reading its signature ran into trouble
            scope, target = self._target(Interpreter(self.loader), source, name)
            origin = scope.source.name_range(target.node)
            return TargetInfo(name, origin, False, (), True, None, None)

    def _describe(self, interp: Interpreter, source: str, name: str) -> TargetInfo:
        scope, target = self._target(interp, source, name)
        if isinstance(target, ClassRef):
            kind, _ = interp.class_kind(target)
            origin = target.scope.source.name_range(target.node)
            found, init = interp.class_attr(target, "__init__")
            func = init if found and isinstance(init, FunctionRef) else None
            is_lightning = kind == "lightning"
        else:
            origin = scope.source.name_range(target.node)
            func, is_lightning = target, False
        params: tuple[str, ...] = ()
        var_kwargs = False
        config_param = None
        config_class = None
        if func is not None and not isinstance(func.node, ast.Lambda):
            spec = func.node.args
            all_params = [*spec.posonlyargs, *spec.args, *spec.kwonlyargs]
            if isinstance(target, ClassRef):
                all_params = all_params[1:]
            params = tuple(p.arg for p in all_params)
            var_kwargs = spec.kwarg is not None
            for p in all_params:
                annotated = interp.eval(p.annotation, _frame(func)) if p.annotation is not None else None
                if isinstance(annotated, ClassRef) and interp.class_kind(annotated)[0] in ("dataclass", "object"):
                    config_param, config_class = p.arg, annotated
                    break
                if p.arg in CONFIG_PARAM_NAMES and config_param is None:
                    config_param = p.arg
            if config_param is None and _sole_config_like(func.node, all_params):
                config_param = all_params[0].arg
            if config_param is not None and isinstance(target, ClassRef):
                # transformers: `config_class = BertConfig` on the PreTrainedModel subclass
                # transformers declares the concrete config class on the model class (`config_class
                # = BertConfig`, or a class-level annotation `config: LlamaConfig`), more precise
                # than the `config: PreTrainedConfig` annotation of __init__.
                # (PreTrainedModel.__init_subclass__: per class, from the model class up, its own
                # `config_class` attribute, then its own `config:` annotation)
                config_class = _declared_config_class(interp, target, config_param) or config_class
        config_fields = _config_fields(interp, config_class) if config_class is not None else ()
        facts = signature_facts(interp, func, isinstance(target, ClassRef), config_param, config_class)
        return TargetInfo(name, origin, is_lightning, params, var_kwargs, config_param, config_class, config_fields, **facts)

    def predict(
        self,
        source: str,
        name: str,
        init: Mapping[str, Any] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
    ) -> PredictedStateDict:
        interp = Interpreter(self.loader)
        try:
            return self._predict(interp, source, name, init, config)
        finally:
            interp.release()

    def _predict(
        self,
        interp: Interpreter,
        source: str,
        name: str,
        init: Mapping[str, Any] | None,
        config: Mapping[str, Any] | None,
    ) -> PredictedStateDict:
        scope, target = self._target(interp, source, name)
        info = self._describe_safely(interp, source, name)
        kwargs = {k: _from_data(v) for k, v in (init or {}).items()}
        result = _Collected(class_name=name, origin=info.origin)
        root: Any
        try:
            if config is not None and info.config_param is not None and info.config_param not in kwargs:
                kwargs[info.config_param] = self._config_value(interp, info, config)
            symbolic_config_class(interp, kwargs.get(info.config_param or ""), info.config_class)  # issue 15
            if isinstance(target, ClassRef):
                root = interp.instantiate(target, [], kwargs)
            else:
                root = interp.call_function(target, [], kwargs, None)
        except Budget as exc:
            root = Unknown(str(exc))
        except Raised:
            root = Unknown(f"constructing `{name}` raises an exception")
        except RecursionError:
            root = Unknown("the model is nested too deeply to analyse")
        except Exception as exc:  # noqa: BLE001 - an analysis bug must never become a false alarm
            if os.environ.get("CKPTLENS_DEBUG"):
                raise
            root = Unknown(f"internal error while analysing ({type(exc).__name__}: {exc})")
        if isinstance(root, ModuleValue):
            root.origin = info.origin  # the class (or factory) name explains what nothing else does
        if not isinstance(root, ModuleValue):
            reason = root.reason if is_unknown(root) else f"`{name}` does not build an nn.Module"
            result.unknown.append(UnknownPart("", reason, info.origin))
        else:
            _walk(root, "", info.origin, result)
            _transformers_declarations(interp, root, "", result)
            prefix = root.attrs.get("base_model_prefix")
            if isinstance(prefix, str) and prefix:
                result.base_model_prefixes = (prefix,)
            elif root.cls is not None:
                found, value = interp.class_attr(root.cls, "base_model_prefix")
                if found and isinstance(value, str) and value:
                    result.base_model_prefixes = (value,)
        predicted = result.freeze()
        findings = _information(predicted, root if isinstance(root, ModuleValue) else None)
        return replace(predicted, findings=tuple(findings))

    def _config_value(self, interp: Interpreter, info: TargetInfo, config: Mapping[str, Any]) -> Any:
        return config_object(interp, info, {k: _from_data(v) for k, v in config.items()})


def _config_fields(interp: Interpreter, cls: ClassRef) -> tuple[str, ...]:
    return config_fields(interp, cls)


def _declared_config_class(interp: Interpreter, cls: ClassRef, name: str) -> ClassRef | None:
    """The config class a model class declares: the nearest class of its MRO that assigns
    `config_class` or annotates `config` in its own body (the subclass's annotation wins over
    an inherited attribute, as transformers' `__init_subclass__` settles it)."""
    from ckptlens.engine.interp.frame import Frame

    for klass in interp.mro(cls):
        if not isinstance(klass, ClassRef):
            continue
        found, declared = interp.class_attr(klass, "config_class", inherit=False)
        if found and isinstance(declared, ClassRef):
            return declared
        for stmt in klass.node.body:
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name
                    and stmt.value is None):
                value = interp.eval(stmt.annotation, Frame(klass.scope))
                if isinstance(value, ClassRef):
                    return value
    return None


def _frame(func: FunctionRef) -> Any:
    from ckptlens.engine.interp.frame import Frame

    return Frame(func.scope)


def _from_data(value: Any) -> Any:
    """Plain data (JSON, --init literals, checkpoint hyper_parameters) as interpreter values."""
    # an `Opaque` comes only from a checkpoint read: without one the index module (~3 ms to
    # import) is not loaded, and no value can be one
    index = sys.modules.get("ckptlens.checkpoint.index")
    if index is not None and isinstance(value, index.Opaque):
        return Unknown(f"the checkpoint stores `{value.qualname}` here, which is not read")
    if isinstance(value, dict):
        return {k: _from_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_data(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_from_data(v) for v in value)
    return value


@dataclass
class _Collected:
    """A prediction while `_walk` and `_transformers_declarations` fill it in."""

    class_name: str
    origin: SourceRange
    tensors: dict[str, PredictedTensor] = field(default_factory=dict)
    modules: dict[str, ModuleInfo] = field(default_factory=dict)
    unknown: list[UnknownPart] = field(default_factory=list)
    base_model_prefixes: tuple[str, ...] = ()
    tied: dict[str, str] = field(default_factory=dict)
    optional: set[str] = field(default_factory=set)
    ignored_unexpected: tuple[str, ...] = ()
    hf_models: list[tuple[str, str]] = field(default_factory=list)
    open: list[UnknownPart] = field(default_factory=list)
    sym_tensors: dict[str, PredictedTensor] = field(default_factory=dict)
    sym_containers: list[SymbolicContainer] = field(default_factory=list)

    def freeze(self) -> PredictedStateDict:
        return PredictedStateDict(
            class_name=self.class_name,
            origin=self.origin,
            tensors=self.tensors,
            modules=self.modules,
            unknown=tuple(self.unknown),
            base_model_prefixes=self.base_model_prefixes,
            tied=self.tied,
            optional=frozenset(self.optional),
            ignored_unexpected=self.ignored_unexpected,
            hf_models=tuple(self.hf_models),
            open=tuple(self.open),
            sym_tensors=self.sym_tensors,
            sym_containers=tuple(self.sym_containers),
        )


def _walk(
    module: ModuleValue,
    prefix: str,
    inherited: SourceRange,
    out: _Collected,
    seen: dict[int, str] | None = None,
) -> None:
    seen = {} if seen is None else seen  # id(tensor) -> first key: the same tensor twice is a tie
    origin = module.origin or inherited
    out.modules[prefix] = ModuleInfo(prefix, module.type_name, origin)
    if module.opaque is not None:
        if module.quiet:  # checkpoint tensors under it are unverified; nothing is said otherwise
            out.open.append(UnknownPart(prefix, module.opaque, origin))
            return
        out.unknown.append(UnknownPart(prefix, module.opaque, origin))
        if module.sym_items is not None:
            _walk_symbolic(module, prefix, origin, out, seen)
        return
    for table, kind in ((module.params, "parameter"), (module.buffers, "buffer")):
        for name, tensor in table.items():
            if tensor is None or (kind == "buffer" and name in module.non_persistent):
                continue
            key = f"{prefix}.{name}" if prefix else name
            tensor_origin = module.tensor_origins.get(name, origin)
            out.tensors[key] = PredictedTensor(key, tensor.shape, kind, tensor_origin, tensor.dtype)
            first = seen.setdefault(id(tensor), key)
            if first != key:
                out.tied[key] = first
    for name, reason in module.uncertain.items():
        key = f"{prefix}.{name}" if prefix else name
        out.unknown.append(UnknownPart(key, reason, origin))
    if module.open is not None:
        out.open.append(UnknownPart(prefix, module.open, module.open_origin or origin))
    for name, child in module.children.items():
        if child is None:
            continue
        _walk(child, f"{prefix}.{name}" if prefix else name, origin, out, seen)


def _walk_symbolic(module: ModuleValue, prefix: str, origin: SourceRange, out: _Collected, seen: dict[int, str]) -> None:
    """A container of symbolic length: its fixed items and its first iteration's, as they
    would sit in the state_dict, kept apart (`sym_tensors`) for the inference."""
    items = module.sym_items
    children = [*items.head, *items.one]
    inner = _Collected(class_name=out.class_name, origin=out.origin)
    complete = True
    for i, child in enumerate(children):
        if not isinstance(child, ModuleValue):
            return
        before = len(inner.tensors) + len(inner.sym_tensors)
        _walk(child, f"{prefix}.{i}" if prefix else str(i), origin, inner, dict(seen))
        if len(inner.tensors) + len(inner.sym_tensors) == before:
            complete = False
    out.sym_tensors.update(inner.tensors)
    out.sym_tensors.update(inner.sym_tensors)
    out.sym_containers.append(SymbolicContainer(prefix, len(items.head), len(items.one), items.count, complete))
    out.sym_containers.extend(inner.sym_containers)


def _transformers_declarations(interp: Interpreter, module: ModuleValue, prefix: str, out: _Collected) -> None:
    """What transformers' loader knows beyond the modules: `_tied_weights_keys` (tied by
    `post_init()` when the config says `tie_word_embeddings`), keys it accepts as missing or
    drops as unexpected, and which submodules are PreTrainedModels."""
    if module.opaque is not None:
        return
    if module.cls is not None:
        if any(isinstance(k, ExternalRef) and k.qualname == PRETRAINED_MODEL for k in interp.mro(module.cls)):
            out.hf_models.append((prefix, module.cls.name))

        def declared(name: str) -> Any:
            if name in module.attrs:  # set per instance in __init__ (Marian does)
                return module.attrs[name]
            found, value = interp.class_attr(module.cls, name)  # type: ignore[arg-type]
            return value if found else None

        def full(key: str) -> str:
            return f"{prefix}.{key}" if prefix else key

        config = module.attrs.get("config")
        tie = interp.getattr(config, "tie_word_embeddings") if isinstance(config, ObjectValue) else True
        ties = declared("_tied_weights_keys")
        if isinstance(ties, dict) and tie is True:
            for target, source in ties.items():
                if isinstance(target, str) and isinstance(source, str):
                    if full(target) in out.tensors and full(source) in out.tensors:
                        out.tied.setdefault(full(target), full(source))
        for name in ("_keys_to_ignore_on_load_missing", "_keys_to_ignore_on_save"):
            for pattern in _patterns(declared(name)):
                for key in out.tensors:
                    if (not prefix or key.startswith(prefix + ".")) and pattern.search(key[len(prefix) + 1 if prefix else 0 :]):
                        out.optional.add(key)
        unexpected = [p.pattern for p in _patterns(declared("_keys_to_ignore_on_load_unexpected"))]
        if unexpected:
            scope = re.escape(prefix + ".") if prefix else ""
            out.ignored_unexpected += tuple(f"^{scope}.*?(?:{p})" if scope else p for p in unexpected)
    for name, child in module.children.items():
        if child is not None:
            _transformers_declarations(interp, child, f"{prefix}.{name}" if prefix else name, out)


def _patterns(value: Any) -> list[re.Pattern[str]]:
    out = []
    for item in value if isinstance(value, (list, tuple, set)) else []:
        if isinstance(item, str):
            try:
                out.append(re.compile(item))
            except re.error:
                continue
    return out


def _information(result: PredictedStateDict, root: ModuleValue | None = None) -> list[Finding]:
    """One `information` finding per unresolved part, and one per distinct reason some dims
    are unknown (a single unknown argument often reaches dozens of layers)."""
    quiet = {p for p, m in _members(root, "") if m.quiet} if root is not None else set()
    said = [(part, False) for part in result.unknown]
    said += [(part, True) for part in result.open if part.prefix not in quiet]
    findings = [
        UnresolvedPart(part.prefix, result.class_name, part.reason, is_open).at(part.origin)
        for part, is_open in said
    ]
    by_reason: dict[str, list[str]] = {}
    if root is not None:
        for prefix, module in _modules(root, ""):
            for reason in module.unknown_dims:
                by_reason.setdefault(reason, []).append(prefix)
    explained: set[str] = set()
    for reason, prefixes in by_reason.items():
        keys = [k for k in _partly_unknown(result) if any(_under(k, p) for p in prefixes)]
        if not keys:
            continue
        explained.update(keys)
        first = result.tensors[keys[0]]
        findings.append(PartlyUnknownShapes(tuple(keys), reason).at(first.origin))
    rest = [k for k in _partly_unknown(result) if k not in explained]
    if rest:
        findings.append(PartlyUnknownShapes(tuple(rest), None).at(result.tensors[rest[0]].origin))
    return findings


def _partly_unknown(result: PredictedStateDict) -> list[str]:
    return [k for k, t in result.tensors.items() if t.shape is None or any(d is None for d in t.shape)]


def _under(key: str, prefix: str) -> bool:
    return not prefix or key.startswith(prefix + ".")


def _members(module: ModuleValue, prefix: str) -> list[tuple[str, ModuleValue]]:
    """Every module of the tree by its prefix, unknown ones included (not below them)."""
    out = [(prefix, module)]
    if module.opaque is None:
        for name, child in module.children.items():
            if child is not None:
                out.extend(_members(child, f"{prefix}.{name}" if prefix else name))
    return out


def _modules(module: ModuleValue, prefix: str) -> list[tuple[str, ModuleValue]]:
    out = [(prefix, module)]
    for name, child in module.children.items():
        if child is not None and child.opaque is None:
            out.extend(_modules(child, f"{prefix}.{name}" if prefix else name))
    return out
