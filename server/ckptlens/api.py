"""The one façade the CLI and the language server call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ckptlens.checkpoint import CheckpointIndex
from ckptlens.engine.model import PredictedStateDict
from ckptlens.findings import Finding


@dataclass(frozen=True)
class KeyMapping:
    mapping: dict[str, str]  # checkpoint key -> model key, for every checkpoint key that is kept
    dropped: list[str]  # checkpoint keys to discard (unexpected, or of the wrong shape)
    missing: list[str]  # model keys the checkpoint cannot fill (then strict=False is needed)

    def to_json(self) -> dict[str, Any]:
        return {"mapping": dict(self.mapping), "dropped": list(self.dropped), "missing": list(self.missing)}


@dataclass
class CheckResult:
    findings: list[Finding]
    mapping: KeyMapping
    predicted: PredictedStateDict
    index: CheckpointIndex


def predict(
    source: str | Path,
    class_name: str,
    *,
    init: Mapping[str, Any] | None = None,
    config: str | Path | None = None,
    hyper_parameters: Mapping[str, Any] | None = None,
) -> PredictedStateDict:
    """The state_dict `class_name(**init)` in `source` would have, from source alone."""
    raise NotImplementedError  # filled in by the interpreter


def check(
    source: str | Path,
    class_name: str,
    checkpoint: str | Path,
    *,
    init: Mapping[str, Any] | None = None,
    config: str | Path | None = None,
) -> CheckResult:
    """Predict, read the checkpoint, compare: findings and a key mapping."""
    raise NotImplementedError
