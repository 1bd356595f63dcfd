"""The findings about one link (a class linked to a checkpoint), beyond the comparison itself:
a missing or refused checkpoint, an unusable link, `strict=False` hiding a large mismatch,
CUDA tensors loaded without `map_location`. The language server and `ckptlens check` (no
SOURCE) both call `link_findings`; each finding comes with the checkpoint it is about.

Pure: no pygls/lsprotocol; what it reads of a link's outcome is the `LinkOutcome` protocol
(`ckptlens.lsp.results.LinkResult` satisfies it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ckptlens.checkpoint.remote import is_unavailable
from ckptlens.engine.messages import (
    CheckpointMissing,
    CheckpointUnreadable,
    CudaTensorsAtLoad,
    HubNotCached,
    HubUnreachable,
    LinkUnusable,
    NoSuchEntry,
    StrictFalseHidesMismatch,
    WholeCheckpointLoaded,
)
from ckptlens.findings import (
    CHECKPOINT_ERROR,
    CUDA_TENSORS,
    LINK_ERROR,
    MISSING_KEY,
    UNEXPECTED_KEY,
    Finding,
    Severity,
    SourceRange,
)

if TYPE_CHECKING:
    from ckptlens.api import CheckResult
    from ckptlens.workspace.model import Link, Resolution


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
            hub = HubNotCached(resolution.hub_id, cache, link.class_name)
            return [LinkFinding(hub.at(anchor), None)]
        severity = Severity.WARNING if link.is_explicit else Severity.INFORMATION
        missing = CheckpointMissing(link.checkpoint, tuple(resolution.tried))
        return [LinkFinding(missing.at(anchor, severity), None)]
    if outcome.error_code == CHECKPOINT_ERROR:
        if anchor is None:
            return []
        if resolution.hub_id and is_unavailable(outcome.error or ""):
            cache = hf_cache or "~/.cache/huggingface/hub"
            unreachable = HubUnreachable(
                resolution.hub_id, cache, link.class_name, outcome.error or ""
            )
            return [LinkFinding(unreachable.at(anchor), None)]
        return [LinkFinding(CheckpointUnreadable(outcome.error or "").at(anchor), resolution.path)]
    if outcome.error_code == LINK_ERROR and anchor is not None:
        return [LinkFinding(LinkUnusable(outcome.error or "").at(anchor), resolution.path)]
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
                hidden = StrictFalseHidesMismatch(
                    comparison.matched, comparison.total, link.class_name, outcome.label
                )
                out.append(LinkFinding(hidden.at(link.path_range), checkpoint))
        selected = _selected_entry_finding(link, result, outcome.label)
        if selected is not None:
            out.append(LinkFinding(selected.at(link.state_arg_range or link.path_range), checkpoint))
        if link.map_location is False:
            cuda = [t.device for t in result.index.tensors.values() if t.device.startswith("cuda")]
            if cuda:
                unmapped = CudaTensorsAtLoad(len(cuda), outcome.label, tuple(sorted(set(cuda))))
                out.append(LinkFinding(unmapped.at(link.path_range), checkpoint))
    return out


_TORCH_FORMATS = ("torch-zip", "torch-legacy")


def _selected_entry_finding(
    link: Link, result: CheckResult, label: str
) -> WholeCheckpointLoaded | NoSuchEntry | None:
    """`load_state_dict(torch.load(p))` on a file whose weights sit under `["state_dict"]`
    (torch: every key missing; strict=False: nothing loaded), or `torch.load(p)["model"]` on a
    file without that entry (KeyError). Only for a plain selection the site finder followed."""
    given = link.state_entries
    index = result.index
    if given is None or index.format not in _TORCH_FORMATS or not index.entries:
        return None
    expected = index.state_dict_path
    if given and given[0] not in index.entries:
        return NoSuchEntry(given[0], expected, index.entries, label)
    if len(given) < len(expected) and expected[: len(given)] == given:
        return WholeCheckpointLoaded(
            given, expected, index.entries, len(index.tensors), link.strict_false, label
        )
    return None
