"""`keys` output (SPEC section 1): the predicted state_dict as JSON, and as an aligned table
(beside the checkpoint's shapes when one is given)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ckptlens.engine.messages import ShapeMismatch, format_shape
from ckptlens.engine.model import PredictedStateDict, shapes_compatible
from ckptlens.render.style import DIM, GREEN, RED, paint, plural

if TYPE_CHECKING:  # a table beside a checkpoint only (`keys --checkpoint`)
    from ckptlens.checkpoint.index import TensorInfo
    from ckptlens.engine.compare import Comparison


def keys_to_json(predicted: PredictedStateDict) -> dict[str, Any]:
    """SPEC section 1: `{"keys": {key: [int | null, ...] | null}, "findings": [...]}`."""
    return {
        "keys": {
            key: (None if t.shape is None else list(t.shape))
            for key, t in predicted.tensors.items()
        },
        "findings": [f.to_json() for f in predicted.findings],
    }


def render_keys_text(
    predicted: PredictedStateDict,
    color: bool = False,
    *,
    checkpoint: Mapping[str, TensorInfo] | None = None,
    comparison: Comparison | None = None,
) -> str:
    """An aligned table `key  shape` (`?` for unknown dims), buffers and dtypes marked, unknown
    parts listed. With a checkpoint, a third column shows the shape found there (through the
    comparison's mapping when given) and whether it fits."""
    filled_by: dict[str, str] = {}
    if checkpoint is not None:
        if comparison is not None:
            filled_by = {model: ck for ck, model in comparison.mapping.mapping.items()}
            for finding in comparison.findings:
                if isinstance(finding.details, ShapeMismatch):
                    for pair in finding.details.pairs:
                        filled_by[pair.model_key] = pair.checkpoint_key
        else:
            filled_by = {k: k for k in checkpoint}
    # Columns: key, shape, remarks (buffer, dtype), then the checkpoint's side.
    rows: list[tuple[str, str, str, str, str, str]] = []
    for key, tensor in predicted.tensors.items():
        remarks = []
        if tensor.kind != "parameter":
            remarks.append(tensor.kind)
        if tensor.dtype != "float32":
            remarks.append(tensor.dtype)
        mark = found = source_note = ""
        if checkpoint is not None:
            source = filled_by.get(key)
            info = checkpoint.get(source) if source is not None else None
            if info is not None:
                found = format_shape(info.shape)
                if source != key:
                    source_note = f"← {source}"
            if predicted.is_unknown(key):
                mark = "?"
            elif info is None:
                mark, found = "✗", "absent"
            else:
                mark = "✓" if shapes_compatible(tensor.shape, info.shape) else "✗"
        remark = f"({', '.join(remarks)})" if remarks else ""
        rows.append((key, format_shape(tensor.shape), remark, mark, found, source_note))
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(6)]
    lines = []
    for key, shape, remark, mark, found, source_note in rows:
        cells = [key.ljust(widths[0]), shape.ljust(widths[1])]
        if widths[2]:
            cells.append(paint(remark, DIM, color) + " " * (widths[2] - len(remark)))
        if checkpoint is not None:
            style = GREEN if mark == "✓" else RED if mark == "✗" else DIM
            cells.append(paint(mark or " ", style, color) + " " + found.ljust(widths[4]))
            cells.append(source_note)
        lines.append("  ".join(cells).rstrip())
    for part in predicted.unknown:
        where = f"{part.prefix}.*" if part.prefix else "(whole model)"
        text = f"{where.ljust(widths[0])}  {'?'.ljust(widths[1])}  unknown: {part.reason}"
        lines.append(paint(text, DIM, color))
    summary = f"{predicted.class_name}: {plural(len(predicted.tensors), 'tensor')}"
    if predicted.unknown:
        summary += f" · {plural(len(predicted.unknown), 'unknown part')}"
    unknown_dims = sum(
        1 for t in predicted.tensors.values() if t.shape is None or any(d is None for d in t.shape)
    )
    if unknown_dims:
        summary += f" · {unknown_dims} with unknown shape"
    if lines:
        lines.append("")
    lines.append(summary)
    return "\n".join(lines) + "\n"
