"""The one façade the CLI, the language server and the workspace check call.

A check runs one way, each stage making new values from the last and editing none:
describe the class -> the constructor plan -> predict -> (transformers classes) the
checkpoint as transformers' loader sees it -> compare -> the findings. The adapters reach the
engine only through this module (what they need of it is re-exported here).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ckptlens.engine.constructor import ConstructorPlan
from ckptlens.engine.loader import Loader, SourceError
from ckptlens.engine.messages import (
    CheckpointsFit,
    Inferred,
    NoSuchEntry,
    ShapeMismatch,
    SourceUnreadable,
    WholeCheckpointLoaded,
    format_shape,
)
from ckptlens.engine.model import Coverage, KeyMapping, PredictedStateDict, shapes_compatible
from ckptlens.engine.predict import Analyzer, TargetError, TargetInfo
from ckptlens.engine.reads import recording as recording_reads
from ckptlens.engine.size import Totals, model_size
from ckptlens.findings import SHAPE_MISMATCH, UNRESOLVED, UNVERIFIED, Finding, Severity

if TYPE_CHECKING:
    from pathlib import Path

    from ckptlens.checkpoint.index import CheckpointIndex
    from ckptlens.engine.compare import Comparison
    from ckptlens.engine.mapping_code import (
        DEFAULT_FUNCTION_NAME,
        ParsedMapping,
        remap_tensors,
        render_python,
    )

# What only a check, a mapping or a workspace needs is imported when first used: `keys` (and
# a prediction) never loads the comparison, the mapping code or the checkpoint reader.
_LAZY = {
    "CheckpointIndex": "ckptlens.checkpoint.index",
    "Comparison": "ckptlens.engine.compare",
    "DEFAULT_FUNCTION_NAME": "ckptlens.engine.mapping_code",
    "ParsedMapping": "ckptlens.engine.mapping_code",
    "remap_tensors": "ckptlens.engine.mapping_code",
    "render_python": "ckptlens.engine.mapping_code",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_FUNCTION_NAME",
    "Analyzer",
    "CheckResult",
    "CheckpointsFit",
    "Comparison",
    "ConfigError",
    "Inferred",
    "KeyMapping",
    "Loader",
    "NoSuchEntry",
    "ParsedMapping",
    "ShapeMismatch",
    "SourceError",
    "SourceUnreadable",
    "TargetError",
    "Totals",
    "WholeCheckpointLoaded",
    "check",
    "format_shape",
    "model_size",
    "predict",
    "recording_reads",
    "remap_tensors",
    "render_python",
    "shapes_compatible",
]


@dataclass(frozen=True)
class CheckResult:
    """What `check` finds: the findings, the mapping, the prediction and the comparison."""

    findings: list[Finding]
    mapping: KeyMapping
    predicted: PredictedStateDict
    index: CheckpointIndex
    comparison: Comparison  # matched/total counts, prefix, renames, coverage
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
        return self.comparison.coverage


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
    return _with_plan(engine.predict(str(source), class_name, plan.kwargs, config=plan.config), plan)


def _with_plan(predicted: PredictedStateDict, plan: ConstructorPlan) -> PredictedStateDict:
    """The engine's prediction with the constructor values used and the plan's findings."""
    return dataclasses.replace(
        predicted, constructor=dict(plan.values), findings=(*predicted.findings, *plan.findings)
    )


MAX_CONFIG_BYTES = 4 << 20


def _config_data(config: str | Path | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The --config file: a regular file (never a FIFO, a device or /dev/stdin, refused before
    it is opened) of at most 4 MiB holding a JSON object."""
    if config is None or isinstance(config, Mapping):
        return config
    from ckptlens.checkpoint.files import read_regular
    from ckptlens.checkpoint.index import CheckpointError

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
    from ckptlens.checkpoint.index import CheckpointIndex
    from ckptlens.engine.compare import compare
    from ckptlens.engine.transformers_view import transformers_view

    engine = _analyzer(analyzer)
    # a remote checkpoint is read (network round trips) while the class is analysed
    reading = _RemoteRead.start(checkpoint) if cache is None else None
    if cache is not None:
        info = cache.info.get((str(source), class_name))
        if info is None:
            info = cache.info[(str(source), class_name)] = engine.describe(str(source), class_name)
    else:
        info = engine.describe(str(source), class_name)
    # `--init config.n_layer=6`: one field of a config object nobody gives (issue 15)
    pinned = {k: v for k, v in (init or {}).items() if "." in k}
    init = {k: v for k, v in (init or {}).items() if "." not in k} if pinned else init
    if reading is not None:
        index = reading.result()
    else:
        index = checkpoint if isinstance(checkpoint, CheckpointIndex) else read_checkpoint(str(checkpoint))
    plan = constructor_plan(
        info, init=init, config=config, index=index, init_source=init_source, config_source=config_source
    )
    predicted, prediction_key = _cached_build(engine, source, class_name, plan, cache)
    inference = None
    if infer_values and cache is None:
        inference, predicted = _infer(engine, source, class_name, info, plan, index, predicted, pinned)
    view = transformers_view(predicted, index)
    if view is not None:
        predicted = view.predicted(predicted)
        comparison = view.back_to_raw(
            compare(predicted, view.tensors, unverified_severity=unverified_severity)
        )
    else:
        comparison = _cached_compare(predicted, index, prediction_key, unverified_severity, cache)
    if infer_values and cache is None and any(f.code == SHAPE_MISMATCH for f in comparison.findings):
        from ckptlens.engine.saved_with import given_versus_saved

        # given vs saved: a new comparison whose shape mismatches name the saved values
        tensors = view.tensors if view else index.tensors
        revised = given_versus_saved(
            engine, str(source), class_name, info, plan, tensors, comparison.findings, predicted
        )
        comparison = dataclasses.replace(comparison, findings=tuple(revised))
    findings = _findings(predicted, comparison, index)
    if inference is not None:
        from ckptlens.engine.infer import inferred_finding

        note = inferred_finding(inference, predicted)
        if note is not None:
            findings = sorted((*findings, note), key=_position)
    return CheckResult(findings, comparison.mapping, predicted, index, comparison, inference)


class _RemoteRead:
    """`read_checkpoint` of a remote reference in a thread: its requests wait on the network
    while the class is analysed. `result()` returns the index or raises what the read raised."""

    def __init__(self, text: str) -> None:
        import threading

        self.text = text
        self.index: CheckpointIndex | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ckptlens-remote-read", daemon=True)
        self.thread.start()

    @staticmethod
    def start(checkpoint: object) -> _RemoteRead | None:
        from ckptlens.checkpoint.index import CheckpointIndex

        if isinstance(checkpoint, CheckpointIndex):
            return None
        from ckptlens.checkpoint.remote import is_remote

        return _RemoteRead(str(checkpoint)) if is_remote(str(checkpoint)) else None

    def _run(self) -> None:
        from ckptlens.checkpoint import read_checkpoint

        try:
            self.index = read_checkpoint(self.text)
        except BaseException as exc:  # noqa: BLE001 - raised again by result(), in the caller
            self.error = exc

    def result(self) -> CheckpointIndex:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.index is not None
        return self.index


def _cached_compare(
    predicted: PredictedStateDict,
    index: CheckpointIndex,
    prediction_key: str,
    unverified_severity: Severity,
    cache: CheckCache | None,
) -> Comparison:
    """`compare`, shared by checks of one prediction against checkpoints with the same tensors."""
    from ckptlens.engine.compare import compare

    if cache is None:
        return compare(predicted, index.tensors, unverified_severity=unverified_severity)
    signature = tuple((k, t.shape, t.dtype, t.device) for k, t in index.tensors.items())
    key = (prediction_key, unverified_severity, signature)
    comparison = cache.comparisons.get(key)
    if comparison is None:
        comparison = cache.comparisons[key] = compare(
            predicted, index.tensors, unverified_severity=unverified_severity
        )
    return comparison


def _findings(
    predicted: PredictedStateDict, comparison: Comparison, index: CheckpointIndex
) -> list[Finding]:
    """Every finding of a check, by position. An unresolved part that leaves checkpoint tensors
    unchecked is said once, as `unverified`."""
    from ckptlens.engine.safety import safety_findings

    verified_elsewhere = {f.model_prefix for f in comparison.findings if f.code == UNVERIFIED}
    findings = [
        *(
            f
            for f in predicted.findings
            if not (f.code == UNRESOLVED and f.model_prefix in verified_elsewhere and not f.model_keys)
        ),
        *comparison.findings,
        *safety_findings(index.safety, predicted.origin),
    ]
    findings.sort(key=_position)
    return findings


def _position(f: Finding) -> tuple[str, int, int, str]:
    return (f.range.file, f.range.start_line, f.range.start_col, f.code)


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
    from ckptlens.engine.infer import (
        SOURCE,
        as_data,
        infer,
        rebuild,
        solved_inputs,
        unfaithful_lengths,
    )
    from ckptlens.engine.model import ConstructorValue

    inference = infer(engine, str(source), class_name, info, plan, index.tensors, pinned)
    if inference is None or not (inference.values or inference.pinned or inference.assumed):
        return inference, predicted
    solved = solved_inputs(info, inference)
    rebuilt = rebuild(engine, str(source), class_name, info, inference)
    bad = unfaithful_lengths(inference, rebuilt, index.tensors)
    if bad:  # built with them, the model does not have the checkpoint's items: not known
        inference = dataclasses.replace(
            inference,
            values={k: v for k, v in inference.values.items() if k not in bad},
            undetermined=[*inference.undetermined, *bad],
        )
        solved = solved_inputs(info, inference)
        rebuilt = rebuild(engine, str(source), class_name, info, inference)
    values = dict(plan.values)
    for name, value in solved.items():
        data = as_data(value)
        values[name] = ConstructorValue(data, SOURCE)
    return inference, dataclasses.replace(
        rebuilt, constructor=values, findings=(*rebuilt.findings, *plan.findings)
    )


@dataclass
class CheckCache:
    """What many checks of one class share (`ckptlens find` over a tree of checkpoints)."""

    info: dict[tuple[str, str], TargetInfo] = field(default_factory=dict)
    predictions: dict[str, PredictedStateDict] = field(default_factory=dict)
    comparisons: dict[Any, Comparison] = field(default_factory=dict)


def _cached_build(
    engine: Analyzer,
    source: str | Path,
    class_name: str,
    plan: ConstructorPlan,
    cache: CheckCache | None,
) -> tuple[PredictedStateDict, str]:
    """`_build`, with the engine's prediction shared by checks with the same constructor values."""
    if cache is None:
        return _build(engine, source, class_name, plan), ""
    key = json.dumps([str(source), class_name, plan.kwargs, plan.config], sort_keys=True, default=repr)
    raw = cache.predictions.get(key)
    if raw is None:
        raw = cache.predictions[key] = engine.predict(str(source), class_name, plan.kwargs, config=plan.config)
    return _with_plan(raw, plan), key
