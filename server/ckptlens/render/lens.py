"""A linked class's code lens title: `✓ 6/6 tensors match · model.pt`, `✗ 2 missing · 1 renamed
· model.pt`, `? 4/6 tensors checked · 2 not checked · model.pt`, or why the link cannot be
checked. The hover's header repeats it."""

from __future__ import annotations

from typing import Protocol

from ckptlens.findings import (
    KEY_PREFIX,
    MISSING_KEY,
    RENAMED_MODULE,
    SHAPE_MISMATCH,
    UNEXPECTED_KEY,
    Finding,
)
from ckptlens.workspace.rules import LinkOutcome


class CheckedLink(LinkOutcome, Protocol):
    """What is shown of one link's check (`ckptlens.lsp.results.LinkResult` satisfies it)."""

    @property
    def mismatches(self) -> list[Finding]: ...


def lens_title(outcome: CheckedLink) -> str:
    label = outcome.label
    if outcome.resolution.path is None:
        return f"⚠ {label}: not found"
    if outcome.result is None:
        return f"⚠ {label}: cannot be checked"
    comparison = outcome.result.comparison
    matched, total = (comparison.matched, comparison.total) if comparison is not None else (0, 0)
    coverage = outcome.result.coverage
    unchecked = f" · {coverage.unchecked} not checked" if coverage.unchecked else ""
    mismatches = outcome.mismatches
    if not mismatches:
        if coverage.unchecked:
            compared = coverage.checked + coverage.keys_only
            return f"? {compared}/{coverage.tensors} tensors checked{unchecked} · {label}"
        return f"✓ {matched}/{total} tensors match · {label}"
    counts: dict[str, int] = {}
    for finding in mismatches:
        if finding.code == MISSING_KEY:
            counts["missing"] = counts.get("missing", 0) + len(finding.model_keys)
        elif finding.code == UNEXPECTED_KEY:
            counts["unexpected"] = counts.get("unexpected", 0) + len(finding.checkpoint_keys)
        elif finding.code == SHAPE_MISMATCH:
            counts["shape mismatch"] = counts.get("shape mismatch", 0) + len(finding.model_keys)
        elif finding.code == RENAMED_MODULE:
            counts["renamed"] = counts.get("renamed", 0) + 1
        elif finding.code == KEY_PREFIX:
            counts["prefix"] = counts.get("prefix", 0) + 1
    order = ("missing", "unexpected", "shape mismatch", "renamed", "prefix")
    parts = [f"{counts[k]} {k}" for k in order if k in counts]
    return f"✗ {' · '.join(parts)}{unchecked} · {label}"

