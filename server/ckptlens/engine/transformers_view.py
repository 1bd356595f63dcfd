"""The checkpoint as transformers' loader sees it: a pure step between the prediction and the
comparison, for transformers classes.

`from_pretrained` renames old checkpoint keys through the library's conversion table
(`LayerNorm.gamma` -> `LayerNorm.weight`, per-model renamings, fused tensors built from
several). `transformers_view` computes that view of a checkpoint for one prediction: the
tensors under their converted names, the way back to the names in the file, and the model keys
transformers builds from differently shaped checkpoint tensors (unknown to the comparison).
`back_to_raw` gives a comparison made in that view with the file's names again. Inputs in, new
values out: nothing made before is edited.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ckptlens.checkpoint.index import CheckpointIndex, TensorInfo
from ckptlens.engine.compare import Comparison
from ckptlens.engine.hf_conversion import conversion_table, convert_keys
from ckptlens.engine.keys import is_under
from ckptlens.engine.model import KeyMapping, PredictedStateDict, UnknownPart

BUILT_ON_LOAD = "transformers builds it from differently shaped checkpoint tensors on load"


@dataclass(frozen=True)
class ConvertedView:
    """The checkpoint's keys as transformers' loader renames them, and the way back."""

    tensors: Mapping[str, TensorInfo]  # converted key -> tensor, in file order
    raw_of: Mapping[str, str]  # converted key -> key in the file
    unknown: tuple[UnknownPart, ...] = ()  # model keys transformers builds on load

    def predicted(self, predicted: PredictedStateDict) -> PredictedStateDict:
        """The prediction with the keys transformers builds on load unknown."""
        if not self.unknown:
            return predicted
        return dataclasses.replace(predicted, unknown=(*predicted.unknown, *self.unknown))

    def back_to_raw(self, comparison: Comparison) -> Comparison:
        """`comparison` (made in this view) with the checkpoint keys named as in the file."""
        raw = self.raw_of
        mapping = comparison.mapping
        return dataclasses.replace(
            comparison,
            mapping=KeyMapping(
                mapping={raw.get(k, k): v for k, v in mapping.mapping.items()},
                dropped=[raw.get(k, k) for k in mapping.dropped],
                missing=list(mapping.missing),
            ),
            findings=tuple(
                dataclasses.replace(f, checkpoint_keys=tuple(raw.get(k, k) for k in f.checkpoint_keys))
                for f in comparison.findings
            ),
        )


def scoped_transforms(table: Any, models: tuple[tuple[str, str], ...], model_type: str | None) -> list[tuple[str, Any]]:
    """transformers' `get_model_conversion_mapping`: each PreTrainedModel submodule's transforms
    (by class name, else the model type for the root), scoped to its path; a submodule whose
    ancestor already claimed the same transforms adds nothing."""
    scoped: list[tuple[str, Any]] = []
    claimed: dict[str, list[str]] = {}
    for path, class_name in models:
        transforms = table.mapping.get(class_name)
        identifier = class_name
        if transforms is None and path == "" and model_type:
            transforms = table.for_model([], model_type)
            identifier = model_type
        if not transforms:
            continue
        if any(seen == "" or path.startswith(seen + ".") for seen in claimed.get(identifier, [])):
            continue
        claimed.setdefault(identifier, []).append(path)
        scoped.extend((path, t) for t in transforms)
    if scoped or models:
        # renamings every transformers model applies (`LayerNorm.gamma` -> `LayerNorm.weight`, ...)
        scoped.extend(("", t) for t in table.mapping.get("legacy", []))
    return scoped


def transformers_view(predicted: PredictedStateDict, index: CheckpointIndex) -> ConvertedView | None:
    """For a transformers class: the checkpoint keys renamed by transformers' conversion table
    (old checkpoints keep loading through `from_pretrained`), or None when nothing changes."""
    root = predicted.modules.get("")
    if root is None or not root.type_name.startswith("transformers."):
        return None
    path = root.origin.file
    marker = os.sep + "transformers" + os.sep
    if marker not in path:
        return None
    table = conversion_table(path[: path.rindex(marker) + len(marker) - 1])
    if table is None:
        return None
    model_type = (index.config or {}).get("model_type")
    scoped = scoped_transforms(table, predicted.hf_models, model_type if isinstance(model_type, str) else None)
    if not scoped:
        return None
    base = predicted.base_model_prefixes[0] if predicted.base_model_prefixes else ""
    converted = convert_keys(scoped, list(index.tensors), base, model_keys=predicted.tensors)
    if not converted.renamed and not converted.converted:
        return None
    tensors: dict[str, TensorInfo] = {}
    raw_of: dict[str, str] = {}
    for raw_key, info in index.tensors.items():
        if raw_key in converted.converted:
            continue
        key = converted.renamed.get(raw_key, raw_key)
        tensors[key] = info
        raw_of[key] = raw_key
    built: list[UnknownPart] = []
    if converted.converted:
        for pattern in converted.target_patterns:
            try:
                regex = re.compile(pattern)
            except re.error:
                regex = re.compile(".*")
            for key, tensor in predicted.tensors.items():
                if (
                    regex.search(key)
                    and not predicted.is_unknown(key)
                    and not any(is_under(key, part.prefix) for part in built)
                ):
                    built.append(UnknownPart(key, BUILT_ON_LOAD, tensor.origin))
    return ConvertedView(tensors, raw_of, tuple(built))
