"""Output formats for `check`, `map` and `keys` (SPEC section 1). Every adapter calls these;
nothing here computes a result, it only formats one."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptlens.checkpoint.index import CheckpointIndex, TensorInfo
from ckptlens.engine.compare import Comparison, format_shape, shapes_compatible
from ckptlens.engine.keys import collapse_keys
from ckptlens.engine.mapping_code import subscript_path
from ckptlens.engine.model import Coverage, PredictedStateDict
from ckptlens.findings import Finding, Severity
from ckptlens.textsafe import escape_control

if TYPE_CHECKING:
    from ckptlens.engine.model import KeyMapping

TOOL_NAME = "ckptlens"
TOOL_URI = "https://github.com/ckptlens/ckptlens"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_SARIF_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "note",
    Severity.HINT: "note",
}

# Short descriptions for SARIF rules (codes not listed get their own name).
RULE_DESCRIPTIONS = {
    "missing-key": "Model keys absent from the checkpoint",
    "unexpected-key": "Checkpoint keys the model lacks",
    "shape-mismatch": "Same key, different shape in model and checkpoint",
    "renamed-module": "A submodule's tensors sit in the checkpoint under another name",
    "key-prefix": "Every checkpoint key carries a wrapper prefix (or lacks the model's)",
    "unresolved": "Part of the model could not be resolved statically",
    "unverified": "Checkpoint tensors left unchecked under a part the analysis could not resolve",
    "checkpoint-error": "The checkpoint cannot be read",
    "cuda-tensors": "Tensors saved from a CUDA device",
    "dtype-differs": "Checkpoint dtype differs from the model's",
    "strict-false-hides-mismatch": "load_state_dict(strict=False) would hide a mismatch",
    "checkpoint-note": "Something about the checkpoint worth knowing",
    "unsafe-checkpoint": "torch.load(weights_only=True) would refuse the checkpoint",
}

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_COLORS = {
    Severity.ERROR: "\033[1;31m",
    Severity.WARNING: "\033[1;33m",
    Severity.INFORMATION: "\033[1;34m",
    Severity.HINT: "\033[2m",
}
_GREEN = "\033[1;32m"
_RED = "\033[1;31m"


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color and style else text


# -- check ----------------------------------------------------------------------------------


def check_to_json(findings: Sequence[Finding], coverage: Coverage | None = None) -> dict[str, Any]:
    """SPEC section 1: `{"findings": [...]}` with the ten fields of every finding; SPEC section 5
    adds `"coverage"` next to it."""
    out: dict[str, Any] = {"findings": [f.to_json() for f in findings]}
    if coverage is not None:
        out["coverage"] = coverage.to_json()
    return out


def check_to_sarif(findings: Sequence[Finding], tool_version: str, coverage: Coverage | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run; `ruleId` is the finding code; the coverage sits in the
    run's properties."""
    rule_ids: list[str] = []
    for finding in findings:
        if finding.code not in rule_ids:
            rule_ids.append(finding.code)
    rules = [
        {"id": code, "name": code, "shortDescription": {"text": RULE_DESCRIPTIONS.get(code, code)}}
        for code in rule_ids
    ]
    results = []
    for finding in findings:
        r = finding.range
        region = {
            "startLine": max(r.start_line, 1),
            "startColumn": r.start_col + 1,
            "endLine": max(r.end_line, r.start_line, 1),
            "endColumn": r.end_col + 1,
        }
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": rule_ids.index(finding.code),
            "level": _SARIF_LEVEL[finding.severity],
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _file_uri(r.file)},
                        "region": region,
                    }
                }
            ],
            "properties": {
                "severity": finding.severity.value,
                "model_keys": list(finding.model_keys),
                "checkpoint_keys": list(finding.checkpoint_keys),
                "model_prefix": finding.model_prefix,
                "checkpoint_prefix": finding.checkpoint_prefix,
            },
        }
        results.append(result)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "informationUri": TOOL_URI,
                "rules": rules,
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if coverage is not None:
        run["properties"] = {"coverage": coverage.to_json()}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _file_uri(path: str) -> str:
    if os.path.isabs(path):
        return Path(path).as_uri()
    return Path(path).as_posix()


def _display_path(path: str, cwd: str | None) -> str:
    if not os.path.isabs(path):
        return path
    base = cwd if cwd is not None else os.getcwd()
    try:
        relative = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def render_check_text(
    findings: Sequence[Finding],
    *,
    class_name: str,
    checkpoint_path: str,
    matched: int,
    total: int,
    color: bool,
    cwd: str | None = None,
    coverage: Coverage | None = None,
) -> str:
    """Ruff-like lines `path:line:col: code message` (by position), then one summary line:
    `✗ 3 findings · Net: 40/42 tensors match · net.ckpt` or `✓ Net: 42/42 tensors match · net.ckpt`.
    `✓` only when nothing fails and every checkpoint tensor was compared; when some were not,
    the line counts them instead: `? Net: 37/122 tensors checked · 85 not checked · net.ckpt`."""
    lines = []
    ordered = sorted(findings, key=lambda f: (f.range.file, f.range.start_line, f.range.start_col))
    for finding in ordered:
        line, column = finding.range.json_position
        where = f"{_display_path(finding.range.file, cwd)}:{line}:{column}:"
        code = _paint(finding.code, _COLORS[finding.severity], color)
        lines.append(f"{_paint(where, _BOLD, color)} {code} {escape_control(finding.message)}")
    failing = sum(1 for f in findings if f.fails)
    notes = len(findings) - failing
    name = os.path.basename(checkpoint_path.rstrip("/\\")) or checkpoint_path
    parts = []
    if failing:
        parts.append(_paint("✗", _RED, color) + " " + _plural(failing, "finding"))
    if notes:
        parts.append(_plural(notes, "note"))
    complete = coverage is None or coverage.complete
    if complete:
        match = f"{class_name}: {matched}/{total} tensors match"
    else:
        assert coverage is not None
        compared = coverage.checked + coverage.keys_only
        match = f"{class_name}: {compared}/{coverage.tensors} tensors checked · {coverage.unchecked} not checked"
    if coverage is not None and coverage.keys_only and complete:
        match += f" · {coverage.keys_only} by key only"
    if failing:
        parts.append(match)
    elif complete:
        parts.insert(0, _paint("✓", _GREEN, color) + " " + match)
    else:
        parts.insert(0, _paint("?", _BOLD, color) + " " + match)
    parts.append(name)
    if lines:
        lines.append("")
    lines.append(" · ".join(parts))
    return "\n".join(lines) + "\n"


# -- map ------------------------------------------------------------------------------------


def map_to_json(
    mapping: KeyMapping, state_dict_path: Sequence[str] | None = None
) -> dict[str, Any]:
    """SPEC section 1: `{"mapping": {checkpoint_key: model_key}, "dropped": [...], "missing": [...]}`,
    then, when given, `"state_dict_path"`: where the file keeps the state_dict the mapping applies
    to, as `inspect` says it (`[]`: the file is the state_dict)."""
    data = mapping.to_json()
    if state_dict_path is not None:
        data["state_dict_path"] = list(state_dict_path)
    return data


def render_map_text(
    comparison: Comparison, *, color: bool = False, checkpoint: CheckpointIndex | None = None
) -> str:
    """A readable account of the mapping: where the state_dict sits in the file (with
    `checkpoint`), prefix change, renames, dropped and missing keys."""
    mapping = comparison.mapping
    sections: list[list[str]] = []
    kept = len(mapping.mapping)
    renamed = sum(1 for k, v in mapping.mapping.items() if k != v)
    head = [
        f"{kept} checkpoint keys kept ({renamed} under a new name), {len(mapping.dropped)} dropped, "
        f"{len(mapping.missing)} model keys missing"
    ]
    sections.append(head)
    wrapped = checkpoint is not None and bool(checkpoint.state_dict_path)
    if checkpoint is not None:
        sections.append([_paint("state_dict", _BOLD, color), "  " + _state_dict_place(checkpoint)])
    prefix = comparison.prefix
    if prefix is not None:
        title = _paint("prefix", _BOLD, color)
        if prefix.strip:
            sections.append([title, f'  strip "{prefix.strip}" from every key that starts with it'])
        else:
            sections.append([title, f'  add "{prefix.add}" in front of every key'])
    if comparison.renames:
        width = max(len(c) for c, _ in comparison.renames)
        rows = [_paint("renames", _BOLD, color) + "  (checkpoint → model)"]
        rows += [f"  {c.ljust(width)}  →  {m}" for c, m in comparison.renames]
        sections.append(rows)
    if mapping.dropped:
        rows = [_paint("dropped", _BOLD, color) + "  (checkpoint keys the model cannot take)"]
        rows += _key_rows(mapping.dropped)
        sections.append(rows)
    if mapping.missing:
        rows = [
            _paint("missing", _BOLD, color)
            + "  (model keys the checkpoint cannot fill: strict=False)"
        ]
        rows += _key_rows(mapping.missing)
        sections.append(rows)
    unchecked = comparison.coverage.unchecked
    if unchecked:
        sections.append(
            [
                _paint("not checked", _BOLD, color)
                + f"  ({_plural(unchecked, 'checkpoint tensor')} under parts of the model the analysis"
                " could not resolve: kept as they are, unverified)"
            ]
        )
    if prefix is None and not comparison.renames and not mapping.dropped and not mapping.missing:
        what = "its state_dict loads as it is" if wrapped else "the checkpoint loads as it is"
        if unchecked:
            sections.append([_paint("?", _BOLD, color) + f" identity for what was checked: {what}, as far as known"])
        else:
            sections.append([_paint("✓", _GREEN, color) + f" identity: {what}"])
    return "\n\n".join("\n".join(rows) for rows in sections) + "\n"


def _state_dict_place(checkpoint: CheckpointIndex) -> str:
    path = checkpoint.state_dict_path
    if not path:
        return "the file itself"
    others = [e for e in checkpoint.entries if e != path[0]]
    dropped = f"; the file's other entries are dropped: {', '.join(others)}" if others else ""
    return f"torch.load(path){subscript_path(path)}{dropped}"


def _key_rows(keys: Sequence[str], limit: int = 200) -> list[str]:
    patterns = collapse_keys(keys)
    rows = [f"  {p}" for p in patterns[:limit]]
    if len(patterns) > limit:
        rows.append(f"  ... and {len(patterns) - limit} more")
    return rows


# -- keys -----------------------------------------------------------------------------------


def keys_to_json(predicted: PredictedStateDict) -> dict[str, Any]:
    """SPEC section 1: `{"keys": {key: [int | null, ...] | null}, "findings": [...]}`."""
    return {
        "keys": {
            key: (None if t.shape is None else list(t.shape))
            for key, t in predicted.tensors.items()
        },
        "findings": [f.to_json() for f in predicted.findings],
    }


def render_keys_text(
    predicted: PredictedStateDict,
    color: bool = False,
    *,
    checkpoint: Mapping[str, TensorInfo] | None = None,
    comparison: Comparison | None = None,
) -> str:
    """An aligned table `key  shape` (`?` for unknown dims), buffers and dtypes marked, unknown
    parts listed. With a checkpoint, a third column shows the shape found there (through the
    comparison's mapping when given) and whether it fits."""
    filled_by: dict[str, str] = {}
    if checkpoint is not None:
        if comparison is not None:
            filled_by = {model: ck for ck, model in comparison.mapping.mapping.items()}
            for finding in comparison.findings:
                for model_key, ck, *_ in dict(finding.data).get("shapes", ()):
                    filled_by[model_key] = ck
        else:
            filled_by = {k: k for k in checkpoint}
    # Columns: key, shape, remarks (buffer, dtype), then the checkpoint's side.
    rows: list[tuple[str, str, str, str, str, str]] = []
    for key, tensor in predicted.tensors.items():
        remarks = []
        if tensor.kind != "parameter":
            remarks.append(tensor.kind)
        if tensor.dtype != "float32":
            remarks.append(tensor.dtype)
        mark = found = source_note = ""
        if checkpoint is not None:
            source = filled_by.get(key)
            info = checkpoint.get(source) if source is not None else None
            if info is not None:
                found = format_shape(info.shape)
                if source != key:
                    source_note = f"← {source}"
            if predicted.is_unknown(key):
                mark = "?"
            elif info is None:
                mark, found = "✗", "absent"
            else:
                mark = "✓" if shapes_compatible(tensor.shape, info.shape) else "✗"
        remark = f"({', '.join(remarks)})" if remarks else ""
        rows.append((key, format_shape(tensor.shape), remark, mark, found, source_note))
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(6)]
    lines = []
    for key, shape, remark, mark, found, source_note in rows:
        cells = [key.ljust(widths[0]), shape.ljust(widths[1])]
        if widths[2]:
            cells.append(_paint(remark, _DIM, color) + " " * (widths[2] - len(remark)))
        if checkpoint is not None:
            style = _GREEN if mark == "✓" else _RED if mark == "✗" else _DIM
            cells.append(_paint(mark or " ", style, color) + " " + found.ljust(widths[4]))
            cells.append(source_note)
        lines.append("  ".join(cells).rstrip())
    for part in predicted.unknown:
        where = f"{part.prefix}.*" if part.prefix else "(whole model)"
        text = f"{where.ljust(widths[0])}  {'?'.ljust(widths[1])}  unknown: {part.reason}"
        lines.append(_paint(text, _DIM, color))
    summary = f"{predicted.class_name}: {_plural(len(predicted.tensors), 'tensor')}"
    if predicted.unknown:
        summary += f" · {_plural(len(predicted.unknown), 'unknown part')}"
    unknown_dims = sum(
        1 for t in predicted.tensors.values() if t.shape is None or any(d is None for d in t.shape)
    )
    if unknown_dims:
        summary += f" · {unknown_dims} with unknown shape"
    if lines:
        lines.append("")
    lines.append(summary)
    return "\n".join(lines) + "\n"
