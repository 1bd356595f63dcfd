"""The predicted state_dict: what `model.state_dict()` would hold, from source alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckptlens.findings import Finding, SourceRange

Dim = int | None  # None: this dim is unknown
Shape = tuple[Dim, ...] | None  # None: the whole shape (even the rank) is unknown


@dataclass(frozen=True)
class PredictedTensor:
    key: str  # full state_dict key, e.g. "encoder.layers.0.fc1.weight"
    shape: Shape
    kind: str  # "parameter" | "buffer"
    origin: SourceRange  # the user's code that explains the tensor (the `self.x = ...` target)
    dtype: str = "float32"


@dataclass(frozen=True)
class ModuleInfo:
    path: str  # "" for the root, "encoder.layers.0" for a nested submodule
    type_name: str  # qualified name when known ("torch.nn.Linear"), else the class name
    origin: SourceRange  # the `self.x` target that created it (the class name for the root)


@dataclass(frozen=True)
class UnknownPart:
    """A submodule (or the tail of one) the analysis could not resolve. Keys under `prefix`
    ("" = the whole model) are unknown: the comparison reports nothing about them."""

    prefix: str
    reason: str
    origin: SourceRange


@dataclass(frozen=True)
class ConstructorValue:
    """One constructor value the prediction used, and where it came from (SPEC section 3):
    `--init`, `--config PATH`, a checkpoint record, `config.json` beside the checkpoint, default."""

    value: Any  # plain data as the source holds it (None for a default that is no literal)
    source: str  # "--init", "--config cfg.json", "checkpoint record `model_args`", "default", ...
    expression: str | None = None  # a default that is no literal: its source text (`Config()`)


@dataclass
class PredictedStateDict:
    class_name: str
    origin: SourceRange  # the class (or factory function) name
    tensors: dict[str, PredictedTensor] = field(default_factory=dict)  # in state_dict order
    modules: dict[str, ModuleInfo] = field(default_factory=dict)  # every submodule, by path
    unknown: list[UnknownPart] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # `information` findings on what is unknown
    # Prefixes under which this class's weights are conventionally nested by a wrapping model
    # (transformers' `base_model_prefix`); the comparison may strip them as a `key-prefix`.
    base_model_prefixes: tuple[str, ...] = ()
    # Tied weights: key -> the key it shares its tensor with (`decoder.weight` -> `embed.weight`).
    # A checkpoint may store a tied tensor once (safetensors, save_pretrained); the loader re-ties.
    tied: dict[str, str] = field(default_factory=dict)
    # transformers: model keys a loader accepts as absent (`_keys_to_ignore_on_load_missing`,
    # `_keys_to_ignore_on_save`), checkpoint key patterns it drops silently
    # (`_keys_to_ignore_on_load_unexpected`), and the PreTrainedModel submodules (path, class
    # name) in named_modules order, for transformers' key conversions.
    optional: set[str] = field(default_factory=set)
    ignored_unexpected: tuple[str, ...] = ()
    hf_models: list[tuple[str, str]] = field(default_factory=list)
    # The constructor values used, by parameter (or keyword) name, with their source.
    constructor: dict[str, ConstructorValue] = field(default_factory=dict)

    def is_unknown(self, key: str) -> bool:
        """True when `key` falls under a part of the model that could not be resolved."""
        for part in self.unknown:
            if part.prefix == "" or key == part.prefix or key.startswith(part.prefix + "."):
                return True
        return False


@dataclass(frozen=True)
class KeyMapping:
    mapping: dict[str, str]  # checkpoint key -> model key, for every checkpoint key that is kept
    dropped: list[str]  # checkpoint keys to discard (unexpected, or of the wrong shape)
    missing: list[str]  # model keys the checkpoint cannot fill (then strict=False is needed)

    def to_json(self) -> dict[str, Any]:
        return {"mapping": dict(self.mapping), "dropped": list(self.dropped), "missing": list(self.missing)}
