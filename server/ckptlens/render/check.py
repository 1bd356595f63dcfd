"""`check` output (SPEC sections 1 and 5): the JSON object, SARIF 2.1.0 and the text report,
for one class and for the whole workspace. Nothing here computes a result; it only formats one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptlens.findings import Finding, Severity
from ckptlens.render.style import BOLD, COLORS, GREEN, RED, display_path, paint, plural
from ckptlens.textsafe import escape_control

if TYPE_CHECKING:
    from ckptlens.engine.model import Coverage
    from ckptlens.workspace_check import WorkspaceReport

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
        where = f"{display_path(finding.range.file, cwd)}:{line}:{column}:"
        code = paint(finding.code, COLORS[finding.severity], color)
        lines.append(f"{paint(where, BOLD, color)} {code} {escape_control(finding.message)}")
    failing = sum(1 for f in findings if f.fails)
    notes = len(findings) - failing
    name = os.path.basename(checkpoint_path.rstrip("/\\")) or checkpoint_path
    parts = []
    if failing:
        parts.append(paint("✗", RED, color) + " " + plural(failing, "finding"))
    if notes:
        parts.append(plural(notes, "note"))
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
        parts.insert(0, paint("✓", GREEN, color) + " " + match)
    else:
        parts.insert(0, paint("?", BOLD, color) + " " + match)
    parts.append(name)
    if lines:
        lines.append("")
    lines.append(" · ".join(parts))
    return "\n".join(lines) + "\n"



def workspace_to_json(report: WorkspaceReport) -> dict[str, Any]:
    """SPEC section 5: the findings, each with its `"link"`."""
    return {"findings": [w.to_json() for w in report.findings]}


def workspace_to_sarif(report: WorkspaceReport, tool_version: str) -> dict[str, Any]:
    """One run, every file; each result's properties name the checkpoint it was compared with."""
    sarif = check_to_sarif([w.finding for w in report.findings], tool_version)
    for result, item in zip(sarif["runs"][0]["results"], report.findings, strict=True):
        result["properties"]["link"] = item.link
    return sarif


def render_workspace_text(report: WorkspaceReport, *, color: bool, cwd: str) -> str:
    """`path:line:col: code message` lines, then `✗ 3 findings · 12 linked classes checked`."""
    lines = []
    for item in report.findings:
        f = item.finding
        line, column = f.range.json_position
        lines.append(f"{display_path(f.range.file, cwd)}:{line}:{column}: {f.code} {f.message}")
    failing = sum(1 for w in report.findings if w.finding.fails)
    notes = len(report.findings) - failing
    links = f"{report.links} linked class{'es' if report.links != 1 else ''} checked"
    if failing:
        summary = f"✗ {failing} finding{'s' if failing != 1 else ''}"
        summary += f" · {notes} note{'s' if notes != 1 else ''}" if notes else ""
        summary += f" · {links}"
    else:
        summary = f"✓ {links}" + (f" · {notes} note{'s' if notes != 1 else ''}" if notes else "")
    if color:
        mark, rest = summary[0], summary[1:]
        summary = ("\033[1;31m" if failing else "\033[1;32m") + mark + "\033[0m" + rest
    return "\n".join([*lines, summary]) + "\n"
