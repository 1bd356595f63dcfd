"""The code actions of a document: the quick fixes of its findings (rename, literal dim, the
directive's values) and "Generate key mapping" for a link that mismatches. `CodeActions` is a
part of `Session` (`lsp/analysis.py`): it reads the session's workspace index, its unsaved
buffers and the check of a link without any generated mapping (`raw_result`)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ckptlens.api import (
    DEFAULT_FUNCTION_NAME,
    CheckResult,
    NoSuchEntry,
    ShapeMismatch,
    WholeCheckpointLoaded,
    render_python,
)
from ckptlens.findings import (
    INFERRED,
    RENAMED_MODULE,
    SHAPE_MISMATCH,
    STATE_DICT_ENTRY,
    Finding,
    Fix,
    SourceRange,
)
from ckptlens.fixes.directive import directive_values_fix
from ckptlens.lsp.results import DocumentAnalysis, LinkResult
from ckptlens.workspace.index import WorkspaceIndex
from ckptlens.workspace.model import LOAD_STATE_DICT

GENERATE_MAPPING_TITLE = "Generate key mapping"


@dataclass(frozen=True)
class Action:
    """A code action before conversion: a fix, the diagnostics (codes and ranges) it answers."""

    fix: Fix
    answers: tuple[tuple[str, SourceRange], ...] = ()
    preferred: bool = False


class CodeActions:
    """`Session`'s code actions."""

    index: WorkspaceIndex
    overlays: dict[str, str]

    if TYPE_CHECKING:

        def raw_result(self, outcome: LinkResult) -> CheckResult | None: ...

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
        for item in analysis.problems:
            found = item.finding
            if found.code == STATE_DICT_ENTRY and found.range.file == path and overlaps(found.range, request):
                source = source_of(path)
                add(entry_action(found, source) if source is not None else None)
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
            from ckptlens.fixes.saved_value import saved_value_fix  # issue 15: the saved value

            shape = self._shape_action(outcome, finding, source)
            saved = None if shape else saved_value_fix(outcome.link, finding, source, self.overlays)
            return shape or (Action(saved, ((finding.code, finding.range),), True) if saved else None)
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


def entry_action(finding: Finding, source: str) -> Action | None:
    """The `state-dict-entry` fix: load_state_dict's argument selects where the weights sit."""
    from ckptlens.fixes.entry import entry_fix

    details = finding.details
    if isinstance(details, WholeCheckpointLoaded):
        fix = entry_fix(source, finding.range, details.given, details.expected)
    elif isinstance(details, NoSuchEntry):
        fix = entry_fix(source, finding.range, (details.entry,), details.expected)
    else:
        return None
    return Action(fix, ((finding.code, finding.range),), preferred=True) if fix else None


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
