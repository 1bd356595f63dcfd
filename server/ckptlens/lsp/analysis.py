"""What the language server shows for one document, computed without pygls.

`Session` owns the engine objects (one `Analyzer` and its parse cache, the workspace link
index) and is only ever called from the server's single analysis thread; the server hands it
immutable snapshots (document texts, checkpoint indexes read elsewhere) and gets frozen
results back (`DocumentAnalysis`), which handlers then read without locking.
"""

from __future__ import annotations

import ast
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ckptlens.api import (
    DEFAULT_FUNCTION_NAME,
    Analyzer,
    CheckResult,
    ConfigError,
    Inferred,
    Loader,
    ParsedMapping,
    ShapeMismatch,
    SourceError,
    TargetError,
    check,
    remap_tensors,
    render_python,
)
from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.checkpoint.remote import is_remote, remote_stamp
from ckptlens.findings import (
    CHECKPOINT_ERROR,
    INFERRED,
    LINK_ERROR,
    RENAMED_MODULE,
    SHAPE_MISMATCH,
    SOURCE_ERROR,
    Finding,
    Fix,
    Severity,
    SourceRange,
)
from ckptlens.render.constructor import link_sources
from ckptlens.render.lens import lens_title
from ckptlens.workspace.index import WorkspaceIndex
from ckptlens.workspace.model import (
    DIRECTIVE,
    EMPTY_SCAN,
    LOAD_STATE_DICT,
    FileScan,
    Link,
    Resolution,
)
from ckptlens.workspace.resolution import resolve_checkpoint, resolve_path
from ckptlens.workspace.rules import LinkFinding, link_findings

GENERATE_MAPPING_TITLE = "Generate key mapping"


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


def directive_values_fix(link: Link, finding: Finding, source: str) -> Fix | None:
    """"Use the checkpoint's values": the inferred values written into the class's
    `# ckptlens:` directive as `init:` entries (`init:n_layer=6 init:config.n_embd=32`)."""
    values = finding.details.plain if isinstance(finding.details, Inferred) else {}
    if link.kind != DIRECTIVE or link.path_range is None or not values:
        return None
    lines = source.splitlines()
    line = link.path_range.start_line
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    entries = [f"init:{name}={value!r}" for name, value in values.items() if f"init:{name}=" not in text]
    if not entries:
        return None
    end = len(text.rstrip())
    where = SourceRange(link.path_range.file, line, end, line, len(text))
    return Fix("Use the checkpoint's values", ((where, " " + " ".join(entries)),))


@dataclass(frozen=True)
class Action:
    """A code action before conversion: a fix, the diagnostics (codes and ranges) it answers."""

    fix: Fix
    answers: tuple[tuple[str, SourceRange], ...] = ()
    preferred: bool = False


@dataclass
class SessionOptions:
    hf_cache: str | None = None
    strict_false_ratio: float = 0.5
    unverified_severity: str = "warning"
    scan_workspace: bool = True
    max_files: int = 5000
    links: Sequence[Any] = ()


# -- the session ----------------------------------------------------------------------------


class Session:
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
            return _keep(previous, path, version)
        results: list[LinkResult] = []
        for link, resolution in planned:
            outcome = self._result(link, resolution, indexes, stamps, generation)
            if outcome.error_code == SOURCE_ERROR and link.class_file == path:
                return _keep(previous, path, version)
            results.append(outcome)
        problems = self._problems(path, results)
        lenses = tuple(
            _lens(r) for r in results if r.link.class_file == path and r.link.class_range
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

    # -- code actions --

    def code_actions(
        self,
        analysis: DocumentAnalysis,
        request: SourceRange,
        source_of: Callable[[str], str | None],
        only: Collection[str] | None = None,
    ) -> list[Action]:
        actions: list[Action] = []
        seen: set[tuple[Any, ...]] = set()

        def add(action: Action | None) -> None:
            if action is None:
                return
            key = (action.fix.title, action.fix.edits)
            if key not in seen:
                seen.add(key)
                actions.append(action)

        path = analysis.path
        for outcome in analysis.results:
            if outcome.result is None:
                continue
            for finding in outcome.result.findings:
                if finding.range.file != path or not overlaps(finding.range, request):
                    continue
                source = source_of(finding.range.file)
                if source is None:
                    continue
                add(self.finding_action(outcome, finding, source))
        for outcome in analysis.results:
            if outcome.mismatches and _mapping_applies(path, outcome, request):
                add(self.mapping_action(outcome, source_of))
        if only:
            actions = [
                a
                for a in actions
                if any(a.fix.kind == k or a.fix.kind.startswith(k + ".") for k in only)
            ]
        return actions

    def finding_action(self, outcome: LinkResult, finding: Finding, source: str) -> Action | None:
        """The quick fix of one finding (rename, literal dim), if it has one; `source` is the
        text of the finding's file."""
        from ckptlens.fixes.rename import rename_fix  # libcst: loaded on the first code action

        if finding.code == RENAMED_MODULE:
            fix = rename_fix(
                source, finding.range.file, finding.range, finding.model_prefix, finding.checkpoint_prefix
            )
            return Action(fix, ((finding.code, finding.range),), preferred=True) if fix else None
        if finding.code == SHAPE_MISMATCH:
            return self._shape_action(outcome, finding, source)
        if finding.code == INFERRED:
            fix = directive_values_fix(outcome.link, finding, source)
            return Action(fix, ((finding.code, finding.range),)) if fix else None
        return None

    def _shape_action(self, outcome: LinkResult, finding: Finding, source: str) -> Action | None:
        from ckptlens.fixes.shape import DimChange, shape_fix

        assert outcome.result is not None
        if not isinstance(finding.details, ShapeMismatch):
            return None
        modules = outcome.result.predicted.modules
        changes = []
        for pair in finding.details.pairs:
            model_key, checkpoint_shape, model_shape = pair.model_key, pair.checkpoint_shape, pair.model_shape
            holders = [
                p
                for p, m in modules.items()
                if m.origin == finding.range
                and p
                and (model_key == p or model_key.startswith(p + "."))
            ]
            if not holders:
                return None
            holder = min(holders, key=len)
            changes.append(
                DimChange(model_key[len(holder) + 1 :], tuple(checkpoint_shape), model_shape)
            )
        fix = shape_fix(
            source,
            finding.range.file,
            finding.range,
            changes,
            root_class=outcome.link.class_name,
            given=outcome.given,
        )
        return Action(fix, ((finding.code, finding.range),), preferred=True) if fix else None

    def mapping_action(
        self, outcome: LinkResult, source_of: Callable[[str], str | None]
    ) -> Action | None:
        """The "Generate key mapping" edit for one link: at its load_state_dict call, else as a
        load_state_dict pre-hook in the class."""
        from ckptlens.fixes.mapping import (
            free_function_name,
            mapping_at_load_site,
            mapping_in_class,
        )

        raw = self.raw_result(outcome)
        if raw is None or raw.comparison is None:
            return None
        link = outcome.link
        answers = tuple((f.code, f.range) for f in outcome.mismatches)
        if link.kind == LOAD_STATE_DICT and link.site_file and link.state_arg_range:
            source = source_of(link.site_file)
            if source is None:
                return None
            scan = self.index.scan(link.site_file, self.overlays)
            name = (
                link.site_mapping.function_name
                if link.site_mapping
                else free_function_name(
                    source, DEFAULT_FUNCTION_NAME, link.class_name, generated=scan.mapping_functions
                )
            )
            text = render_python(
                raw.comparison, name, class_name=link.class_name, checkpoint=raw.index
            )
            fix = mapping_at_load_site(source, link.site_file, link.state_arg_range, text, name)
        else:
            source = source_of(link.class_file)
            decl = self.index.class_decl(link.class_file, link.class_name, self.overlays)
            if source is None or decl is None:
                return None
            name = decl.mapping.function_name if decl.mapping else DEFAULT_FUNCTION_NAME
            text = render_python(
                raw.comparison,
                name,
                class_name=link.class_name,
                indent=decl.body_indent,
                checkpoint=raw.index,
            )
            fix = mapping_in_class(
                source, link.class_file, link.class_name, decl.name_range.start_line, text, name
            )
        if fix is None:
            return None
        title = f"{GENERATE_MAPPING_TITLE} for `{link.class_name}` ({outcome.label})"
        return Action(Fix(title, fix.edits, fix.kind), answers)


def _keep(previous: DocumentAnalysis | None, path: str, version: int | None) -> DocumentAnalysis:
    if previous is None:
        return DocumentAnalysis(path, version, stale=True)
    return replace(previous, version=version, stale=True)


def _mapping_applies(path: str, outcome: LinkResult, request: SourceRange) -> bool:
    link = outcome.link
    if link.site_file == path and link.call_range and overlaps(link.call_range, request):
        return True
    if link.class_file == path and link.class_range and overlaps(link.class_range, request):
        return True
    return any(f.range.file == path and overlaps(f.range, request) for f in outcome.mismatches)


def overlaps(a: SourceRange, b: SourceRange) -> bool:
    """Ranges touch (an empty request range at a diagnostic's edge counts)."""
    if a.file != b.file:
        return False
    return (a.start_line, a.start_col) <= (b.end_line, b.end_col) and (
        b.start_line,
        b.start_col,
    ) <= (a.end_line, a.end_col)


# -- lenses ---------------------------------------------------------------------------------


def _lens(outcome: LinkResult) -> Lens:
    assert outcome.link.class_range is not None
    return Lens(
        outcome.link.class_range,
        lens_title(outcome),
        outcome.link.class_name,
        bool(outcome.mismatches),
    )


# -- definition, document links ------------------------------------------------------------


def key_origin(analyses: Sequence[DocumentAnalysis], key: str) -> SourceRange | None:
    """The code creating a state_dict key (model key, checkpoint key or module path)."""
    for analysis in analyses:
        for outcome in analysis.results:
            if outcome.result is None:
                continue
            predicted = outcome.result.predicted
            for candidate in (key, outcome.result.mapping.mapping.get(key)):
                if candidate is None:
                    continue
                if candidate in predicted.tensors:
                    return predicted.tensors[candidate].origin
                if candidate in predicted.modules and candidate:
                    return predicted.modules[candidate].origin
    return None


_STRING = re.compile(r"""(?P<q>["'])(?P<body>[A-Za-z_][\w.]*)(?P=q)""")


def string_at(line_text: str, col: int) -> str | None:
    """The dotted string literal under the cursor (0-based character column), if any."""
    for match in _STRING.finditer(line_text):
        if match.start() <= col <= match.end():
            return match.group("body")
    return None


@dataclass(frozen=True)
class DocumentLinkTarget:
    range: SourceRange
    target: str  # absolute path


def document_links(analysis: DocumentAnalysis) -> list[DocumentLinkTarget]:
    out: dict[SourceRange, DocumentLinkTarget] = {}
    for outcome in analysis.results:
        link = outcome.link
        if (
            link.site_file == analysis.path
            and link.literal_range is not None
            and outcome.resolution.path
            and not is_remote(outcome.resolution.path)  # no local file to open
        ):
            out.setdefault(
                link.literal_range, DocumentLinkTarget(link.literal_range, outcome.resolution.path)
            )
    return list(out.values())


@dataclass
class CheckpointCache:
    """Checkpoint indexes (or their one-line read errors) by path, valid while the file's
    size and mtime stay the same. LRU-bounded."""

    size: int = 32
    _entries: OrderedDict[str, tuple[Any, CheckpointIndex | str]] = field(
        default_factory=OrderedDict
    )

    def get(self, path: str, stamp: Any) -> CheckpointIndex | str | None:
        entry = self._entries.get(path)
        if entry is None or entry[0] != stamp:
            return None
        self._entries.move_to_end(path)
        return entry[1]

    def put(self, path: str, stamp: Any, value: CheckpointIndex | str) -> None:
        self._entries[path] = (stamp, value)
        self._entries.move_to_end(path)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, path: str) -> None:
        self._entries.pop(path, None)


def checkpoint_stamp(path: str) -> Any:
    """Size and mtime of a file, or of the files of a folder (shallow): the cache key."""
    if is_remote(path):  # what the remote cache says it resolved to (revalidated meanwhile)
        return remote_stamp(path)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        # the config.json beside a file is read with it (SPEC section 3)
        beside = os.path.join(os.path.dirname(path), "config.json")
        try:
            cst = os.stat(beside)
            return (st.st_size, st.st_mtime_ns, cst.st_size, cst.st_mtime_ns)
        except OSError:
            return (st.st_size, st.st_mtime_ns)
    entries = []
    try:
        with os.scandir(path) as listing:
            for entry in listing:
                try:
                    est = entry.stat()
                except OSError:
                    continue
                entries.append((entry.name, est.st_size, est.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(entries))
