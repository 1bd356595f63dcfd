"""The findings about one link (a class linked to a checkpoint), beyond the comparison itself:
a missing or refused checkpoint, an unusable link, `strict=False` hiding a large mismatch,
CUDA tensors loaded without `map_location`. The language server and `ckptlens check` (no
SOURCE) both call `link_findings`; each finding comes with the checkpoint it is about.

Pure: no pygls/lsprotocol; what it reads of a link's outcome is the `LinkOutcome` protocol
(`ckptlens.lsp.analysis.LinkResult` satisfies it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ckptlens.checkpoint.remote import is_unavailable
from ckptlens.findings import (
    CHECKPOINT_ERROR,
    CUDA_TENSORS,
    MISSING_KEY,
    STRICT_FALSE,
    UNEXPECTED_KEY,
    Finding,
    Severity,
    SourceRange,
)

if TYPE_CHECKING:
    from ckptlens.api import CheckResult
    from ckptlens.links import Link, Resolution

CHECKPOINT_MISSING = "checkpoint-missing"
HUB_NOT_CACHED = "hub-not-cached"
LINK_ERROR = "link-error"  # the link itself is unusable (its config file is missing, ...)


class LinkOutcome(Protocol):
    @property
    def link(self) -> Link: ...
    @property
    def resolution(self) -> Resolution: ...
    @property
    def result(self) -> CheckResult | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class LinkFinding:
    finding: Finding
    checkpoint: str | None  # the checkpoint file it is about (None: not found)


def link_findings(
    path: str | None, outcome: LinkOutcome, strict_ratio: float, hf_cache: str | None
) -> list[LinkFinding]:
    """The findings of one link that sit in `path` (None: in every file)."""
    link = outcome.link
    # Where a problem with the checkpoint itself goes: the path string, else the class name.
    anchor: SourceRange | None = None
    if link.site_file is not None and link.path_range is not None and path in (None, link.site_file):
        anchor = link.path_range
    elif link.site_file is None and path in (None, link.class_file):
        anchor = link.class_range
    resolution = outcome.resolution
    out: list[LinkFinding] = []
    if resolution.path is None:
        if anchor is None:
            return []
        if resolution.hub_id:
            cache = hf_cache or "~/.cache/huggingface/hub"
            message = (
                f"`{resolution.hub_id}` is not in the local Hugging Face cache ({cache}): download it once "
                f"to check `{link.class_name}` against it"
            )
            return [LinkFinding(Finding(HUB_NOT_CACHED, Severity.INFORMATION, anchor, message), None)]
        severity = Severity.WARNING if link.is_explicit else Severity.INFORMATION
        message = f"checkpoint not found: {link.checkpoint} (looked for {', '.join(resolution.tried)})"
        return [LinkFinding(Finding(CHECKPOINT_MISSING, severity, anchor, message), None)]
    if outcome.error_code == CHECKPOINT_ERROR:
        if anchor is None:
            return []
        if resolution.hub_id and is_unavailable(outcome.error or ""):
            cache = hf_cache or "~/.cache/huggingface/hub"
            message = (
                f"`{resolution.hub_id}` is not in the local Hugging Face cache ({cache}) and the Hub "
                f"could not be read ({_one_line(outcome.error or '')}): download it once, or go "
                f"online, to check `{link.class_name}` against it"
            )
            return [LinkFinding(Finding(HUB_NOT_CACHED, Severity.INFORMATION, anchor, message), None)]
        finding = Finding(CHECKPOINT_ERROR, Severity.ERROR, anchor, _one_line(outcome.error or ""))
        return [LinkFinding(finding, resolution.path)]
    if outcome.error_code == LINK_ERROR and anchor is not None:
        finding = Finding(LINK_ERROR, Severity.WARNING, anchor, _one_line(outcome.error or ""))
        return [LinkFinding(finding, resolution.path)]
    if outcome.result is None:
        return []
    result = outcome.result
    checkpoint = result.index.path
    for finding in result.findings:
        if path is not None and finding.range.file != path:
            continue
        if finding.code == CUDA_TENSORS and link.map_location is not None:
            continue  # reported at the load call, which decides
        if link.strict_false and finding.code in (MISSING_KEY, UNEXPECTED_KEY):
            continue  # what strict=False is written to tolerate; a large mismatch is reported there
        out.append(LinkFinding(finding, checkpoint))
    if link.site_file is not None and path in (None, link.site_file) and link.path_range is not None:
        comparison = result.comparison
        if link.strict_false and comparison is not None and comparison.total:
            if comparison.matched < strict_ratio * comparison.total:
                message = (
                    f"strict=False hides a large mismatch: only {comparison.matched} of {comparison.total} "
                    f"tensors of `{link.class_name}` would load from {outcome.label}; the rest keep their "
                    "initial values"
                )
                out.append(
                    LinkFinding(Finding(STRICT_FALSE, Severity.WARNING, link.path_range, message), checkpoint)
                )
        if link.map_location is False:
            cuda = [t.device for t in result.index.tensors.values() if t.device.startswith("cuda")]
            if cuda:
                message = (
                    f"{len(cuda)} tensor(s) in {outcome.label} were saved on {', '.join(sorted(set(cuda)))}: "
                    'loading without map_location fails on a machine without CUDA; pass map_location="cpu"'
                )
                out.append(
                    LinkFinding(Finding(CUDA_TENSORS, Severity.WARNING, link.path_range, message), checkpoint)
                )
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "cannot read the checkpoint"
