"""Library code whose behaviour is built in rather than interpreted from its source.

The modeling files of transformers are read from source like user code; a few pieces of its
machinery are not: they do bookkeeping (hub metadata, validation, attention back-ends) that
holds no tensors and would only cost time or turn into unknowns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ckptlens.engine.objects import ExternalRef, HookRef, ModuleValue, ObjectValue
from ckptlens.engine.values import Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp import Interpreter


def _pretrained_model_init(interp: Interpreter, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if isinstance(receiver, ModuleValue):
        receiver.attrs["config"] = args[0] if args else kwargs.get("config", Unknown("no config given"))
    return None


def _no_op(interp: Interpreter, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return None


def _config_post_init(interp: Interpreter, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """PreTrainedConfig.__post_init__: keeps the extra keyword arguments as attributes and
    derives the label maps (`num_labels` reads `len(id2label)`)."""
    if not isinstance(receiver, ObjectValue):
        return None
    num_labels = kwargs.pop("num_labels", None)
    # what PreTrainedModel.__init__ settles on for torch 2.x on a CPU: it selects classes in
    # some modeling files (`FALCON_ATTENTION_CLASSES[config._attn_implementation]`)
    attn = kwargs.pop("attn_implementation", kwargs.pop("_attn_implementation", None))
    receiver.attrs.setdefault("_attn_implementation_internal", attn if isinstance(attn, str) else "sdpa")
    for key, value in kwargs.items():
        receiver.attrs[interp.attribute_alias(receiver, key) or key] = value
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


def _get_activation(interp: Interpreter, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return ModuleValue(type_name="transformers.activations.activation")


METHOD_HOOKS: dict[str, HookRef] = {
    "transformers.modeling_utils.PreTrainedModel.__init__": HookRef("__init__", _pretrained_model_init),
    "transformers.modeling_utils.PreTrainedModel.post_init": HookRef("post_init", _no_op),
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

GLOBAL_HOOKS: dict[str, Any] = {
    "transformers.activations.ACT2FN": ActivationTable(),
    "transformers.activations.get_activation": HookRef("get_activation", _get_activation),
}
