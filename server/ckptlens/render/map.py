"""`map` output (SPEC section 1): the JSON object and a readable account of the mapping, and
what `map --write` wrote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.engine.compare import Comparison
from ckptlens.engine.keys import collapse_keys
from ckptlens.engine.mapping_code import subscript_path
from ckptlens.render.style import BOLD, GREEN, paint, plural

if TYPE_CHECKING:
    from ckptlens.engine.model import KeyMapping

def map_to_json(
    mapping: KeyMapping, state_dict_path: Sequence[str] | None = None
) -> dict[str, Any]:
    """SPEC section 1: `{"mapping": {checkpoint_key: model_key}, "dropped": [...], "missing": [...]}`,
    then, when given, `"state_dict_path"`: where the file keeps the state_dict the mapping applies
    to, as `inspect` says it (`[]`: the file is the state_dict)."""
    data = mapping.to_json()
    if state_dict_path is not None:
        data["state_dict_path"] = list(state_dict_path)
    return data


def render_map_text(
    comparison: Comparison, *, color: bool = False, checkpoint: CheckpointIndex | None = None
) -> str:
    """A readable account of the mapping: where the state_dict sits in the file (with
    `checkpoint`), prefix change, renames, dropped and missing keys."""
    mapping = comparison.mapping
    sections: list[list[str]] = []
    kept = len(mapping.mapping)
    renamed = sum(1 for k, v in mapping.mapping.items() if k != v)
    head = [
        f"{kept} checkpoint keys kept ({renamed} under a new name), {len(mapping.dropped)} dropped, "
        f"{len(mapping.missing)} model keys missing"
    ]
    sections.append(head)
    wrapped = checkpoint is not None and bool(checkpoint.state_dict_path)
    if checkpoint is not None:
        sections.append([paint("state_dict", BOLD, color), "  " + _state_dict_place(checkpoint)])
    prefix = comparison.prefix
    if prefix is not None:
        title = paint("prefix", BOLD, color)
        if prefix.strip:
            sections.append([title, f'  strip "{prefix.strip}" from every key that starts with it'])
        else:
            sections.append([title, f'  add "{prefix.add}" in front of every key'])
    if comparison.renames:
        width = max(len(c) for c, _ in comparison.renames)
        rows = [paint("renames", BOLD, color) + "  (checkpoint → model)"]
        rows += [f"  {c.ljust(width)}  →  {m}" for c, m in comparison.renames]
        sections.append(rows)
    if mapping.dropped:
        rows = [paint("dropped", BOLD, color) + "  (checkpoint keys the model cannot take)"]
        rows += _key_rows(mapping.dropped)
        sections.append(rows)
    if mapping.missing:
        rows = [
            paint("missing", BOLD, color)
            + "  (model keys the checkpoint cannot fill: strict=False)"
        ]
        rows += _key_rows(mapping.missing)
        sections.append(rows)
    unchecked = comparison.coverage.unchecked
    if unchecked:
        sections.append(
            [
                paint("not checked", BOLD, color)
                + f"  ({plural(unchecked, 'checkpoint tensor')} under parts of the model the analysis"
                " could not resolve: kept as they are, unverified)"
            ]
        )
    if prefix is None and not comparison.renames and not mapping.dropped and not mapping.missing:
        what = "its state_dict loads as it is" if wrapped else "the checkpoint loads as it is"
        if unchecked:
            sections.append([paint("?", BOLD, color) + f" identity for what was checked: {what}, as far as known"])
        else:
            sections.append([paint("✓", GREEN, color) + f" identity: {what}"])
    return "\n\n".join("\n".join(rows) for rows in sections) + "\n"


def _state_dict_place(checkpoint: CheckpointIndex) -> str:
    path = checkpoint.state_dict_path
    if not path:
        return "the file itself"
    others = [e for e in checkpoint.entries if e != path[0]]
    dropped = f"; the file's other entries are dropped: {', '.join(others)}" if others else ""
    return f"torch.load(path){subscript_path(path)}{dropped}"


def _key_rows(keys: Sequence[str], limit: int = 200) -> list[str]:
    patterns = collapse_keys(keys)
    rows = [f"  {p}" for p in patterns[:limit]]
    if len(patterns) > limit:
        rows.append(f"  ... and {len(patterns) - limit} more")
    return rows


def written_text(written: Any) -> str:
    """What `map --write` wrote: where, how many tensors and bytes, renamed and dropped."""
    where = written.index_file or written.files[0]
    shards = f" in {len(written.files)} shards" if written.index_file else ""
    lines = [
        f"wrote {where}{shards}: {written.tensors} tensors, {written.bytes:,} bytes "
        f"({written.renamed} renamed, {len(written.dropped)} dropped)"
    ]
    for key, partner in written.shared.items():
        how = "the model re-ties it" if key in written.retied else "written as a copy"
        lines.append(f"  {key} shares its tensor with {partner} in the source: {how}")
    return "\n".join(lines) + "\n"
