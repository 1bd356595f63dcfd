"""Given vs saved (issue 15, item 4): where a value was given (`--init`, `--config`, a record,
`config.json`, the `__init__` default) and the checkpoint consistently says otherwise, the
shape-mismatch findings say so in the user's words (`SavedWith` details)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ckptlens.engine.infer import mismatched_keys
from ckptlens.engine.messages import SavedWith, ShapeMismatch
from ckptlens.engine.model import PredictedStateDict
from ckptlens.findings import SHAPE_MISMATCH, Finding

if TYPE_CHECKING:
    from ckptlens.engine.constructor import ConstructorPlan
    from ckptlens.engine.predict import Analyzer, TargetInfo

MAX_PROBES = 6


def given_versus_saved(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    tensors: Mapping[str, Any],
    findings: Sequence[Finding],
    predicted: PredictedStateDict,
) -> list[Finding]:
    """Where a given int value (`--init`, a config, a record, the default) differs from the one
    the checkpoint was saved with, the shape mismatches it causes say so. A candidate value is
    read from a mismatching dim (`1000` predicted where the checkpoint has `10`, or a multiple
    of it); it is taken only when building the model with it leaves a strict subset of the
    mismatching keys (never new ones) and keeps every dim that matched: the model then fits
    where it did not, and nowhere less."""
    from ckptlens.engine.compare import compare

    mismatched = [f for f in findings if f.code == SHAPE_MISMATCH]
    if not mismatched:
        return list(findings)
    given: dict[str, tuple[int, str]] = {}
    for name, item in plan.values.items():
        if isinstance(item.value, int) and not isinstance(item.value, bool) and item.value > 0:
            given[name] = (item.value, item.source)
    config_source = plan.values.get(info.config_param or "", None)
    if plan.config is not None and info.config_param and config_source is not None:
        for key, value in plan.config.items():
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                given[f"{info.config_param}.{key}"] = (value, config_source.source)
    support: dict[tuple[str, int], int] = {}
    for finding in mismatched:
        for pair in _pairs(finding):
            stored, model = pair.checkpoint_shape, pair.model_shape
            if model is None or len(model) != len(stored):
                continue
            for p, c in zip(model, stored, strict=True):
                if p is None or p == c:
                    continue
                for name, (value, _) in given.items():
                    if p % value == 0 and c % (p // value) == 0 and c // (p // value) > 0:
                        candidate = (name, c // (p // value))
                        support[candidate] = support.get(candidate, 0) + 1
    if not support:
        return list(findings)
    before = mismatched_keys(findings)
    # checkpoint key -> model key: the keys that fit, and those whose shapes mismatch
    pairs = list(compare(predicted, tensors).mapping.mapping.items())
    for finding in mismatched:
        pairs.extend((pair.checkpoint_key, pair.model_key) for pair in _pairs(finding))
    kept = _matching_dims(predicted, tensors, pairs)
    accepted: dict[str, tuple[str, int]] = {}  # mismatching model key -> (name, saved value)
    for name, value in sorted(support, key=lambda nv: -support[nv])[:MAX_PROBES]:
        kwargs = dict(plan.kwargs)
        config = dict(plan.config) if plan.config is not None else None
        if "." in name and config is not None:
            config[name.split(".", 1)[1]] = value
        else:
            kwargs[name] = value
        try:
            probe = engine.predict(source, class_name, kwargs, config=config)
        except Exception:  # noqa: BLE001 - a probe that fails proves nothing
            continue
        after = mismatched_keys(compare(probe, tensors).findings)
        if after < before and kept <= _matching_dims(probe, tensors, pairs):
            for _code, key in before - after:
                accepted.setdefault(key, (name, value))
    if not accepted:
        return list(findings)
    out = []
    for finding in findings:
        saved = {accepted.get(k) for k in finding.model_keys}
        details = finding.details
        if isinstance(details, ShapeMismatch) and len(saved) == 1 and None not in saved:
            ((name, value),) = saved  # type: ignore[misc]
            old, where = given[name]
            saved_with = SavedWith(name, value, old, where)
            finding = ShapeMismatch(details.pairs, details.checkpoint_keys, saved_with).at(
                finding.range, finding.severity
            )
        out.append(finding)
    return out


def _pairs(finding: Finding) -> tuple[Any, ...]:
    """The (model key, checkpoint key, shapes) pairs of a shape mismatch."""
    details = finding.details
    return details.pairs if isinstance(details, ShapeMismatch) else ()


def _matching_dims(predicted: PredictedStateDict, tensors: Mapping[str, Any], pairs: list[tuple[str, str]]) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for ckpt, model in pairs:
        tensor = predicted.tensors.get(model)
        stored = getattr(tensors.get(ckpt), "shape", None)
        if tensor is None or tensor.shape is None or stored is None or len(stored) != len(tensor.shape):
            continue
        out.update((ckpt, i) for i, (p, c) in enumerate(zip(tensor.shape, stored, strict=True)) if p == c)
    return out
