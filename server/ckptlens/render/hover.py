"""The language server's hover, as markdown: on a linked class, its lens title, how much of the
checkpoint was compared, the checkpoint's safety verdict and the constructor values used; on a
line creating submodules, their predicted tensors beside the checkpoint's, one table per
linked checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ckptlens.api import format_shape, shapes_compatible
from ckptlens.checkpoint.weights_only import (
    IMPORT_NONE,
    IMPORT_RUNS_CODE,
    IMPORT_UNKNOWN,
    SAFE,
    Safety,
    import_effect,
)
from ckptlens.findings import UNVERIFIED
from ckptlens.render.constructor import constructor_markdown
from ckptlens.render.lens import CheckedLink, lens_title
from ckptlens.textsafe import escape_control


class AnalysedDocument(Protocol):
    """A document's analysis as the hover reads it (`ckptlens.lsp.results.DocumentAnalysis`)."""

    @property
    def path(self) -> str: ...
    @property
    def results(self) -> Sequence[CheckedLink]: ...


def hover_markdown(analysis: AnalysedDocument, line: int) -> str | None:
    """The predicted tensors of the submodules created on `line` (1-based) beside the
    checkpoint's, one table per linked checkpoint."""
    sections = []
    for outcome in analysis.results:
        if outcome.result is None:
            continue
        if (
            outcome.link.class_range is not None
            and outcome.link.class_range.start_line == line
            and outcome.link.class_file == analysis.path
        ):
            sections.append(f"**`{outcome.link.class_name}`** · {lens_title(outcome)}")
            sections.append(_coverage_markdown(outcome))
            sections.append(safety_markdown(outcome.result.index.safety))
            built = constructor_markdown(outcome.result.predicted.constructor)
            if built:
                sections.append(built)
            continue
        table = _tensor_table(outcome, analysis.path, line)
        if table:
            sections.append(table)
    return "\n\n".join(sections) if sections else None


def safety_markdown(safety: Safety) -> str:
    """The checkpoint's safety verdict (issue 13): would `torch.load(weights_only=True)` load
    it; if not, the globals outside torch's allow-list, each with whether importing its module
    is known to run code, and the other reasons."""
    if safety.verdict == SAFE:
        return "Safety: **safe** · `torch.load(weights_only=True)` loads it"
    lines = [
        f"Safety: **{safety.verdict}** · `torch.load(weights_only=True)` refuses it; "
        "`weights_only=False` imports and runs what it names: only for a file you trust"
    ]
    if safety.globals:
        words = {
            IMPORT_NONE: "no code",
            IMPORT_RUNS_CODE: "runs code",
            IMPORT_UNKNOWN: "unknown",
        }
        lines += ["", "| global outside the allow-list | its import |", "| --- | --- |"]
        for name in safety.globals[:20]:
            lines.append(f"| `{_md_code(name)}` | {words[import_effect(name)]} |")
        if len(safety.globals) > 20:
            lines.append(f"| and {len(safety.globals) - 20} more | |")
    for reason in safety.reasons[:5]:
        lines.append(f"- {_md_text(reason)}")
    return "\n".join(lines)


def _md_code(text: str) -> str:
    """Inside a code span in a table cell: control characters escaped, no backtick or pipe."""
    return escape_control(text).replace("`", "'").replace("|", "\\|")


def _md_text(text: str) -> str:
    return escape_control(text).replace("|", "\\|")


def _coverage_markdown(outcome: CheckedLink) -> str:
    """How much of the checkpoint was compared, and what could not be."""
    assert outcome.result is not None
    cov = outcome.result.coverage
    text = (
        f"{cov.checked} of {cov.tensors} checkpoint tensors compared on key and shape, "
        f"{cov.keys_only} on key only (some dims unknown), {cov.unchecked} not checked"
    )
    parts = [f for f in outcome.result.findings if f.code == UNVERIFIED]
    rows = [
        f"- `{f.model_prefix or outcome.link.class_name}`: {len(f.checkpoint_keys)} not checked"
        for f in parts
    ]
    return "\n".join([text, *rows]) if rows else text


def _tensor_table(outcome: CheckedLink, path: str, line: int) -> str | None:
    assert outcome.result is not None
    predicted = outcome.result.predicted
    here = [
        p
        for p, m in predicted.modules.items()
        if p and m.origin.file == path and m.origin.start_line == line
    ]
    if not here:
        here = [
            t.key.rsplit(".", 1)[0] if "." in t.key else t.key
            for t in predicted.tensors.values()
            if t.origin.file == path and t.origin.start_line == line
        ]
    tops = sorted({p for p in here if not any(p != q and p.startswith(q + ".") for q in here)})
    if not tops:
        return None
    inverse = {model: raw for raw, model in outcome.result.mapping.mapping.items()}
    tensors = outcome.result.index.tensors
    rows = []
    for key, tensor in predicted.tensors.items():
        if not any(key == p or key.startswith(p + ".") for p in tops):
            continue
        raw = inverse.get(key)
        if raw is None and key in tensors:
            raw = key
        info = tensors.get(raw) if raw is not None else None
        if info is None:
            status = "? unknown" if predicted.is_unknown(key) else "✗ missing"
            rows.append(f"| `{key}` | {format_shape(tensor.shape)} | — | {status} |")
            continue
        ok = shapes_compatible(tensor.shape, info.shape)
        status = "✓" if ok else "✗ shape"
        shown = f"`{raw}` {format_shape(info.shape)}" if raw != key else format_shape(info.shape)
        rows.append(f"| `{key}` | {format_shape(tensor.shape)} | {shown} | {status} |")
    if not rows:
        return None
    head = f"**{', '.join(f'`{p}`' for p in tops)}** · checkpoint {outcome.label}"
    return "\n".join([head, "", "| key | model | checkpoint | |", "|---|---|---|---|", *rows])
