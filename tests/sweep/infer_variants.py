"""Issue 15 over the sweeps: torch's state_dict of a swept architecture, and its variants
(a `module.` prefix, a dropped key, an added key, a changed dim), checked with the target's
constructor values (`--init` / config.json) and with none at all. Shared by
`tests/test_infer.py` (a small deterministic sample) and `benchmarks/bench_infer.py`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from sweep.checkpoints import with_dim_changed, with_prefix, without, write_sparse_safetensors
from sweep.targets import cached_truth, target_and_builder

VARIANTS = ("clean", "module-prefix", "dropped", "added", "changed-dim")
MISMATCH = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}
ADDED_KEY = "ckptlens_added_probe.weight"

# what `--init` holds only so the reference build needs no download (torchvision's detection
# models would otherwise load ImageNet backbone weights), or because torch itself cannot build
# the model without it (tests/sweep/targets.py DIFFUSERS_INIT): kept in the "no config" runs too
KEEP_WITHOUT_CONFIG = {"weights_backbone"}


def _kept(library: str, name: str) -> set[str]:
    from sweep.targets import DIFFUSERS_INIT

    return KEEP_WITHOUT_CONFIG | (set(DIFFUSERS_INIT.get(name, {})) if library == "diffusers" else set())


def _eligible(tensors: list[tuple[str, tuple[int, ...], str]], predicted: Any, need_dims: bool) -> str | None:
    """A key in the middle of the state_dict that stands alone (as tests/test_sweeps.py)."""
    protected = set(predicted.tied) | set(predicted.tied.values()) | set(predicted.optional)
    candidates = [
        key for key, shape, _ in tensors
        if key not in protected and not key.endswith("num_batches_tracked") and (len(shape) >= 1 or not need_dims)
    ]
    return candidates[len(candidates) // 2] if candidates else None


def _got(findings: list[Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for f in findings:
        if f.code not in MISMATCH:
            continue
        if f.code == "key-prefix":
            out.append((f.code, f.checkpoint_prefix or ""))
        elif f.code == "unexpected-key":
            out.extend((f.code, k) for k in f.checkpoint_keys)
        else:
            out.extend((f.code, k) for k in f.model_keys)
    return out


def true_config_values(library: str, name: str) -> dict[str, Any]:
    """`config.<field>` -> the value the reference model was built with (transformers)."""
    if library != "transformers":
        return {}
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    from sweep.targets import _transformers_classes

    config = getattr(transformers, CONFIG_MAPPING_NAMES[_transformers_classes()[name]])()
    return {f"config.{k}": v for k, v in config.to_dict().items()}


def evaluate(library: str, name: str, analyzer: Any) -> dict[str, Any]:
    """Per variant and per mode ("config", "none"): whether exactly the expected findings came,
    the mismatches of the clean checkpoint (false alarms), the inferred values and how many
    of them equal the real ones."""
    from ckptlens.api import check, predict

    record: dict[str, Any] = {"library": library, "name": name, "modes": {}}
    try:
        target, builder = target_and_builder(library, name)
        tensors = cached_truth(library, name, builder).tensors
    except Exception as exc:  # noqa: BLE001 - torch cannot build it here (a download, the meta device)
        record["error"] = f"no ground truth: {type(exc).__name__}: {exc}"
        return record
    try:
        predicted = predict(target.source, target.class_name, init=target.init, config=target.config, analyzer=analyzer)
    except Exception as exc:  # noqa: BLE001 - reported, never hidden
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    dropped = _eligible(tensors, predicted, need_dims=False)
    changed = _eligible(tensors, predicted, need_dims=True)
    written: dict[str, tuple[list[Any], list[tuple[str, str]]]] = {"clean": (list(tensors), [])}
    written["module-prefix"] = (with_prefix(tensors, "module."), [("key-prefix", "module")])
    if dropped is not None:
        written["dropped"] = (without(tensors, dropped), [("missing-key", dropped)])
    written["added"] = ([*tensors, (ADDED_KEY, (3,), "float32")], [("unexpected-key", ADDED_KEY)])
    if changed is not None:
        written["changed-dim"] = (with_dim_changed(tensors, changed), [("shape-mismatch", changed)])
    truth_values = true_config_values(library, name)
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("config", "none"):
            if mode == "config":
                init, config = target.init, target.config
            else:
                init, config = {k: v for k, v in target.init.items() if k in _kept(library, name)}, None
            out: dict[str, Any] = {"variants": {}, "seconds": 0.0}
            for variant, (items, expected) in written.items():
                path = Path(tmp) / f"{mode}-{variant}.safetensors"
                write_sparse_safetensors(path, items)
                start = time.perf_counter()
                try:
                    result = check(target.source, target.class_name, path, init=init, config=config, analyzer=analyzer)
                except Exception as exc:  # noqa: BLE001
                    out["variants"][variant] = {"found": False, "error": f"{type(exc).__name__}: {exc}"}
                    continue
                out["seconds"] += time.perf_counter() - start
                got = _got(result.findings)
                entry: dict[str, Any] = {"found": got == expected, "got": got[:5]}
                if variant == "clean":
                    entry["false_alarms"] = got
                    entry["coverage"] = result.coverage.to_json()
                    inferred = result.inferred
                    entry["inferred"] = inferred
                    entry["undetermined"] = list(result.inference.undetermined) if result.inference else []
                    entry["inferred_wrong"] = {
                        k: (v, truth_values[k]) for k, v in inferred.items() if k in truth_values and truth_values[k] != v
                    }
                out["variants"][variant] = entry
            record["modes"][mode] = out
    return record
