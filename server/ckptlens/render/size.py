"""A model's size as text: the lines `keys --format text` ends with, the size lens's label and
its hover."""

from __future__ import annotations

from collections.abc import Mapping

from ckptlens.engine.size import ModelSize, Totals


def format_bytes(n: int) -> str:
    """Binary units with one decimal: `44.6 MiB`, `3.2 KiB`, `512 B`."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # unreachable


def format_count(n: int) -> str:
    """`11.7 M`, `850.2 k`, `1.2 B`, `312`."""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            return f"{n / size:.1f} {suffix}"
    return str(n)


def totals_line(t: Totals) -> str:
    """`11,689,512 params · 44.6 MiB` (`≥` before each when it is a lower bound)."""
    mark = "≥ " if t.lower_bound else ""
    return f"{mark}{t.parameters:,} params · {mark}{format_bytes(t.bytes)}"


def lens_text(t: Totals) -> str:
    """`11.7 M params · 44.6 MiB fp32` for a code lens (`≥` when a lower bound)."""
    mark = "≥ " if t.lower_bound else ""
    label = f" {t.dtype_label}" if t.dtype_label else ""
    return f"{mark}{format_count(t.parameters)} params · {mark}{format_bytes(t.bytes)}{label}"


def size_lines(size: ModelSize) -> list[str]:
    """The per-submodule lines, then the total: what `keys --format text` ends with."""
    rows = [(name or "(root)", t) for name, t in size.submodules.items()]
    lines = []
    if any(name for name in size.submodules):
        width = max(len(name) for name, _ in rows)
        for name, t in rows:
            lines.append(f"  {name.ljust(width)}  {totals_line(t)}")
    lines.append(totals_line(size.total))
    return lines


def size_hover(name: str, total: Totals, submodules: Mapping[str, Totals]) -> str:
    bound = "at least " if total.lower_bound else ""
    lines = [
        f"**`{name}`** · {lens_text(total)}",
        "",
        f"{bound}{total.parameters:,} parameters, {bound}{total.buffers:,} buffer elements, "
        f"{bound}{format_bytes(total.bytes)} in its state_dict (default constructor arguments "
        "unless a checkpoint is linked)",
    ]
    named = [(n, t) for n, t in submodules.items() if n]
    if named:
        lines += ["", "| submodule | params | size |", "| --- | ---: | ---: |"]
        for n, t in named:
            mark = "≥ " if t.lower_bound else ""
            lines.append(f"| `{n}` | {mark}{t.parameters:,} | {mark}{format_bytes(t.bytes)} |")
    if total.unknown:
        lines += ["", "A lower bound: these parts are not known statically:"]
        for why in total.unknown[:10]:
            lines.append(f"- {why}")
        if len(total.unknown) > 10:
            lines.append(f"- and {len(total.unknown) - 10} more")
    return "\n".join(lines)
