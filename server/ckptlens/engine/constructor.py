"""Constructor values from every place a user keeps them (SPEC section 3), strongest first:

1. `--init KEY=VALUE` (and, in the editor, the arguments written at the load site);
2. `--config PATH`: the config object of a class that takes one, else keyword arguments (its keys
   that name parameters, and all of them for a class taking `**kwargs`);
3. the checkpoint's own record: Lightning `hyper_parameters`, or the top-level dict of the
   checkpoint that best names the constructor's parameters or its config class's fields;
4. `config.json` beside the checkpoint (or in its folder), like `--config`;
5. the `__init__` defaults.

`plan` decides, per value, which source gives it; the prediction builds the model from the plan,
and the plan's `values` say where each value came from. Keys of a config that name nothing are
reported (`unused-config`), never dropped without a word."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ckptlens.engine.messages import ConfigOverridden, UnusedConfig
from ckptlens.engine.model import ConstructorValue
from ckptlens.findings import Finding

if TYPE_CHECKING:
    from ckptlens.engine.interp.runtime import Runtime
    from ckptlens.engine.objects import ClassRef, FunctionRef
    from ckptlens.engine.predict import TargetInfo

INIT = "--init"
HYPER_PARAMETERS = "checkpoint hyper_parameters"
DEFAULT = "default"
NOT_GIVEN = "not given"
BESIDE = "config.json beside the checkpoint"
IN_FOLDER = "config.json in the checkpoint folder"

# Keys a saved config carries about itself, not about the model (transformers, diffusers).
_METADATA_KEYS = frozenset(
    {"architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "auto_map"}
)
# Record names that announce the model's own arguments.
_RECORD_HINTS = frozenset(
    {"args", "config", "cfg", "conf", "hparams", "hyper_parameters", "hyperparameters", "params", "opt", "kwargs"}
)
# Attributes of attrs/pydantic/dataclass declarations (`x = attr.ib(default=3)`).
_FIELD_CALLS = frozenset({"ib", "attrib", "field", "Field"})


def config_label(path: Any) -> str:
    return f"--config {path}" if path else "--config"


def record_label(name: str) -> str:
    return f"checkpoint record `{name}`"


# -- what the signature tells --------------------------------------------------------------


def signature_facts(
    interp: Runtime,
    func: FunctionRef | None,
    is_method: bool,
    config_param: str | None,
    config_class: ClassRef | None,
) -> dict[str, Any]:
    """The extra `TargetInfo` fields: parameter defaults (source text), whether a decorator
    registers the arguments as a config (diffusers' `@register_to_config`), whether the config
    class accepts any key, and what the code reads from an unannotated config parameter."""
    defaults: list[tuple[str, str]] = []
    required: list[str] = []
    registered = False
    reads: tuple[str, ...] = ()
    if func is not None and isinstance(func.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        spec = func.node.args
        positional = [*spec.posonlyargs, *spec.args]
        offset = len(positional) - len(spec.defaults)
        for i, arg in enumerate(positional):
            if is_method and i == 0:
                continue
            if i >= offset:
                defaults.append((arg.arg, _text(spec.defaults[i - offset])))
            else:
                required.append(arg.arg)
        for arg, default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
            if default is not None:
                defaults.append((arg.arg, _text(default)))
            else:
                required.append(arg.arg)
        registered = is_method and registers_config(func.node)
        if config_param is not None and config_class is None:
            reads = _reads_of(func.scope.source.tree, config_param)
    return {
        "defaults": tuple(defaults),
        "required": tuple(required),
        "registered": registered,
        "config_open": config_accepts_any_key(interp, config_class),
        "config_reads": reads,
    }


def _text(node: ast.expr) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - a display string only
        return "…"


def registers_config(node: Any) -> bool:
    """`@register_to_config` on an `__init__` (diffusers' `ConfigMixin`)."""
    for decorator in getattr(node, "decorator_list", ()):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""
        if name == "register_to_config":
            return True
    return False


def register_config(interp: Runtime, receiver: Any, node: Any, frame: Any) -> None:
    """What `@register_to_config` does before `__init__` runs: `self.config` holds every
    parameter's value (given or default), minus the class's `ignore_for_config`."""
    from ckptlens.engine.objects import AttrDict

    spec = node.args
    names = [a.arg for a in [*spec.posonlyargs, *spec.args][1:]] + [a.arg for a in spec.kwonlyargs]
    ignored: set[Any] = set()
    if receiver.cls is not None:
        found, ignore = interp.class_attr(receiver.cls, "ignore_for_config")
        if found and isinstance(ignore, (list, tuple, set)):
            ignored = set(ignore)
    config = AttrDict({n: frame.locals[n] for n in names if n in frame.locals and n not in ignored})
    receiver.attrs["_internal_dict"] = config
    receiver.attrs["config"] = config


def _reads_of(tree: ast.Module, name: str) -> tuple[str, ...]:
    """`cfg.dim`, `cfg["dim"]`, `cfg.get("dim")`, `getattr(cfg, "dim")` anywhere in the file:
    the fields an unannotated config parameter is expected to have."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            found.append(node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name:
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                found.append(node.slice.value)
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2:
                if isinstance(first, ast.Name) and first.id == name and isinstance(node.args[1], ast.Constant):
                    if isinstance(node.args[1].value, str):
                        found.append(node.args[1].value)
            elif (
                isinstance(func, ast.Attribute)
                and func.attr in ("get", "pop", "setdefault")
                and isinstance(func.value, ast.Name)
                and func.value.id == name
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append(first.value)
    return tuple(dict.fromkeys(found))


def config_fields(interp: Runtime, cls: ClassRef) -> tuple[str, ...]:
    """What a config class accepts: annotated fields (dataclass, attrs, NamedTuple, pydantic,
    plain annotations), `attr.ib()`-style fields, and its `__init__` parameters."""
    from ckptlens.engine.objects import ClassRef

    names: list[str] = []
    for klass in interp.mro(cls):
        if not isinstance(klass, ClassRef):
            continue
        for stmt in klass.node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if "ClassVar" not in _text(stmt.annotation):
                    names.append(stmt.target.id)
            elif isinstance(stmt, ast.Assign) and _is_field_call(stmt.value):
                names.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                spec = stmt.args
                names.extend(a.arg for a in [*spec.posonlyargs, *spec.args][1:])
                names.extend(a.arg for a in spec.kwonlyargs)
    return tuple(dict.fromkeys(names))


def _is_field_call(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Call) and _text(node.func).split(".")[-1] in _FIELD_CALLS


def config_accepts_any_key(interp: Runtime, cls: ClassRef | None) -> bool:
    """True unless the config class is known to take only its named fields: a dataclass, a
    class whose `__init__` has no `**kwargs`, a declared class (attrs, NamedTuple, annotations)."""
    from ckptlens.engine.objects import FunctionRef

    if cls is None:
        return True
    try:
        kind, _ = interp.class_kind(cls)
        if kind == "dataclass":
            # unless `__post_init__` takes the extra keys (transformers' PreTrainedConfig keeps
            # them as attributes)
            found, post = interp.class_attr(cls, "__post_init__")
            if not found:
                return False
            return not isinstance(post, FunctionRef) or isinstance(post.node, ast.Lambda) or post.node.args.kwarg is not None
        found, init = interp.class_attr(cls, "__init__")
        if found and isinstance(init, FunctionRef):
            node = init.node
            return isinstance(node, ast.Lambda) or node.args.kwarg is not None
        if found:
            return True  # a library __init__ that is not read
        return not config_fields(interp, cls)
    except Exception:  # noqa: BLE001 - unknown means: accept everything, report nothing
        return True


# -- the config object --------------------------------------------------------------------


def config_object(interp: Runtime, info: TargetInfo, data: dict[str, Any]) -> Any:
    """The config object the class's config parameter receives, built from `data` (interpreter
    values) as the config class would build it, defaults included."""
    return build_config(interp, info.config_class, data)


def build_config(interp: Runtime, cls: ClassRef | None, data: dict[str, Any]) -> Any:
    """A config object of class `cls` built from `data` as the class would build it."""
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.objects import ClassRef, FunctionRef, ObjectValue

    if cls is None:
        return ObjectValue(None, data)
    kind, _ = interp.class_kind(cls)
    if kind == "dataclass":
        return interp.instantiate_dataclass(cls, [], data)
    found, init = interp.class_attr(cls, "__init__")
    if found and isinstance(init, FunctionRef):
        spec = init.node.args
        names = {p.arg for p in [*spec.posonlyargs, *spec.args, *spec.kwonlyargs]}
        accepted = {k: v for k, v in data.items() if k in names or spec.kwarg is not None}
        obj = interp.instantiate(cls, [], accepted)
        if isinstance(obj, ObjectValue):
            for key, value in data.items():
                obj.attrs.setdefault(key, value)
        return obj
    if found or not config_fields(interp, cls):
        return ObjectValue(None, data)
    # declared without an __init__ of its own (attrs, NamedTuple, pydantic, annotations): its
    # annotated fields as a dataclass takes them, then `x = attr.ib(default=...)` fields
    obj = interp.instantiate_dataclass(cls, [], data)
    for klass in reversed(interp.mro(cls)):
        if not isinstance(klass, ClassRef):
            continue
        for stmt in klass.node.body:
            if isinstance(stmt, ast.Assign) and _is_field_call(stmt.value):
                assert isinstance(stmt.value, ast.Call)
                for target in stmt.targets:
                    if not isinstance(target, ast.Name):
                        continue
                    if target.id in data:
                        obj.attrs[target.id] = data[target.id]
                    else:
                        obj.attrs[target.id] = interp.field_default(stmt.value, Frame(klass.scope))
    return obj


# -- the plan -----------------------------------------------------------------------------


@dataclass
class ConstructorPlan:
    """What to build the class with: keyword arguments and the config object's data, each
    value's source, and `unused-config` findings."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] | None = None  # data for the config object (`info.config_param`)
    values: dict[str, ConstructorValue] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    record: str | None = None  # the checkpoint record used, if any


@dataclass
class _Routed:
    """A config mapping split into keyword arguments, a config object and unused keys."""

    kwargs: dict[str, Any]
    config: Mapping[str, Any] | None
    unused: list[str]


def plan(
    info: TargetInfo,
    *,
    init: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    config_source: str = "--config",
    hyper_parameters: Mapping[str, Any] | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
    beside: Mapping[str, Any] | None = None,
    beside_source: str = BESIDE,
    init_source: str = INIT,
) -> ConstructorPlan:
    """SPEC section 3: --init beats --config beats the checkpoint's record beats config.json
    beside it beats the defaults. Keyword values merge key by key; the config object comes whole
    from the strongest source that gives one."""
    out = ConstructorPlan()
    layers: list[tuple[str, dict[str, Any]]] = []  # weakest first: later layers win per key
    configs: list[tuple[str, Mapping[str, Any]]] = []  # strongest first

    if beside:
        beside, beside_source = _section(info, beside, beside_source)
        routed = _route(info, beside)
        if routed.kwargs or routed.config is not None:
            layers.append((beside_source, routed.kwargs))
            unused = [k for k in routed.unused if k not in _METADATA_KEYS]
            if unused:
                out.findings.append(_unused(info, beside_source, unused, used=True))
        if routed.config is not None:
            configs.append((beside_source, routed.config))

    candidates = dict(records or {})
    if hyper_parameters and not info.is_lightning:
        candidates.setdefault("hyper_parameters", dict(hyper_parameters))
    candidates.update(_nested(candidates))
    chosen = _best_record(info, candidates)
    if chosen is not None:
        name, route = chosen
        out.record = name
        record = candidates[name]
        if route == "config":
            configs.insert(0, (record_label(name), record))
        else:
            params = _params(info)
            through = info.has_var_kwargs and not info.registered and "model" in name.lower().split(".")[-1]
            layers.append(
                (record_label(name), {k: v for k, v in record.items() if k in params or (through and not k.startswith("_"))})
            )

    if hyper_parameters and info.is_lightning:
        given = {k: v for k, v in hyper_parameters.items() if k in info.params}
        nested = given.get(info.config_param) if info.config_param else None
        if isinstance(nested, Mapping) and info.config_param and info.config_class is not None:
            given.pop(info.config_param)
            configs.insert(0, (HYPER_PARAMETERS, nested))
        layers.append((HYPER_PARAMETERS, given))

    if config is not None:
        label = config_source
        config, label = _section(info, config, label)
        routed = _route(info, config)
        layers.append((label, routed.kwargs))
        if routed.config is not None:
            configs.insert(0, (label, routed.config))
        if routed.kwargs or routed.config is not None:
            if routed.unused:
                out.findings.append(_unused(info, label, routed.unused, used=True))
        else:
            out.findings.append(_unused(info, label, routed.unused or list(config), used=False))

    given_init = dict(init or {})
    if info.config_param and isinstance(given_init.get(info.config_param), Mapping) and info.config_class is not None:
        configs.insert(0, (init_source, given_init.pop(info.config_param)))
    layers.append((init_source, given_init))

    for label, values in layers:
        for key, value in values.items():
            out.kwargs[key] = value
            out.values[key] = ConstructorValue(value, label)
    if info.config_param and info.config_param not in out.kwargs and configs:
        label, data = configs[0]
        out.config = data
        out.values[info.config_param] = ConstructorValue(dict(data), label)
    if config is not None and info.config_param and any(label == config_source for label, _ in configs):
        winner = out.values.get(info.config_param)
        if winner is not None and winner.source != config_source:
            out.findings.append(
                ConfigOverridden(config_source, info.config_param, winner.source).at(info.origin)
            )
    for name, text in info.defaults:
        if name not in out.values:
            literal, value = _literal(text)
            out.values[name] = ConstructorValue(value, DEFAULT, None if literal else text)
    for name in info.required:
        if name not in out.values:
            out.values[name] = ConstructorValue(None, NOT_GIVEN)
    order = {name: i for i, name in enumerate(info.params)}
    out.values = dict(sorted(out.values.items(), key=lambda kv: order.get(kv[0], len(order))))
    return out


def _params(info: TargetInfo) -> set[str]:
    return {p for p in info.params if p != info.config_param}


def _route(info: TargetInfo, data: Mapping[str, Any]) -> _Routed:
    """A config mapping: the config object of a class that takes one (keys it cannot take but
    that name a parameter become keyword arguments); otherwise keyword arguments: keys that name
    parameters, and every key for a `**kwargs` constructor whose arguments `@register_to_config`
    does not filter (a timm-style factory `def net(pretrained=False, **kwargs)` passes them on).
    Keys starting with `_` describe the file (`_class_name`, `_diffusers_version`)."""
    params = _params(info)
    kwargs: dict[str, Any] = {}
    unused: list[str] = []
    if info.config_param is not None:
        fields = set(info.config_fields)
        for key, value in data.items():
            if key.startswith("_"):
                continue
            if key in params:
                kwargs[key] = value  # `Net(config, num_classes=...)`: given both ways
            elif not info.config_open and key not in fields:
                unused.append(key)
        return _Routed(kwargs, data, unused)
    through_kwargs = info.has_var_kwargs and not info.registered
    data = _timm_config(data)
    for key, value in data.items():
        if key.startswith("_"):
            continue
        if key in params or through_kwargs:
            kwargs[key] = value
        else:
            unused.append(key)
    return _Routed(kwargs, None, unused)


def _section(info: TargetInfo, data: Mapping[str, Any], label: str) -> tuple[Mapping[str, Any], str]:
    """A config none of whose top-level keys names anything, with a section that does (a run
    config `{"model": {...}, "trainer": {...}}`): that section."""
    params = _params(info)
    fields = set(info.config_fields or info.config_reads) if info.config_param else set()
    if any(k in params or k in fields for k in data) or (info.has_var_kwargs and not info.registered):
        return data, label
    if info.config_param is not None and not fields:
        return data, label  # an open config whose fields are unknown takes the mapping as it is
    sections = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, Mapping) and v}
    chosen = _best_record(info, sections)
    if chosen is None:
        return data, label
    return sections[chosen[0]], f"{label} (section `{chosen[0]}`)"


def _timm_config(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """timm's `config.json` (`architecture`, `num_classes`, `model_args`, `pretrained_cfg`, ...):
    the keyword arguments `timm.create_model` builds the model with (`model_args`, and
    `num_classes` through the pretrained config); other mappings as they are."""
    if not isinstance(data.get("architecture"), str) or not ("pretrained_cfg" in data or "model_args" in data):
        return data
    kwargs: dict[str, Any] = {}
    if "num_classes" in data:
        kwargs["num_classes"] = data["num_classes"]
    model_args = data.get("model_args")
    if isinstance(model_args, Mapping):
        kwargs.update(model_args)
    return kwargs


def _nested(records: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """One level down (`cfg.model` of a Hydra-style `{"cfg": {"model": {...}, "optim": {...}}}`)."""
    out: dict[str, Mapping[str, Any]] = {}
    for name, record in records.items():
        if not isinstance(record, Mapping):
            continue
        for key, value in record.items():
            if isinstance(key, str) and isinstance(value, Mapping) and value:
                out.setdefault(f"{name}.{key}", value)
    return out


def _best_record(info: TargetInfo, records: Mapping[str, Mapping[str, Any]]) -> tuple[str, str] | None:
    """The top-level dict of the checkpoint that best names the constructor's parameters
    ("params") or the fields of its config ("config"): most of its keys must name one (or the
    record's name must say it holds the model's arguments); a record that names nothing else
    wins, then the one naming the most."""
    params = _params(info)
    fields = set(info.config_fields or info.config_reads) if info.config_param else set()
    best: tuple[tuple[Any, ...], str, str] | None = None
    for position, (name, record) in enumerate(records.items()):
        if not isinstance(record, Mapping):
            continue
        keys = [k for k in record if isinstance(k, str) and not k.startswith("_")]
        if not keys:
            continue
        hinted = "model" in name.lower() or name.lower() in _RECORD_HINTS or name == info.config_param
        # a `**kwargs` constructor takes a record named for the model whole (`model_kwargs`)
        whole = info.has_var_kwargs and not info.registered and "model" in name.lower().split(".")[-1]
        for route, names in (("config", fields), ("params", params)):
            matched = len(keys) if whole and route == "params" else sum(1 for k in keys if k in names)
            unmatched = len(keys) - matched
            if not matched or (matched < unmatched and not hinted):
                continue
            rank = (unmatched == 0, matched - unmatched, hinted, route == "config", -position)
            if best is None or rank > best[0]:
                best = (rank, name, route)
    return (best[1], best[2]) if best is not None else None


def _unused(info: TargetInfo, source: str, keys: Iterable[str], *, used: bool) -> Finding:
    config_class = info.config_class.name if info.config_param is not None and info.config_class is not None else None
    return UnusedConfig(source, tuple(keys), info.name, config_class, used).at(info.origin)


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None
