"""The predicted state_dict: what `model.state_dict()` would hold, from source alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ckptlens.findings import Finding, SourceRange

Dim = int | None  # None: this dim is unknown
Shape = tuple[Dim, ...] | None  # None: the whole shape (even the rank) is unknown


@dataclass(frozen=True)
class PredictedTensor:
    """One predicted state_dict entry."""

    key: str  # full state_dict key, e.g. "encoder.layers.0.fc1.weight"
    shape: Shape
    kind: str  # "parameter" | "buffer"
    origin: SourceRange  # the user's code that explains the tensor (the `self.x = ...` target)
    dtype: str = "float32"


@dataclass(frozen=True)
class ModuleInfo:
    """One predicted submodule: its path, type and the code that created it."""

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


@dataclass(frozen=True)
class SymbolicContainer:
    """A ModuleList / Sequential of symbolic length (a loop over `range(n_layer)`, n_layer a
    symbol): `head` fixed items, then `count` (a symbolic.Expr) iterations of `per` items each.
    `complete`: every item holds a known tensor, so every index shows in a checkpoint."""

    prefix: str
    head: int
    per: int
    count: Any
    complete: bool


@dataclass(frozen=True)
class PredictedStateDict:
    """Made once by `Analyzer.predict` (and by the pure steps after it, as new values through
    `dataclasses.replace`); nothing edits it afterwards."""

    class_name: str
    origin: SourceRange  # the class (or factory function) name
    tensors: dict[str, PredictedTensor] = field(default_factory=dict)  # in state_dict order
    modules: dict[str, ModuleInfo] = field(default_factory=dict)  # every submodule, by path
    unknown: tuple[UnknownPart, ...] = ()
    findings: tuple[Finding, ...] = ()  # `information` findings on what is unknown
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
    optional: frozenset[str] = frozenset()
    ignored_unexpected: tuple[str, ...] = ()
    hf_models: tuple[tuple[str, str], ...] = ()
    # The constructor values used, by parameter (or keyword) name, with their source.
    constructor: dict[str, ConstructorValue] = field(default_factory=dict)
    # Modules that may hold more keys than predicted: a call during construction that could not
    # be followed (`self.add_module(*stage)` with `stage` unknown) may have registered more.
    # Their known keys are checked; checkpoint keys under them that the model lacks are not.
    open: tuple[UnknownPart, ...] = ()
    # The inference's symbolic pass only: tensors under containers of symbolic length (their
    # first iteration's items; dims may be symbols) and those containers.
    sym_tensors: dict[str, PredictedTensor] = field(default_factory=dict)
    sym_containers: tuple[SymbolicContainer, ...] = ()

    def is_unknown(self, key: str) -> bool:
        """True when `key` falls under a part of the model that could not be resolved."""
        return self.unknown_part(key) is not None

    def unknown_part(self, key: str) -> UnknownPart | None:
        """The innermost unresolved part `key` falls under, if any."""
        return _innermost(self.unknown, key)

    def open_part(self, key: str) -> UnknownPart | None:
        """The innermost module that may hold more keys than predicted and holds `key`."""
        return _innermost(self.open, key)


def _innermost(parts: Sequence[UnknownPart], key: str) -> UnknownPart | None:
    best: UnknownPart | None = None
    for part in parts:
        if part.prefix == "" or key == part.prefix or key.startswith(part.prefix + "."):
            if best is None or len(part.prefix) > len(best.prefix):
                best = part
    return best


@dataclass(frozen=True)
class Coverage:
    """How much of a checkpoint a check compared: on key and shape (`checked`), on key only
    because some predicted dims are unknown (`keys_only`), or not at all because the key falls
    under a part of the model the analysis could not resolve (`unchecked`)."""

    tensors: int = 0
    checked: int = 0
    keys_only: int = 0
    unchecked: int = 0

    @property
    def complete(self) -> bool:
        """Every checkpoint tensor was compared, at least by key."""
        return self.unchecked == 0

    def to_json(self) -> dict[str, int]:
        return {"tensors": self.tensors, "checked": self.checked, "keys_only": self.keys_only, "unchecked": self.unchecked}


@dataclass(frozen=True)
class KeyMapping:
    """How checkpoint keys map onto model keys (SPEC section 4)."""

    mapping: dict[str, str]  # checkpoint key -> model key, for every checkpoint key that is kept
    dropped: list[str]  # checkpoint keys to discard (unexpected, or of the wrong shape)
    missing: list[str]  # model keys the checkpoint cannot fill (then strict=False is needed)

    def to_json(self) -> dict[str, Any]:
        return {"mapping": dict(self.mapping), "dropped": list(self.dropped), "missing": list(self.missing)}


def shapes_compatible(model: Shape, checkpoint: Sequence[int] | None) -> bool:
    """An unknown shape or dim is compatible with anything; known ranks and dims must agree."""
    if model is None or checkpoint is None:
        return True
    if len(model) != len(checkpoint):
        return False
    return all(m is None or m == c for m, c in zip(model, checkpoint, strict=True))
