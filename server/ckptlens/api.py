"""The one façade the CLI and the language server call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.checkpoint.weights_only import safety_findings
from ckptlens.engine.constructor import ConstructorPlan
from ckptlens.engine.model import Coverage, KeyMapping, PredictedStateDict
from ckptlens.engine.predict import Analyzer, TargetError, TargetInfo
from ckptlens.findings import SHAPE_MISMATCH, UNRESOLVED, UNVERIFIED, Finding, Severity

__all__ = ["Analyzer", "CheckResult", "ConfigError", "KeyMapping", "TargetError", "check", "predict"]


@dataclass
class CheckResult:
    findings: list[Finding]
    mapping: KeyMapping
    predicted: PredictedStateDict
    index: CheckpointIndex
    comparison: Any = None  # engine.compare.Comparison: matched/total counts, prefix, renames
    inference: Any = None  # engine.infer.Inference: the constructor values the checkpoint fixed

    @property
    def inferred(self) -> dict[str, int]:
        """SPEC §5: the constructor values the checkpoint fixed, named as the source names them."""
        return self.inference.plain if self.inference is not None else {}

    @property
    def fails(self) -> bool:
        return any(f.fails for f in self.findings)

    @property
    def coverage(self) -> Coverage:
        """How many checkpoint tensors were compared on key and shape, on key only, or not at all."""
        return self.comparison.coverage if self.comparison is not None else Coverage()


def _analyzer(analyzer: Analyzer | None) -> Analyzer:
    return analyzer if analyzer is not None else Analyzer()


def predict(
    source: str | Path,
    class_name: str,
    *,
    init: Mapping[str, Any] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    hyper_parameters: Mapping[str, Any] | None = None,
    analyzer: Analyzer | None = None,
) -> PredictedStateDict:
    """The state_dict `class_name(**init)` in `source` would have, from source alone."""
    engine = _analyzer(analyzer)
    info = engine.describe(str(source), class_name)
    plan = constructor_plan(info, init=init, config=config, hyper_parameters=hyper_parameters)
    return _build(engine, source, class_name, plan)


# -- constructor values (SPEC section 3; engine/constructor.py decides) -------------------


def constructor_plan(
    info: TargetInfo,
    *,
    init: Mapping[str, Any] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    hyper_parameters: Mapping[str, Any] | None = None,
    index: CheckpointIndex | None = None,
    init_source: str | None = None,
    config_source: str | None = None,
) -> ConstructorPlan:
    """Every constructor value and where it came from: --init, --config, the checkpoint's
    record, config.json beside the checkpoint, the defaults. `init_source`/`config_source`
    name where `init`/`config` came from when not the command line (the editor's link)."""
    from ckptlens.engine import constructor

    beside_source = constructor.BESIDE
    if index is not None and index.format in ("hf-folder", "hf-sharded"):
        beside_source = constructor.IN_FOLDER
    return constructor.plan(
        info,
        init=init,
        config=_config_data(config),
        config_source=config_source or constructor.config_label(config if not isinstance(config, Mapping) else None),
        hyper_parameters=index.hyper_parameters if index is not None else hyper_parameters,
        records=index.records if index is not None else None,
        beside=index.config if index is not None else None,
        beside_source=beside_source,
        init_source=init_source or constructor.INIT,
    )


def constructor_arguments(
    info: TargetInfo,
    *,
    init: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    hyper_parameters: Mapping[str, Any] | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of `constructor_plan` (the config object aside)."""
    from ckptlens.engine import constructor

    plan = constructor.plan(info, init=init, config=config, hyper_parameters=hyper_parameters, records=records)
    return plan.kwargs


def _build(engine: Analyzer, source: str | Path, class_name: str, plan: ConstructorPlan) -> PredictedStateDict:
    """The prediction from a plan, carrying the values used and the plan's findings."""
    predicted = engine.predict(str(source), class_name, plan.kwargs, config=plan.config)
    predicted.constructor = dict(plan.values)
    predicted.findings.extend(plan.findings)
    return predicted


MAX_CONFIG_BYTES = 4 << 20


def _config_data(config: str | Path | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The --config file: a regular file (never a FIFO, a device or /dev/stdin, refused before
    it is opened) of at most 4 MiB holding a JSON object."""
    from ckptlens.checkpoint.files import read_regular
    from ckptlens.checkpoint.index import CheckpointError

    if config is None or isinstance(config, Mapping):
        return config
    try:
        raw = read_regular(config, MAX_CONFIG_BYTES, "config file")
        data = json.loads(raw.decode("utf-8"))
    except CheckpointError as exc:
        raise ConfigError(str(exc)) from None
    except PermissionError:
        raise ConfigError(f"{config}: cannot read the config: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{config}: cannot read the config: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"{config}: the config is not valid UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{config}: the config must be a JSON object")
    return data


class ConfigError(Exception):
    """The --config file is unusable. `str(err)` is one line for the user."""


def check(
    source: str | Path,
    class_name: str,
    checkpoint: str | Path | CheckpointIndex,
    *,
    init: Mapping[str, Any] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    analyzer: Analyzer | None = None,
    unverified_severity: Severity = Severity.WARNING,
    init_source: str | None = None,
    config_source: str | None = None,
    cache: Any = None,  # CheckCache | None (Any: callers spread `**{"init_source": ...}` dicts)
    infer_values: Any = True,  # False: no inference (Any: callers spread `**{...}` dicts)
) -> CheckResult:
    """Predict, read the checkpoint, compare: findings and a key mapping. Checkpoint tensors
    under parts of the model that could not be resolved are reported as `unverified` at
    `unverified_severity` (a warning unless lowered). `cache`, when given, is shared by many
    checks of one class (`ckptlens find`): the class is described once, predicted once per set of
    constructor arguments, compared once per distinct set of checkpoint keys/shapes/dtypes."""
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.engine.compare import compare

    engine = _analyzer(analyzer)
    if cache is not None:
        info = cache.info.get((str(source), class_name))
        if info is None:
            info = cache.info[(str(source), class_name)] = engine.describe(str(source), class_name)
    else:
        info = engine.describe(str(source), class_name)
    index = checkpoint if isinstance(checkpoint, CheckpointIndex) else read_checkpoint(str(checkpoint))
    # `--init config.n_layer=6`: one field of a config object nobody gives (issue 15)
    pinned = {k: v for k, v in (init or {}).items() if "." in k}
    init = {k: v for k, v in (init or {}).items() if "." not in k} if pinned else init
    plan = constructor_plan(
        info, init=init, config=config, index=index, init_source=init_source, config_source=config_source
    )
    predicted, prediction_key = _cached_build(engine, source, class_name, plan, cache)
    inference = None
    if infer_values and cache is None:
        inference, predicted = _infer(engine, source, class_name, info, plan, index, predicted, pinned)
    view = _transformers_view(predicted, index)
    comparison = None
    comparison_key: Any = None
    if cache is not None and view is None:
        signature = tuple((k, t.shape, t.dtype, t.device) for k, t in index.tensors.items())
        comparison_key = (prediction_key, unverified_severity, signature)
        comparison = cache.comparisons.get(comparison_key)
    if comparison is None:
        comparison = compare(
            predicted, view.tensors if view else index.tensors, unverified_severity=unverified_severity
        )
        if comparison_key is not None and cache is not None:
            cache.comparisons[comparison_key] = comparison
    if view is not None:
        comparison = view.back_to_raw(comparison)
    # an unresolved part that leaves checkpoint tensors unchecked is said once, as `unverified`
    verified_elsewhere = {f.model_prefix for f in comparison.findings if f.code == UNVERIFIED}
    findings = [
        *(f for f in predicted.findings if not (f.code == UNRESOLVED and f.model_prefix in verified_elsewhere and not f.model_keys)),
        *comparison.findings,
        *safety_findings(index.safety, predicted.origin),
    ]
    if infer_values and cache is None and any(f.code == SHAPE_MISMATCH for f in comparison.findings):
        from ckptlens.engine.infer import given_versus_saved

        tensors = view.tensors if view else index.tensors
        comparison.findings = given_versus_saved(
            engine, str(source), class_name, info, plan, tensors, comparison.findings, predicted
        )
        findings = [f for f in findings if f.code != SHAPE_MISMATCH] + [f for f in comparison.findings if f.code == SHAPE_MISMATCH]
    if inference is not None:
        from ckptlens.engine.infer import inferred_finding

        note = inferred_finding(inference, predicted)
        if note is not None:
            findings.append(note)
    findings.sort(key=lambda f: (f.range.file, f.range.start_line, f.range.start_col, f.code))
    return CheckResult(findings, comparison.mapping, predicted, index, comparison, inference)


def _infer(
    engine: Analyzer,
    source: str | Path,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    index: CheckpointIndex,
    predicted: PredictedStateDict,
    pinned: Mapping[str, Any] | None = None,
) -> tuple[Any, PredictedStateDict]:
    """Issue 15: the values nobody gave, read from the checkpoint, and the prediction built
    with them (the given `predicted` when nothing was inferred)."""
    from ckptlens.engine.infer import SOURCE, infer, solved_inputs, unfaithful_lengths
    from ckptlens.engine.model import ConstructorValue

    inference = infer(engine, str(source), class_name, info, plan, index.tensors, pinned)
    if inference is None or not (inference.values or inference.pinned):
        return inference, predicted
    solved = solved_inputs(info, inference)
    rebuilt = engine.predict(str(source), class_name, {**plan.kwargs, **solved}, config=plan.config)
    bad = unfaithful_lengths(inference, rebuilt, index.tensors)
    if bad:  # built with them, the model does not have the checkpoint's items: not known
        for name in bad:
            del inference.values[name]
            inference.undetermined.append(name)
        solved = solved_inputs(info, inference)
        rebuilt = engine.predict(str(source), class_name, {**plan.kwargs, **solved}, config=plan.config)
    rebuilt.findings.extend(plan.findings)
    values = dict(plan.values)
    for name, value in solved.items():
        data = dict(value.known) if not isinstance(value, int) else value
        values[name] = ConstructorValue(data, SOURCE)
    rebuilt.constructor = values
    return inference, rebuilt


@dataclass
class CheckCache:
    """What many checks of one class share (`ckptlens find` over a tree of checkpoints)."""

    info: dict[tuple[str, str], TargetInfo] = field(default_factory=dict)
    predictions: dict[str, PredictedStateDict] = field(default_factory=dict)
    comparisons: dict[Any, Any] = field(default_factory=dict)


def _cached_build(
    engine: Analyzer,
    source: str | Path,
    class_name: str,
    plan: ConstructorPlan,
    cache: CheckCache | None,
) -> tuple[PredictedStateDict, str]:
    """`_build`, with the engine's prediction shared by checks with the same constructor values."""
    import dataclasses

    if cache is None:
        return _build(engine, source, class_name, plan), ""
    key = json.dumps([str(source), class_name, plan.kwargs, plan.config], sort_keys=True, default=repr)
    raw = cache.predictions.get(key)
    if raw is None:
        raw = cache.predictions[key] = engine.predict(str(source), class_name, plan.kwargs, config=plan.config)
    # a copy whose lists a check may extend (the plan's findings; transformers' converted keys)
    predicted = dataclasses.replace(raw, unknown=list(raw.unknown), findings=[*raw.findings, *plan.findings])
    predicted.constructor = dict(plan.values)
    return predicted, key


@dataclass
class _ConvertedView:
    """The checkpoint's keys as transformers' loader renames them, and the way back."""

    tensors: dict[str, Any]
    raw_of: dict[str, str]

    def back_to_raw(self, comparison: Any) -> Any:
        import dataclasses

        raw = self.raw_of
        mapping = comparison.mapping
        comparison.mapping = KeyMapping(
            mapping={raw.get(k, k): v for k, v in mapping.mapping.items()},
            dropped=[raw.get(k, k) for k in mapping.dropped],
            missing=list(mapping.missing),
        )
        comparison.findings = [
            dataclasses.replace(f, checkpoint_keys=tuple(raw.get(k, k) for k in f.checkpoint_keys))
            for f in comparison.findings
        ]
        return comparison


def _scoped_transforms(table: Any, models: list[tuple[str, str]], model_type: str | None) -> list[tuple[str, Any]]:
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


def _transformers_view(predicted: PredictedStateDict, index: CheckpointIndex) -> _ConvertedView | None:
    """For a transformers class: the checkpoint keys renamed by transformers' conversion table
    (old checkpoints keep loading through `from_pretrained`), or None when nothing changes."""
    import os
    import re

    from ckptlens.engine.hf_conversion import conversion_table, convert_keys
    from ckptlens.engine.model import UnknownPart

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
    scoped = _scoped_transforms(table, predicted.hf_models, model_type if isinstance(model_type, str) else None)
    if not scoped:
        return None
    base = predicted.base_model_prefixes[0] if predicted.base_model_prefixes else ""
    converted = convert_keys(scoped, list(index.tensors), base)
    if not converted.renamed and not converted.converted:
        return None
    tensors: dict[str, Any] = {}
    raw_of: dict[str, str] = {}
    for raw_key, info in index.tensors.items():
        if raw_key in converted.converted:
            continue
        key = converted.renamed.get(raw_key, raw_key)
        tensors[key] = info
        raw_of[key] = raw_key
    if converted.converted:
        for pattern in converted.target_patterns:
            try:
                regex = re.compile(pattern)
            except re.error:
                regex = re.compile(".*")
            for key, tensor in predicted.tensors.items():
                if regex.search(key) and not predicted.is_unknown(key):
                    predicted.unknown.append(
                        UnknownPart(key, "transformers builds it from differently shaped checkpoint tensors on load", tensor.origin)
                    )
    return _ConvertedView(tensors, raw_of)
