"""Library code whose behaviour is built in rather than interpreted from its source.

The modeling files of transformers are read from source like user code; a few pieces of its
machinery are not: they do bookkeeping (hub metadata, validation, attention back-ends) that
holds no tensors and would only cost time or turn into unknowns.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ckptlens.engine import reads
from ckptlens.engine.class_facts import property_setter
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.signals import Raised
from ckptlens.engine.objects import ExternalRef, HookRef, ModuleValue, ObjectValue
from ckptlens.engine.symbolic import settle_attention
from ckptlens.engine.values import Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.runtime import Runtime


def pretrained_model_init(interp: Runtime, receiver: ModuleValue, args: list[Any], kwargs: dict[str, Any]) -> None:
    """PreTrainedModel.__init__: keeps the config, and settles the attention implementation the
    way transformers does when none was asked for (sdpa where the class supports it)."""
    config = args[0] if args else kwargs.get("config", Unknown("no config given"))
    receiver.attrs["config"] = config
    if isinstance(config, ObjectValue) and config.attrs.get(AUTO_ATTENTION) is True and receiver.cls is not None:
        found, sdpa = interp.class_attr(receiver.cls, "_supports_sdpa")
        config.attrs["_attn_implementation_internal"] = "sdpa" if found and sdpa is True else "eager"
    settle_attention(interp, receiver, config)  # issue 15: a config nobody gave, the same way


AUTO_ATTENTION = "__ckptlens_attention_autoset__"


def _from_config(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`SomeModel._from_config(config)` (and `from_config`): the class built with that config."""
    from ckptlens.engine.objects import ClassRef

    if not isinstance(receiver, ClassRef):
        return Unknown("`_from_config` of an unknown class", True)
    config = args[0] if args else kwargs.get("config", Unknown("no config given"))
    return interp.instantiate(receiver, [config], _model_kwargs(kwargs))


# what `from_config`/`_from_config` take for themselves; the rest reaches the model's __init__
# (`AutoModel.from_config(cfg, remove_vision_encoder=True)`)
_LOADING_KWARGS = frozenset(
    {"config", "torch_dtype", "dtype", "attn_implementation", "trust_remote_code", "device_map", "code_revision"}
)


def _model_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in _LOADING_KWARGS}


def _auto_from_config(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`AutoModel.from_config(config)`: the class the auto mapping names for the config's
    `model_type`, built with that config (composite models build their towers this way)."""
    from ckptlens.engine.objects import ClassRef, ModuleNamespace
    from ckptlens.engine.symbolic import config_model_type

    config = args[0] if args else kwargs.get("config")
    assumed = config_model_type(interp, config)  # issue 15: a config nobody gave
    if not isinstance(receiver, ClassRef) or not (isinstance(config, ObjectValue) or assumed):
        return Unknown("`from_config` of an unknown config", True)
    lazy = interp.getattr(receiver, "_model_mapping")
    mapping = interp.getattr(lazy, "_model_mapping")
    model_type = assumed
    if model_type is None and isinstance(config, ObjectValue):
        model_type = _model_type_of_config_class(config, interp.getattr(lazy, "_config_mapping"), mapping)
    if model_type is None:  # a config class the auto mapping does not name
        model_type = interp.getattr(config, "model_type")
    if not isinstance(model_type, str) or not isinstance(mapping, dict) or model_type not in mapping:
        return Unknown(f"no `{receiver.name}` class is known for model type `{model_type}`", True)
    names = mapping[model_type]
    name = names[0] if isinstance(names, (list, tuple)) and names else names
    package = interp.import_module("transformers", receiver.scope.source.path, 0)
    if not isinstance(package, ModuleNamespace) or not isinstance(name, str):
        return Unknown("transformers cannot be found", True)
    found, cls = package.scope.lookup(name)
    if not found or not isinstance(cls, ClassRef):
        return Unknown(f"`{name}` cannot be resolved", True)
    return interp.instantiate(cls, [config], _model_kwargs(kwargs))


# what `from_pretrained` takes for itself; any other keyword sets the config attribute of that
# name, or reaches the model's __init__ when the config has no such attribute
_PRETRAINED_KWARGS = _LOADING_KWARGS | frozenset({
    "cache_dir", "force_download", "local_files_only", "token", "use_auth_token", "revision",
    "subfolder", "use_safetensors", "weights_only", "ignore_mismatched_sizes", "output_loading_info",
    "state_dict", "low_cpu_mem_usage", "offload_folder", "offload_state_dict", "offload_buffers",
    "max_memory", "variant", "quantization_config", "key_mapping", "tp_plan", "tp_size",
    "device_mesh", "adapter_name", "adapter_kwargs", "from_tf", "from_flax", "proxies",
    "resume_download", "mirror", "gguf_file", "generation_config", "use_kernels", "kernel_config",
    "distributed_config", "_from_auto", "_commit_hash",
})


def _pretrained_config(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """The config `from_pretrained(name_or_path)` builds: from the model's config.json on this
    machine (a local folder, or the Hugging Face cache), never the network."""
    from ckptlens.engine.constructor import build_config
    from ckptlens.engine.objects import ClassRef
    from ckptlens.engine.pretrained_files import pretrained_config

    if isinstance(kwargs.get("config"), ObjectValue):  # `config=` given: the file is not read
        return kwargs["config"], {k: v for k, v in kwargs.items() if k not in _PRETRAINED_KWARGS}
    name = args[0] if args else kwargs.get("pretrained_model_name_or_path")
    subfolder, revision = kwargs.get("subfolder", ""), kwargs.get("revision")
    if not isinstance(name, str) or not isinstance(subfolder, str) or not isinstance(revision, (str, type(None))):
        return Unknown("`from_pretrained` of a model whose name is unknown", True)
    # a relative folder is taken from the user's file that builds this part (the line the
    # analysis is at), as the program is most often run from there
    anchor = interp.anchor()
    source = anchor.file if anchor is not None else receiver.scope.source.path if isinstance(receiver, ClassRef) else ""
    data, where = pretrained_config(name, source, subfolder, revision)
    if data is None:
        return Unknown(f"`from_pretrained({name!r})`: its config.json is not on this machine ({where})", True)
    model_type = data.get("model_type")
    found, cls = interp.class_attr(receiver, "config_class") if isinstance(receiver, ClassRef) else (False, None)
    if not found or not isinstance(cls, ClassRef):
        scope = interp.scopes.get(interp.config_auto_path()) if interp.config_auto_path() else None
        if scope is None:
            interp.import_module("transformers.models.auto.configuration_auto", source, 0)
            scope = interp.scopes.get(interp.config_auto_path())
        cls = ConfigMappingTable().lookup(interp, scope, model_type) if scope is not None else None
    if not isinstance(cls, ClassRef):
        return Unknown(f"`from_pretrained({name!r})`: no config class is known for model type `{model_type}`", True)
    config = build_config(interp, cls, dict(data))
    model_kwargs: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _PRETRAINED_KWARGS or key == "pretrained_model_name_or_path":
            continue
        # transformers: a keyword naming a config attribute (or property: `num_labels`) sets it
        known = isinstance(config, ObjectValue) and (
            key in config.attrs or (config.cls is not None and interp.class_attr(config.cls, key)[0])
        )
        if known:
            interp.setattr(config, key, value, interp.anchor())
        else:
            model_kwargs[key] = value
    return config, model_kwargs


def _auto_from_pretrained(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`AutoModel.from_pretrained(name)`: as `from_config` with the config its config.json
    builds (or the `config=` given)."""
    built = _pretrained_config(interp, receiver, args, kwargs)
    if is_unknown(built):
        return built
    config, model_kwargs = built
    return _auto_from_config(interp, receiver, [config], model_kwargs)


def _model_from_pretrained(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`BertModel.from_pretrained(name)`: the class built with the config its config.json
    builds (or the `config=` given)."""
    from ckptlens.engine.objects import ClassRef

    if not isinstance(receiver, ClassRef):
        return Unknown("`from_pretrained` of an unknown class", True)
    built = _pretrained_config(interp, receiver, args, kwargs)
    if is_unknown(built):
        return built
    config, model_kwargs = built
    return interp.instantiate(receiver, [config], model_kwargs)


def _config_from_pretrained(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`AutoConfig.from_pretrained(name)`, `BertConfig.from_pretrained(name)`: its config.json."""
    built = _pretrained_config(interp, receiver, args, kwargs)
    return built if is_unknown(built) else built[0]


def _model_type_of_config_class(config: ObjectValue, config_mapping: Any, model_mapping: Any) -> str | None:
    """The model type transformers' `_LazyAutoMapping[type(config)]` picks: found by the config
    *class*'s name (its `model_type` attribute may be another's: a sub-config built from
    `Parent(**parent.to_dict())` keeps the parent's `model_type` key as an attribute)."""
    if config.cls is None or not isinstance(config_mapping, dict) or not isinstance(model_mapping, dict):
        return None
    name = config.cls.name
    reverse = {v: k for k, v in config_mapping.items()}  # the last model type of a class wins
    if name in reverse and reverse[name] in model_mapping:
        return str(reverse[name])
    # several model types share the class: the first with a model class
    return next((str(k) for k, v in config_mapping.items() if v == name and k in model_mapping), None)


def _no_op(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return None


def _config_post_init(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """PreTrainedConfig.__post_init__: keeps the extra keyword arguments as attributes and
    derives the label maps (`num_labels` reads `len(id2label)`)."""
    if not isinstance(receiver, ObjectValue):
        return None
    num_labels = kwargs.pop("num_labels", None)
    # what PreTrainedModel.__init__ settles on for torch 2.x on a CPU: it selects classes in
    # some modeling files (`FALCON_ATTENTION_CLASSES[config._attn_implementation]`)
    attn = kwargs.pop("attn_implementation", kwargs.pop("_attn_implementation", None))
    if isinstance(attn, str):
        receiver.attrs["_attn_implementation_internal"] = attn
    else:  # PreTrainedModel.__init__ picks it, from what the model class supports
        receiver.attrs.setdefault("_attn_implementation_internal", "sdpa")
        receiver.attrs[AUTO_ATTENTION] = True
    through_setters = []
    for key, value in kwargs.items():
        if receiver.cls is not None and property_setter(interp, receiver.cls, key) is not None:
            through_setters.append((key, value))  # `per_layer_config`: its setter runs, last
            continue
        receiver.attrs[interp.attribute_alias(receiver, key) or key] = value
    for key, value in through_setters:
        interp.setattr(receiver, key, value, None)
    if receiver.attrs.get("id2label") is None:
        count = num_labels if isinstance(num_labels, int) and not isinstance(num_labels, bool) else 2
        if is_unknown(num_labels):
            receiver.attrs["id2label"] = Unknown("`num_labels` is unknown")
        else:
            receiver.attrs["id2label"] = {i: f"LABEL_{i}" for i in range(count)}
    elif isinstance(receiver.attrs.get("id2label"), dict):
        receiver.attrs["id2label"] = {int(k) if isinstance(k, str) and k.isdigit() else k: v
                                      for k, v in receiver.attrs["id2label"].items()}
    return None


class ActivationTable:
    """transformers' `ACT2FN`: indexing it builds an activation module, which owns no tensors."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def __getitem__(self, key: Any) -> ModuleValue:
        return ModuleValue(type_name=f"transformers.activations.{key}")

    def build(self, interp: Runtime, key: Any) -> Any:
        """`ACT2FN[key]`: most activations own no tensors; `prelu` is `nn.PReLU()` (a weight)
        and `xielu` is `XIELUActivation` (two parameters, two buffers)."""
        if key in ACTIVATIONS_WITH_TENSORS:
            return interp.call(ExternalRef(ACTIVATIONS_WITH_TENSORS[key]), [], {}, None, None)
        if key == "xielu":
            return Unknown("`ACT2FN['xielu']` (XIELUActivation, which holds tensors) is not modelled", maybe_module=True)
        if not isinstance(key, str):
            return _unknown_activation(key)
        return self[key]


ACTIVATIONS_WITH_TENSORS = {"prelu": "torch.nn.PReLU"}


class ConfigMappingTable:
    """transformers' `CONFIG_MAPPING`: `CONFIG_MAPPING["llama"]` is the config class of that model
    type, found through `CONFIG_MAPPING_NAMES` and the package's exports (never imported)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def contains(self, scope: Any, key: Any) -> bool | None:
        """`model_type in CONFIG_MAPPING` (`AutoConfig.for_model`): None when unknown."""
        found, names = scope.lookup("CONFIG_MAPPING_NAMES")
        if not found or not isinstance(names, dict) or not isinstance(key, str):
            return None
        return key in names

    def lookup(self, interp: Runtime, scope: Any, key: Any) -> Any:
        from ckptlens.engine.objects import ClassRef, ModuleNamespace

        found, names = scope.lookup("CONFIG_MAPPING_NAMES")
        if not found or not isinstance(names, dict) or not isinstance(key, str) or key not in names:
            return Unknown(f"no config class is known for model type `{key}`")
        package = interp.import_module("transformers", scope.source.path, 0)
        if not isinstance(package, ModuleNamespace):
            return Unknown("transformers cannot be found")
        found, cls = package.scope.lookup(str(names[key]))
        return cls if found and isinstance(cls, ClassRef) else Unknown(f"`{names[key]}` cannot be resolved")


def _get_activation(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    key = args[0] if args else kwargs.get("activation_string")
    if not isinstance(key, str) or key in ACTIVATIONS_WITH_TENSORS or key == "xielu":
        return ActivationTable().build(interp, key)
    return ModuleValue(type_name="transformers.activations.activation")


def _unknown_activation(key: Any) -> Unknown:
    """An activation whose name is not known may be one that holds tensors (`prelu`, `xielu`):
    its keys are unknown, never assumed absent."""
    why = key.reason if isinstance(key, Unknown) else f"`{type(key).__name__}`"
    return Unknown(f"the activation's name is unknown ({why}); `prelu` and `xielu` hold tensors", maybe_module=True)


METHOD_HOOKS: dict[str, HookRef] = {
    "transformers.models.auto.auto_factory._BaseAutoModelClass.from_config": HookRef(
        "from_config", _auto_from_config, "classmethod"
    ),
    "transformers.models.auto.auto_factory._BaseAutoModelClass.from_pretrained": HookRef(
        "from_pretrained", _auto_from_pretrained, "classmethod"
    ),
    "transformers.models.auto.configuration_auto.AutoConfig.from_pretrained": HookRef(
        "from_pretrained", _config_from_pretrained, "classmethod"
    ),
    "transformers.configuration_utils.PreTrainedConfig.from_pretrained": HookRef(
        "from_pretrained", _config_from_pretrained, "classmethod"
    ),
    "transformers.configuration_utils.PreTrainedConfig.__post_init__": HookRef("__post_init__", _config_post_init),
    "transformers.configuration_utils.PreTrainedConfig.validate_architecture": HookRef("validate", _no_op),
}

# Library classes known by name instead of by source: importing them never parses their
# (large) modules. PreTrainedModel's __init__ only keeps the config; GenerationMixin adds no
# submodules.
PRETRAINED_MODEL = "transformers.PreTrainedModel"
IMPORT_HOOKS: dict[str, ExternalRef] = {
    "transformers.PreTrainedModel": ExternalRef(PRETRAINED_MODEL),
    "transformers.modeling_utils.PreTrainedModel": ExternalRef(PRETRAINED_MODEL),
    "transformers.GenerationMixin": ExternalRef("transformers.GenerationMixin"),
    "transformers.generation.GenerationMixin": ExternalRef("transformers.GenerationMixin"),
    "transformers.generation.utils.GenerationMixin": ExternalRef("transformers.GenerationMixin"),
}

# Classmethods of the (symbolic) PreTrainedModel that modeling files call on their own classes.
PRETRAINED_CLASSMETHODS: dict[str, HookRef] = {
    "_from_config": HookRef("_from_config", _from_config, "classmethod"),
    "from_config": HookRef("from_config", _from_config, "classmethod"),
    "from_pretrained": HookRef("from_pretrained", _model_from_pretrained, "classmethod"),
}

def _timm_cfg_literal(scope: Any) -> Any:
    """The `default_cfgs` dict literal of a timm model file, as `(key, value expression)` pairs
    (`default_cfgs = generate_default_cfgs({...})`, or a literal first and the call after), and
    the top-level statements that change it in between (vision_transformer adds its QuickGELU
    variants in a loop). None when the file does not define one; Unknown when it builds it in
    some other way."""
    import ast

    literal: list[tuple[str, Any]] | None = None
    changes: list[ast.stmt] = []
    done = False
    for stmt in scope.source.tree.body:
        names = [t.id for t in stmt.targets if isinstance(t, ast.Name)] if isinstance(stmt, ast.Assign) else []
        if "default_cfgs" not in names:
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and re.search(r"\bdefault_cfgs\b", ast.unparse(stmt)):
                if literal is None or done:
                    return Unknown("timm's `default_cfgs` is changed after it is built")
                changes.append(stmt)
            continue
        value = stmt.value
        if isinstance(value, ast.Call) and value.args and ast.unparse(value.func).endswith("generate_default_cfgs"):
            value = value.args[0]
            if isinstance(value, ast.Name) and value.id == "default_cfgs" and literal is not None:
                done = True
                continue
        if literal is not None:
            return Unknown("timm's `default_cfgs` is built twice")
        if isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys):
            literal = [(k.value, v) for k, v in zip(value.keys, value.values, strict=True)]  # type: ignore[union-attr]
        else:  # a comprehension (deepseek_vit): evaluated as a whole
            literal = [("", value)]
        done = isinstance(stmt.value, ast.Call)
    if literal is None:
        return None
    return literal, changes


def _timm_cfg_entries(interp: Runtime, scope: Any, variant: str) -> Any:
    """`(tag, cfg dict)` of `variant` in the model file's `default_cfgs`, in order, or Unknown."""
    parsed = _timm_cfg_literal(scope)
    if parsed is None or is_unknown(parsed):
        return [] if parsed is None else parsed
    literal, changes = parsed
    frame = Frame(scope)
    whole = len(literal) == 1 and literal[0][0] == ""
    if not changes and not whole:
        return [(key, interp.eval(expr, frame)) for key, expr in literal if key.partition(".")[0] == variant]
    table = interp.eval(literal[0][1], frame) if whole else {key: interp.eval(expr, frame) for key, expr in literal}
    if not isinstance(table, dict):
        return Unknown("timm's `default_cfgs` is unknown")
    frame.locals["default_cfgs"] = table
    try:
        interp.exec_block(changes, frame)
    except Raised:
        return Unknown("timm's `default_cfgs` cannot be built")
    changed = frame.locals.get("default_cfgs")
    if not isinstance(changed, dict) or not all(isinstance(k, str) for k in changed):
        return Unknown("timm's `default_cfgs` is unknown")
    return [(key, cfg) for key, cfg in changed.items() if key.partition(".")[0] == variant]


def _timm_resolve_pretrained_cfg(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """timm's `resolve_pretrained_cfg(variant)`: the variant's default pretrained cfg, as the
    registry holds it once `@register_model` has read the model file's `default_cfgs` (the
    first tag with weights, unless an untagged or `*` tag claims the default). Its
    `num_classes`, `in_chans` and `input_size` become the model's default arguments."""
    from ckptlens.engine.objects import ClassRef

    variant = args[0] if args else kwargs.get("variant")
    given = args[1] if len(args) > 1 else kwargs.get("pretrained_cfg")
    overlay = args[2] if len(args) > 2 else kwargs.get("pretrained_cfg_overlay")
    builder = next((sc for sc in interp.scopes.values() if sc.name == "timm.models._builder"), None)
    found, cfg_class = builder.lookup("PretrainedCfg") if builder is not None else (False, None)
    if not found or not isinstance(cfg_class, ClassRef):
        return Unknown("timm's PretrainedCfg cannot be found")
    if isinstance(given, ObjectValue) and given.cls is cfg_class and overlay in (None, {}):
        # resolved once already (and handed on to build_model_with_cfg)
        return ObjectValue(cfg_class, dict(given.attrs))
    if not isinstance(variant, str) or given not in (None, "", {}) or overlay not in (None, {}):
        return Unknown("timm's pretrained cfg of this variant is not resolved", False)
    homes = [
        sc for sc in interp.scopes.values()
        if sc.name.startswith("timm.models.") and any(isinstance(st, ast_function()) for st in sc.defs.get(variant, []))
    ]
    if len(homes) != 1:
        return Unknown(f"the timm model file defining `{variant}` is not known")
    entries = _timm_cfg_entries(interp, homes[0], variant)
    if is_unknown(entries):
        return entries
    tags: list[tuple[str, Any]] = []
    default_set = False
    pretrained = False
    for key, cfg in entries:
        tag = key.partition(".")[2]
        if not isinstance(cfg, dict):
            return Unknown(f"timm's pretrained cfg `{key}` is unknown")
        sources = [cfg.get(k) for k in ("url", "file", "hf_hub_id")]
        if any(is_unknown(v) for v in sources):
            return Unknown(f"whether timm's pretrained cfg `{key}` has weights is unknown")
        has_weights = any(bool(v) for v in sources)
        priority = (has_weights and not tag) or (tag.endswith("*") and not default_set)
        if priority:
            tags.insert(0, (tag, cfg))
            default_set = True
        elif has_weights and not pretrained:
            tags.insert(0, (tag, cfg))
        else:
            tags.append((tag, cfg))
        pretrained = pretrained or has_weights
    default_tag, chosen = tags[0] if tags else ("", {})
    if not isinstance(chosen, dict) or not all(isinstance(k, str) for k in chosen):
        return Unknown("timm's pretrained cfg is unknown")
    result = interp.instantiate_dataclass(cfg_class, [], dict(chosen))
    if tags:  # what @register_model records: the architecture, the tag, the full hub id
        default_tag = default_tag.strip("*")
        result.attrs["architecture"] = variant
        result.attrs["tag"] = default_tag or None
        if result.attrs.get("hf_hub_id") == "timm/":
            result.attrs["hf_hub_id"] = f"timm/{variant}.{default_tag}" if default_tag else f"timm/{variant}"
    elif result.attrs.get("architecture") is None:
        result.attrs["architecture"] = variant
    return result


def ast_function() -> tuple[type, ...]:
    import ast

    return (ast.FunctionDef, ast.AsyncFunctionDef)


def _package_check(module: str, always_version: bool) -> HookRef:
    """transformers' and diffusers' `_is_package_available(name)`: a package the analysis cannot
    find where it finds the library itself is not installed there: `(False, ...)`. An installed
    one may still fail the library's own version checks: unknown."""

    def check(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        name = args[0] if args else kwargs.get("pkg_name")
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            return Unknown("`_is_package_available` of an unknown package")
        here = next((path for path, scope in interp.scopes.items() if scope.name == module), None)
        if here is None or interp.loader.find_module(name, here) is not None:
            return Unknown(f"whether `{name}` passes the library's checks is not known")
        with_version = always_version or (args[1] if len(args) > 1 else kwargs.get("return_version")) is True
        return (False, "N/A") if with_version else (False, None)

    return HookRef("_is_package_available", check)


_TIMM_ENTRYPOINTS: dict[str, dict[str, str]] = {}  # timm/models directory -> builder name -> module


def _python_files(models_dir: str) -> list[str]:
    import os

    try:
        return [e for e in sorted(os.listdir(models_dir)) if e.endswith(".py") and not e.startswith("__")]
    except OSError:
        return []


def _timm_entrypoints(models_dir: str) -> dict[str, str]:
    """Every `@register_model` builder of timm's model modules, by name (read as text, once)."""
    import os

    reads.note(models_dir)  # the result cache: every file read here is a dependency
    if reads.recording_active():
        for entry in _python_files(models_dir):
            reads.note(os.path.join(models_dir, entry))
    if models_dir not in _TIMM_ENTRYPOINTS:
        found: dict[str, str] = {}
        pattern = re.compile(r"^@register_model\s*\n(?:@.*\n)*def (\w+)\(", re.MULTILINE)
        for entry in _python_files(models_dir):
            try:
                with open(os.path.join(models_dir, entry), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            for name in pattern.findall(text):
                found.setdefault(name, entry[:-3])
        _TIMM_ENTRYPOINTS[models_dir] = found
    return _TIMM_ENTRYPOINTS[models_dir]


def _timm_builder(interp: Runtime, name: Any) -> Any:
    """timm's `_model_entrypoints[name]`, filled by `@register_model` when every model module
    is imported: the builder function of that name, or Unknown."""
    import os

    from ckptlens.engine.objects import FunctionRef, ModuleNamespace

    if not isinstance(name, str):
        return Unknown("a timm model of an unknown name")
    here = next((path for path, scope in interp.scopes.items() if scope.name == "timm.models._registry"), None)
    if here is None:
        return Unknown("timm's model registry cannot be found")
    arch = name.split(".", 1)[0]  # `get_arch_name`: the pretrained tag goes
    module = _timm_entrypoints(os.path.dirname(here)).get(arch)
    if module is None:
        return Unknown(f"no timm model is registered as `{arch}`")
    namespace = interp.import_module(f"timm.models.{module}", here, 0)
    if not isinstance(namespace, ModuleNamespace):
        return Unknown(f"timm.models.{module} cannot be read")
    found, builder = namespace.scope.lookup(arch)
    return builder if found and isinstance(builder, FunctionRef) else Unknown(f"`{arch}` cannot be resolved")


def _timm_model_entrypoint(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return _timm_builder(interp, args[0] if args else kwargs.get("model_name"))


def _timm_is_model(interp: Runtime, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    builder = _timm_builder(interp, args[0] if args else kwargs.get("model_name"))
    return True if not is_unknown(builder) else Unknown(builder.reason)


GLOBAL_HOOKS: dict[str, Any] = {
    "timm.models._registry.model_entrypoint": HookRef("model_entrypoint", _timm_model_entrypoint),
    "timm.models._registry.is_model": HookRef("is_model", _timm_is_model),
    "transformers.utils.import_utils._is_package_available": _package_check("transformers.utils.import_utils", False),
    "diffusers.utils.import_utils._is_package_available": _package_check("diffusers.utils.import_utils", True),
    "timm.models._builder.resolve_pretrained_cfg": HookRef("resolve_pretrained_cfg", _timm_resolve_pretrained_cfg),
    "transformers.models.auto.configuration_auto.CONFIG_MAPPING": ConfigMappingTable(),
    "transformers.activations.ACT2FN": ActivationTable(),
    "transformers.activations.get_activation": HookRef("get_activation", _get_activation),
    # forward hooks that record outputs (BackboneMixin.post_init installs them): walking every
    # submodule for them owns no tensors and cost whole seconds (RT-DETR, DETR backbones)
    **{
        f"transformers.utils.output_capturing.{name}": HookRef(name, _no_op)
        for name in ("install_all_output_capturing_hooks", "maybe_install_capturing_hooks", "recursively_install_hooks")
    },
}
