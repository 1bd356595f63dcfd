"""What an analysis of one document produces, frozen: each link's check (`LinkResult`), the
document's diagnostics, lenses and results (`DocumentAnalysis`). Made by `Session` in the
worker process, read by the server's handlers without locking."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from ckptlens.api import CheckResult
from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.findings import Finding, SourceRange
from ckptlens.render.lens import lens_title
from ckptlens.workspace.model import FileScan, Link, Resolution
from ckptlens.workspace.rules import LinkFinding


@dataclass(frozen=True)
class LinkResult:
    link: Link
    resolution: Resolution
    result: CheckResult | None = None
    error: str | None = None  # the one-line reason the checkpoint or the class could not be used
    error_code: str | None = None
    raw_index: CheckpointIndex | None = None  # before any generated mapping was applied
    given: frozenset[str] = frozenset()  # constructor arguments the check passed explicitly

    @property
    def label(self) -> str:
        if self.resolution.hub_id:
            return self.resolution.hub_id
        path = self.resolution.path or self.link.checkpoint
        return os.path.basename(path.rstrip("/\\")) or path

    @property
    def mismatches(self) -> list[Finding]:
        return [f for f in self.result.findings if f.is_mismatch] if self.result else []


@dataclass(frozen=True)
class Lens:
    range: SourceRange
    title: str
    class_name: str
    mismatching: bool


@dataclass(frozen=True)
class DocumentAnalysis:
    path: str
    version: int | None
    problems: tuple[LinkFinding, ...] = ()  # the diagnostics: findings and their checkpoints
    results: tuple[LinkResult, ...] = ()
    lenses: tuple[Lens, ...] = ()
    scan: FileScan | None = None
    stale: bool = False  # the source did not parse: these are the last good results
    failure: str | None = None  # the last analysis raised (one line): these are the last good
    # Not analysed, or stopped: (code, one-line reason); any results are the last good ones.
    halted: tuple[str, str] | None = None


def keep_last_good(previous: DocumentAnalysis | None, path: str, version: int | None) -> DocumentAnalysis:
    """The last good analysis of the document (none: an empty one), as of `version`, stale."""
    if previous is None:
        return DocumentAnalysis(path, version, stale=True)
    return replace(previous, version=version, stale=True)


def lens_of(outcome: LinkResult) -> Lens:
    assert outcome.link.class_range is not None
    return Lens(
        outcome.link.class_range,
        lens_title(outcome),
        outcome.link.class_name,
        bool(outcome.mismatches),
    )
