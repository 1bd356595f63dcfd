"""The constructor values a prediction used and where each came from (SPEC section 3), for
`check`/`keys` text and JSON and the language server's hover."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ckptlens.engine.model import ConstructorValue

if TYPE_CHECKING:
    from ckptlens.workspace.model import Link

_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
_MAX_VALUE = 60
_MAX_ITEMS = 6


def constructor_to_json(values: Mapping[str, ConstructorValue]) -> dict[str, Any]:
    """`{name: {"value": ..., "source": "..."}}`; a default that is no literal carries
    `"value": null` and its source text as `"expression"`."""
    from ckptlens.render.plain import plain

    out: dict[str, Any] = {}
    for name, item in values.items():
        entry: dict[str, Any] = {"value": plain(item.value), "source": item.source}
        if item.expression is not None:
            entry["expression"] = item.expression
        out[name] = entry
    return out


def _rank(source: str) -> int:
    order = ("--init", "--config", "checkpoint", "config.json", "default", "not given")
    for i, prefix in enumerate(order):
        if source.startswith(prefix):
            return i
    return len(order)


def by_source(values: Mapping[str, ConstructorValue]) -> list[tuple[str, list[str]]]:
    """`[(source, ["name=value", ...]), ...]`, strongest source first."""
    groups: dict[str, list[str]] = {}
    for name, item in values.items():
        groups.setdefault(item.source, []).append(f"{name}={format_value(item)}")
    return sorted(groups.items(), key=lambda kv: _rank(kv[0]))


def format_value(item: ConstructorValue) -> str:
    if item.expression is not None:
        return _cut(item.expression)
    if item.source == "not given":
        return "?"
    return _short(item.value)


def _short(value: Any, depth: int = 0) -> str:
    if isinstance(value, Mapping):
        if depth:
            return "{…}"
        items = [f"{k}={_short(v, depth + 1)}" for k, v in list(value.items())[:_MAX_ITEMS]]
        more = len(value) - _MAX_ITEMS
        return "{" + ", ".join(items) + (f", … {more} more" if more > 0 else "") + "}"
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def render_constructor_text(class_name: str, values: Mapping[str, ConstructorValue], *, color: bool = False) -> str:
    """`Net built with:` then one line per source, strongest first; "" without values."""
    groups = by_source(values)
    if not groups:
        return ""
    width = max(len(source) for source, _ in groups)
    head = f"{class_name} built with:"
    lines = [f"{_BOLD}{head}{_RESET}" if color else head]
    for source, items in groups:
        label = source.ljust(width)
        lines.append(f"  {_DIM}{label}{_RESET}  {', '.join(items)}" if color else f"  {label}  {', '.join(items)}")
    return "\n".join(lines) + "\n"


def constructor_markdown(values: Mapping[str, ConstructorValue]) -> str | None:
    """For the hover on the class: one line per source."""
    groups = by_source(values)
    if not groups:
        return None
    rows = [f"- {source}: " + ", ".join(f"`{item}`" for item in items) for source, items in groups]
    return "Built with:\n" + "\n".join(rows)


def link_sources(link: Link, config: str | None) -> dict[str, str]:
    """How the hover names the link's constructor arguments and config (not `--init`)."""
    where = {
        "directive": "the `# ckptlens:` directive",
        "pyproject": "the pyproject.toml link",
        "setting": "the ckptlens.links setting",
    }.get(link.kind, "the load site")
    return {"init_source": where, "config_source": f"config {link.config} ({where})" if config else where}
