"""The `renamed-module` quick fix: rename the attribute everywhere in the class so the code
matches the checkpoint."""

from __future__ import annotations

import keyword

from ckptlens.findings import Fix, SourceRange
from ckptlens.fixes.classes import parse_class, self_attributes


def rename_names(model_prefix: str | None, checkpoint_prefix: str | None) -> tuple[str, str] | None:
    """(old attribute, new attribute) when the two paths differ in one attribute name only."""
    if not model_prefix or not checkpoint_prefix:
        return None
    model, ckpt = model_prefix.split("."), checkpoint_prefix.split(".")
    while model and ckpt and model[-1] == ckpt[-1]:
        model.pop()
        ckpt.pop()
    if len(model) != len(ckpt) or not model or model[:-1] != ckpt[:-1]:
        return None
    old, new = model[-1], ckpt[-1]
    if not old.isidentifier() or not new.isidentifier() or keyword.iskeyword(new) or old == new:
        return None
    return old, new


def rename_fix(
    source: str, path: str, at: SourceRange, model_prefix: str | None, checkpoint_prefix: str | None
) -> Fix | None:
    """Rename `self.<old>` to `self.<new>` everywhere in the class that creates it (`at` is the
    `self.<old>` target of the finding); only `self` uses inside that class."""
    names = rename_names(model_prefix, checkpoint_prefix)
    if names is None:
        return None
    old, new = names
    parsed = parse_class(source, path, at.start_line)
    if parsed is None:
        return None
    uses, attributes = self_attributes(parsed.node, old)
    if new in attributes or not uses:
        return None  # `self.<new>` exists already: renaming would merge two attributes
    ranges = [parsed.range(use.attr) for use in uses]
    if not any(
        r.start_line == at.start_line and at.start_col <= r.start_col <= at.end_col for r in ranges
    ):
        return None  # the finding is not on a `self.<old>` of this class
    edits = tuple((r, new) for r in sorted(set(ranges)))
    return Fix(f"Rename `self.{old}` to `self.{new}` (as in the checkpoint)", edits)
