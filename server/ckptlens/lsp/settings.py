"""The `ckptlens.*` editor settings: a defaulted dataclass, parsed once per change.

A bad value never stops the server: it is replaced by its default and reported as one
warning (sent to the client as window/logMessage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Settings:
    enable: bool = True
    links: tuple[Any, ...] = ()  # [{class = "models/net.py:Net", checkpoint = "...", init = {...}}]
    debounce_ms: int = 150  # per document, part of the latency budget
    scan_workspace: bool = True  # look for load calls in every .py file of the workspace
    max_files: int = 5000
    hugging_face_cache: str | None = (
        None  # default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub
    )
    progress_after_ms: int = 300  # report $/progress for checkpoint reads longer than this (0: all)
    strict_false_ratio: float = 0.5  # strict=False hides a mismatch when fewer keys than this match
    code_lens: bool = True
    unverified_severity: str = "warning"  # of `unverified`: error | warning | information | hint
    analysis_timeout_ms: int = 20_000  # an analysis still running after this is killed
    max_document_size: int = 2_000_000  # bytes: larger documents are not analysed
    size_lens: bool = True  # `11.7 M params · 44.6 MiB fp32` on every nn.Module class
    fit_hints: bool = True  # `3 checkpoints in lightning_logs/ fit this class` on unlinked classes


_CAMEL = {
    "enable": "enable",
    "links": "links",
    "debounceMs": "debounce_ms",
    "scanWorkspace": "scan_workspace",
    "maxFiles": "max_files",
    "huggingFaceCache": "hugging_face_cache",
    "progressAfterMs": "progress_after_ms",
    "strictFalseRatio": "strict_false_ratio",
    "codeLens": "code_lens",
    "unverifiedSeverity": "unverified_severity",
    "analysisTimeoutMs": "analysis_timeout_ms",
    "maxDocumentSize": "max_document_size",
    "sizeLens": "size_lens",
    "fitHints": "fit_hints",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "unverified_severity": ("error", "warning", "information", "hint"),
}
_BOUNDS: dict[str, tuple[float, float]] = {
    "debounce_ms": (0, 5000),
    "max_files": (0, 1_000_000),
    "progress_after_ms": (0, 60_000),
    "strict_false_ratio": (0.0, 1.0),
    "analysis_timeout_ms": (100, 600_000),
    "max_document_size": (0, 1_000_000_000),
}


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """`raw` is the `ckptlens` section (or an object holding it). Returns the settings and
    one warning per value that was ignored."""
    if isinstance(raw, Mapping) and isinstance(raw.get("ckptlens"), Mapping):
        raw = raw["ckptlens"]
    if raw is None:
        return Settings(), []
    if not isinstance(raw, Mapping):
        return Settings(), [
            f"ckptlens settings: expected an object, got {type(raw).__name__}; using defaults"
        ]
    defaults = Settings()
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        name = _CAMEL.get(key) or (key if key in types else None)
        if name is None:
            warnings.append(f"ckptlens.{key}: unknown setting, ignored")
            continue
        default = getattr(defaults, name)
        parsed = _parse_value(name, value, default)
        if parsed is _INVALID:
            warnings.append(
                f"ckptlens.{key}: invalid value {value!r}; using the default {default!r}"
            )
            continue
        values[name] = parsed
    return Settings(**values), warnings


_INVALID = object()


def _parse_value(name: str, value: Any, default: Any) -> Any:
    if name == "links":
        return tuple(value) if isinstance(value, list | tuple) else _INVALID
    if name in _CHOICES:
        return value if value in _CHOICES[name] else _INVALID
    if name == "hugging_face_cache":
        return value if value is None or isinstance(value, str) else _INVALID
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _INVALID
        low, high = _BOUNDS.get(name, (float("-inf"), float("inf")))
        if not low <= value <= high:
            return _INVALID
        return type(default)(value)
    return _INVALID
