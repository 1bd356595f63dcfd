"""What the language server shows for one document, computed without pygls.

`Session` owns the engine objects (one `Analyzer` and its parse cache, the workspace link
index) and is only ever called from the server's single analysis thread; the server hands it
immutable snapshots (document texts, checkpoint indexes read elsewhere) and gets frozen
results back (`DocumentAnalysis`, `lsp/results.py`), which handlers then read without locking.
Here: which links matter for a document, each link checked (cached by checkpoint stamp and
mapping), the document's diagnostics and lenses. Its code actions are in `lsp/actions.py`.
"""

from __future__ import annotations

import ast
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ckptlens.api import (
    Analyzer,
    CheckResult,
    ConfigError,
    Loader,
    ParsedMapping,
    SourceError,
    TargetError,
    check,
    remap_tensors,
)
from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.findings import (
    CHECKPOINT_ERROR,
    LINK_ERROR,
    SOURCE_ERROR,
    Severity,
)
from ckptlens.lsp.actions import CodeActions
from ckptlens.lsp.checkpoints import checkpoint_stamp  # noqa: F401 - workspace_check imports it here
from ckptlens.lsp.results import DocumentAnalysis, LinkResult, keep_last_good, lens_of
from ckptlens.render.constructor import link_sources
from ckptlens.workspace.index import WorkspaceIndex
from ckptlens.workspace.model import (
    EMPTY_SCAN,
    FileScan,
    Link,
    Resolution,
)
from ckptlens.workspace.resolution import resolve_checkpoint, resolve_path
from ckptlens.workspace.rules import LinkFinding, link_findings


@dataclass
class SessionOptions:
    hf_cache: str | None = None
    strict_false_ratio: float = 0.5
    unverified_severity: str = "warning"
    scan_workspace: bool = True
    max_files: int = 5000
    links: Sequence[Any] = ()


# -- the session ----------------------------------------------------------------------------


class Session(CodeActions):
    """Engine state for one workspace. Call only from one thread."""

    CACHE_SIZE = 64

    def __init__(self, roots: Sequence[str], options: SessionOptions | None = None) -> None:
        self.roots = [os.path.abspath(r) for r in roots]
        self.options = options or SessionOptions()
        self.overlays: dict[str, str] = {}
        self.loader = Loader(self.roots, overlays=self.overlays)
        self.analyzer = Analyzer(self.loader)
        self.index = WorkspaceIndex(
            self.roots,
            self.loader.find_module,
            max_files=self.options.max_files,
            parse=self._engine_tree,
        )
        self._checks: OrderedDict[tuple[Any, ...], LinkResult] = OrderedDict()  # this generation's
        self._generation = -1
        self._touches: dict[str, frozenset[str]] = {}  # link key -> files its findings point into
        self.problems: list[str] = []  # from pyproject / settings, for the log
        self.log: list[str] = []  # engine trouble worth a window/logMessage; the server drains it
        # Files treated as empty (no links, no classes): the server's worker skips those whose
        # analysis overran its time, until they change.
        self.skip: frozenset[str] = frozenset()
        # Told the file about to be scanned or checked (the server's worker reports it, so
        # that an analysis killed for overrunning is blamed on the right file).
        self.progress: Callable[[str], None] | None = None
        scan = self.index.scan

        def scan_unless_skipped(path: str, overlays: Mapping[str, str]) -> FileScan:
            if path in self.skip:
                return replace(EMPTY_SCAN, path=path)
            if self.progress is not None:
                self.progress(path)
            return scan(path, overlays)

        self.index.scan = scan_unless_skipped  # type: ignore[method-assign]

    def _engine_tree(self, path: str, text: str) -> ast.Module | None:
        """The engine's (cached) parse of `path`, when it is of this very text."""
        try:
            source = self.loader.load(path)
        except SourceError:
            return None
        return source.tree if source.text == text else None

    def configure(self, options: SessionOptions) -> None:
        self.options = options
        self.index.max_files = options.max_files
        self.index.invalidate()
        self._checks.clear()

    def set_roots(self, roots: Sequence[str]) -> None:
        """Workspace folders were added or removed: links, imports and scans follow them."""
        self.roots[:] = [os.path.abspath(r) for r in roots]  # the index shares this list
        self.index.roots = self.roots
        self.loader.extra_paths = [os.path.realpath(r) for r in self.roots]
        self.index.invalidate()
        self._checks.clear()
        self._touches.clear()

    def sync(self, overlays: Mapping[str, str]) -> None:
        """Make the engine see exactly these unsaved buffers."""
        if overlays != self.overlays:
            self.overlays.clear()
            self.overlays.update(overlays)

    def forget(self) -> None:
        """Something changed on disk: drop results (parse caches check their own stamps)."""
        self._checks.clear()
        self.index.invalidate()

    # -- planning: which links matter for a document, and their checkpoints --

    def links(self) -> list[Link]:
        links, self.problems = self.index.links(
            self.overlays, self.options.links, scan_files=self.options.scan_workspace
        )
        return links

    def plan(
        self, path: str, overlays: Mapping[str, str]
    ) -> tuple[list[tuple[Link, Resolution]], set[str]]:
        """The links that matter for `path` with their checkpoints resolved, and the other
        files whose diagnostics share those links."""
        self.sync(overlays)
        planned = []
        related: set[str] = set()
        for link in self.links():
            files = {
                link.class_file,
                *([link.site_file] if link.site_file else []),
                *self._touches.get(link.key, ()),
            }
            if path in files:
                planned.append((link, resolve_checkpoint(link, self.options.hf_cache)))
                related |= files
        related.discard(path)
        return planned, related

    def check_link(
        self,
        link: Link,
        resolution: Resolution,
        indexes: Mapping[str, CheckpointIndex | str],
        stamps: Mapping[str, Any],
    ) -> LinkResult:
        """One link checked on its own, as `analyse` checks it (for `ckptlens check`)."""
        return self._result(link, resolution, indexes, stamps, self._generation)

    # -- analysing --

    def analyse(
        self,
        path: str,
        version: int | None,
        overlays: Mapping[str, str],
        planned: Sequence[tuple[Link, Resolution]],
        indexes: Mapping[str, CheckpointIndex | str],
        previous: DocumentAnalysis | None,
        stamps: Mapping[str, Any],
        generation: int,
    ) -> DocumentAnalysis:
        """`indexes`: checkpoint path -> its index, or the one-line reason it cannot be read."""
        self.sync(overlays)
        scan = self.index.scan(path, overlays)
        if path in overlays and (not scan.ok or scan.stale):
            return keep_last_good(previous, path, version)
        results: list[LinkResult] = []
        for link, resolution in planned:
            outcome = self._result(link, resolution, indexes, stamps, generation)
            if outcome.error_code == SOURCE_ERROR and link.class_file == path:
                return keep_last_good(previous, path, version)
            results.append(outcome)
        problems = self._problems(path, results)
        lenses = tuple(
            lens_of(r) for r in results if r.link.class_file == path and r.link.class_range
        )
        return DocumentAnalysis(path, version, tuple(problems), tuple(results), lenses, scan)

    def _result(
        self,
        link: Link,
        resolution: Resolution,
        indexes: Mapping[str, CheckpointIndex | str],
        stamps: Mapping[str, Any],
        generation: int,
    ) -> LinkResult:
        if resolution.path is None:
            return LinkResult(link, resolution)
        index = indexes.get(resolution.path)
        if index is None:
            return LinkResult(
                link, resolution, error=f"{resolution.path}: not read", error_code=CHECKPOINT_ERROR
            )
        if isinstance(index, str):
            return LinkResult(link, resolution, error=index, error_code=CHECKPOINT_ERROR)
        decl = self.index.class_decl(link.class_file, link.class_name, self.overlays)
        mappings = tuple(
            m for m in (link.site_mapping, decl.mapping if decl else None) if m is not None
        )
        if generation != self._generation:
            self._checks.clear()  # keyed by generation: older results can never be asked for again
            self._generation = generation
        key = (link.key, resolution.path, stamps.get(resolution.path), mappings)
        cached = self._checks.get(key)
        if cached is not None:
            self._checks.move_to_end(key)
            return replace(cached, link=link)
        outcome = self._check(link, resolution, index, mappings)
        self._checks[key] = outcome
        while len(self._checks) > self.CACHE_SIZE:
            self._checks.popitem(last=False)
        if outcome.result is not None:
            files = {f.range.file for f in outcome.result.findings}
            self._touches[link.key] = frozenset(files)
        if len(self._touches) > 4 * self.CACHE_SIZE:
            self._touches.pop(next(iter(self._touches)))
        return outcome

    def _check(
        self,
        link: Link,
        resolution: Resolution,
        index: CheckpointIndex,
        mappings: Sequence[ParsedMapping],
    ) -> LinkResult:
        if self.progress is not None:
            self.progress(link.class_file)
        mapped = index
        for mapping in mappings:
            mapped = replace(mapped, tensors=remap_tensors(mapping, mapped.tensors))
        try:
            init = self.init_arguments(link)
            config = self._config(link)
            result = check(
                link.class_file,
                link.class_name,
                mapped,
                init=init,
                config=config,
                analyzer=self.analyzer,
                unverified_severity=Severity(self.options.unverified_severity),
                **link_sources(link, config),
            )
        except SourceError as exc:
            return LinkResult(
                link, resolution, error=str(exc), error_code=SOURCE_ERROR, raw_index=index
            )
        except (TargetError, ConfigError) as exc:
            self.log.append(f"{link.class_name} ({link.class_file}): {exc}")
            return LinkResult(
                link, resolution, error=str(exc), error_code=LINK_ERROR, raw_index=index
            )
        except Exception as exc:  # noqa: BLE001 - an engine bug must not take the server down
            self.log.append(
                f"internal error checking {link.class_name} against {resolution.path}: {type(exc).__name__}: {exc}"
            )
            return LinkResult(
                link, resolution, error=str(exc), error_code="internal-error", raw_index=index
            )
        given = set(init)
        if index.hyper_parameters:
            given |= set(index.hyper_parameters)
        if link.config or index.config:
            given.add("config")
        # whatever a default does not decide (a checkpoint record, config.json keys, ...)
        given |= {name for name, v in result.predicted.constructor.items() if v.source not in ("default", "not given")}
        return LinkResult(link, resolution, result=result, raw_index=index, given=frozenset(given))

    def init_arguments(self, link: Link) -> dict[str, Any]:
        init = link.init_kwargs()
        if link.init_positional:
            params = self.analyzer.describe(link.class_file, link.class_name).params
            for position, value in link.init_positional:
                if position < len(params):
                    init.setdefault(params[position], value)
        return init

    def _config(self, link: Link) -> str | None:
        if not link.config:
            return None
        found = resolve_path(link.config, link.search_dirs)
        if found.path is None:
            raise ConfigError(f"{link.config}: no such file")
        return found.path

    def raw_result(self, outcome: LinkResult) -> CheckResult | None:
        """The check without any generated mapping: what a new mapping must start from."""
        if outcome.raw_index is None:
            return None
        try:
            return check(
                outcome.link.class_file,
                outcome.link.class_name,
                outcome.raw_index,
                init=self.init_arguments(outcome.link),
                config=self._config(outcome.link),
                analyzer=self.analyzer,
                unverified_severity=Severity(self.options.unverified_severity),
            )
        except (SourceError, TargetError, ConfigError):
            return None
        except Exception as exc:  # noqa: BLE001
            self.log.append(
                f"internal error re-checking {outcome.link.class_name}: {type(exc).__name__}: {exc}"
            )
            return None

    def _problems(self, path: str, results: Sequence[LinkResult]) -> list[LinkFinding]:
        seen: set[tuple[Any, ...]] = set()
        out: list[LinkFinding] = []

        def add(item: LinkFinding) -> None:
            f = item.finding
            key = (f.range, f.code, f.message)
            if key not in seen:
                seen.add(key)
                out.append(item)

        for outcome in results:
            for item in link_findings(
                path, outcome, self.options.strict_false_ratio, self.options.hf_cache
            ):
                add(item)
        out.sort(key=lambda p: (p.finding.range.start_line, p.finding.range.start_col, p.finding.code))
        return out

