"""`ckptlens inspect` output: the SPEC's JSON object, and a compact human report."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from ckptlens.checkpoint.dtypes import itemsize
from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.checkpoint.weights_only import import_effects_text
from ckptlens.render.plain import MAX_DEPTH, plain
from ckptlens.textsafe import escape_control as _esc

_MAX_WIDTH = 72  # beyond this a key column is not aligned to, it just spills over


def index_to_json(index: CheckpointIndex) -> dict[str, Any]:
    """SPEC section 1 (`inspect --format json`), plus extra keys after the required ones."""
    return {
        "format": index.format,
        "state_dict_path": list(index.state_dict_path),
        "tensors": {
            key: {"shape": list(t.shape), "dtype": t.dtype, "device": t.device}
            for key, t in index.tensors.items()
        },
        "hyper_parameters": plain(index.hyper_parameters),
        "entries": list(index.entries),
        "path": index.path,
        "size": index.size,
        "alternatives": [list(p) for p in index.alternatives],
        "versions": dict(index.versions),
        "config": plain(index.config),
        "metadata": dict(index.metadata),
        "notes": list(index.notes),
        "safety": index.safety.to_json(),
        **({"bytes_read": index.bytes_read} if index.bytes_read is not None else {}),
    }




# --- text ------------------------------------------------------------------------------------


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text


def render_index_text(index: CheckpointIndex, color: bool) -> str:
    style = _Style(color)
    lines = [style(_esc(index.path), "1"), *_header(index, style), ""]
    lines.extend(_table(index, style))
    return "\n".join(lines) + "\n"


def _header(index: CheckpointIndex, style: _Style) -> list[str]:
    rows: list[tuple[str, str]] = [("format", index.format)]
    where = "/".join(index.state_dict_path) if index.state_dict_path else "the file itself"
    rows.append(("state_dict", where))
    rows.append(("safety", index.safety.summary()))
    if index.safety.globals:
        rows.append(("imports", import_effects_text(index.safety.globals)))
    if index.bytes_read is not None:
        share = f" ({index.bytes_read / index.size:.4%} of {_bytes(index.size)})" if index.size else ""
        rows.append(("bytes read", f"{index.bytes_read:,} over the network{share}"))
    if index.alternatives:
        rows.append(
            ("alternatives", ", ".join("/".join(p) or "(file)" for p in index.alternatives))
        )
    if index.versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in index.versions.items())))
    if index.entries and index.state_dict_path:
        rows.append(("entries", _clip(", ".join(index.entries), 100)))
    rows.append(("tensors", _totals(index)))
    rows.append(("devices", ", ".join(sorted({t.device for t in index.tensors.values()})) or "-"))
    if index.hyper_parameters is not None:
        rows.append(("hparams", _clip(_compact(index.hyper_parameters), 100)))
    if index.config is not None:
        rows.append(("config", f"config.json ({index.config.get('model_type', 'no model_type')})"))
    rows.extend(("note", note) for note in index.notes)
    width = max(len(label) for label, _ in rows)
    return [f"  {style(label.ljust(width), '36')}  {_esc(value)}" for label, value in rows]


def _totals(index: CheckpointIndex) -> str:
    numel: Counter[str] = Counter()
    for t in index.tensors.values():
        numel[t.dtype] += math.prod(t.shape)
    total = sum(numel.values())
    by_dtype = ", ".join(
        f"{dtype} {_bytes(count * itemsize(dtype))}" for dtype, count in numel.most_common()
    )
    return f"{len(index.tensors):,} · {total:,} parameters · {by_dtype or 'no data'}"


def _table(index: CheckpointIndex, style: _Style) -> list[str]:
    rows = [
        (_esc(key), "[" + ", ".join(str(d) for d in t.shape) + "]", t.dtype, _esc(t.device))
        for key, t in index.tensors.items()
    ]
    key_w = min(_MAX_WIDTH, max([3, *(len(r[0]) for r in rows)]))
    shape_w = max([5, *(len(r[1]) for r in rows)])
    dtype_w = max([5, *(len(r[2]) for r in rows)])
    lines = [style(f"  {'key'.ljust(key_w)}  {'shape'.ljust(shape_w)}  dtype", "2")]
    for key, shape, dtype, device in rows:
        line = f"  {key.ljust(key_w)}  {style(shape.ljust(shape_w), '32')}  {style(dtype.ljust(dtype_w), '33')}"
        if device != "cpu":
            line += "  " + style(device, "35")
        lines.append(line.rstrip())
    return lines


def _compact(value: Any, depth: int = 0) -> str:
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_compact(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v, depth + 1) for v in value) + "]"
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
