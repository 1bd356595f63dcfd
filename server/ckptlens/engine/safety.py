"""The rule on a checkpoint's safety (SPEC section 5), as a finding."""

from __future__ import annotations

from ckptlens.checkpoint.weights_only import SAFE, Safety
from ckptlens.engine.messages import UnsafeCheckpoint
from ckptlens.findings import Finding, SourceRange


def safety_findings(safety: Safety, where: SourceRange) -> list[Finding]:
    """SPEC section 5: a checkpoint that is not `safe` is an `unsafe-checkpoint` warning, on
    the line of the class it was compared with; the globals are its `checkpoint_keys`."""
    if safety.verdict == SAFE:
        return []
    return [UnsafeCheckpoint(safety.summary(), tuple(safety.globals)).at(where)]
