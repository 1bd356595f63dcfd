"""`find` output as text: one line per candidate checkpoint, best first, then a summary; and the
language server's fit hint on a class with no checkpoint linked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ckptlens.findings import Finding

if TYPE_CHECKING:
    from ckptlens.find import Candidate, FindResult


def render_find_text(result: FindResult, *, cwd: str | None = None) -> str:
    base = cwd if cwd is not None else os.getcwd()

    def shown(path: str) -> str:
        relative = os.path.relpath(path, base)
        return path if relative.startswith("..") else relative

    lines = []
    width = max((len(shown(c.checkpoint)) for c in result.candidates), default=0)
    for c in result.candidates:
        detail = _detail(c)
        lines.append(
            f"{c.fit:<9}  {shown(c.checkpoint).ljust(width)}  {c.matched}/{c.total}"
            + (f"  {detail}" if detail else "")
        )
    for u in result.unreadable:
        lines.append(f"{'unreadable':<9} {shown(u.checkpoint)}: {u.error}")
    fitting = len(result.fitting)
    total = len(result.candidates)
    summary = f"{result.class_name}: {fitting} of {total} checkpoint{'s' if total != 1 else ''} fit"
    if not total:
        summary = f"{result.class_name}: no checkpoints found"
    if lines:
        lines.append("")
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _detail(c: Candidate) -> str:
    codes: dict[str, int] = {}
    for f in c.findings:
        if f.is_mismatch:
            codes[f.code] = codes.get(f.code, 0) + 1
    parts = []
    if c.fit == "mapped":
        for f in c.findings:
            if f.code == "key-prefix":
                parts.append(_prefix_text(f))
        renames = codes.get("renamed-module", 0)
        if renames:
            parts.append(f"{renames} rename{'s' if renames != 1 else ''}")
    elif c.fit == "partial":
        parts.append(f"fills {c.share:.0%}")
        m = c.mapping
        if m is not None and m.missing:
            parts.append(f"{len(m.missing)} missing ({_examples(m.missing)})")
        if m is not None and m.dropped:
            parts.append(f"{len(m.dropped)} unexpected or reshaped ({_examples(m.dropped)})")
    elif c.fit == "unrelated":
        filled = f"fills {c.share:.0%} of the model" if c.matched else "none of them the model's"
        parts.append(f"{c.tensors} tensors, {filled}")
    return "; ".join(parts)


def _prefix_text(f: Finding) -> str:
    if f.checkpoint_prefix:
        return f"strip {f.checkpoint_prefix}."
    if f.model_prefix:
        return f"add {f.model_prefix}."
    return "prefix"


def _examples(keys: list[str], limit: int = 2) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")


def hint_message(fitting: Sequence[str], roots: Sequence[str]) -> str:
    """`3 checkpoints in lightning_logs/ fit this class` (the folder they share, relative to
    the workspace; `in the workspace` when they share none)."""
    folder = os.path.commonpath([os.path.dirname(p) for p in fitting]) if fitting else ""
    where = "in the workspace"
    for root in roots:
        if folder == root:
            break
        if folder.startswith(root + os.sep):
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            where = f"in {relative.split('/')[0]}/" if len(fitting) > 1 else f"in {relative}/"
            break
    count = len(fitting)
    noun = "checkpoint" if count == 1 else "checkpoints"
    verb = "fits" if count == 1 else "fit"
    return f"{count} {noun} {where} {verb} this class"
