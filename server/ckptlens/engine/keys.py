"""state_dict key utilities: dotted paths, and collapsing repeated indices for messages.

`collapse_keys(["layers.0.fc.weight", "layers.1.fc.weight"])` gives `["layers.{0, 1}.fc.weight"]`,
the way Hugging Face's loading report shows a ModuleList's keys. Every pattern stands for exactly
the keys it replaced (a cartesian product of its components), never for more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# A collapsed key: each dotted component is a plain string or a set of integer indices.
_Component = str | frozenset[int]
_Pattern = tuple[_Component, ...]


def is_under(key: str, prefix: str) -> bool:
    """True when `key` is `prefix` itself or lies in its subtree ("" is the root)."""
    return prefix == "" or key == prefix or key.startswith(prefix + ".")


def leading_paths(key: str) -> list[str]:
    """Every proper dotted prefix of `key`, shortest first: "a.b.c" -> ["a", "a.b"]."""
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def common_leading_path(keys: Iterable[str]) -> str:
    """The longest dotted path (without trailing dot) that every key lies strictly under."""
    common: list[str] | None = None
    for key in keys:
        parts = key.split(".")[:-1]
        if common is None:
            common = parts
        else:
            n = 0
            while n < len(common) and n < len(parts) and common[n] == parts[n]:
                n += 1
            del common[n:]
        if not common:
            return ""
    return ".".join(common or [])


def _is_index(component: str) -> bool:
    return component.isascii() and component.isdigit() and str(int(component)) == component


def _format_indices(indices: frozenset[int]) -> str:
    ordered = sorted(indices)
    runs: list[list[int]] = []
    for value in ordered:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    if len(runs) == 1 and len(runs[0]) >= 3:
        return f"{{{runs[0][0]}..{runs[0][-1]}}}"
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]}..{run[-1]}")
        else:
            parts.extend(str(v) for v in run)
    return "{" + ", ".join(parts) + "}"


def _format_pattern(pattern: _Pattern) -> str:
    out: list[str] = []
    for component in pattern:
        if isinstance(component, str):
            out.append(component)
        elif len(component) == 1:
            out.append(str(next(iter(component))))
        else:
            out.append(_format_indices(component))
    return ".".join(out)


def collapse_keys(keys: Iterable[str]) -> list[str]:
    """Merge keys that differ only in integer path components into patterns like
    `layers.{0..11}.attn.q_proj.weight` (a contiguous run) or `blocks.{0, 2, 5}.weight`.
    Patterns keep the order of their first key; duplicates are dropped."""
    return [_format_pattern(p) for p in _collapse(keys)]


def _collapse(keys: Iterable[str]) -> list[_Pattern]:
    patterns: list[_Pattern] = []
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        patterns.append(tuple(frozenset({int(c)}) if _is_index(c) else c for c in key.split(".")))
    changed = True
    while changed:
        changed = False
        width = max((len(p) for p in patterns), default=0)
        # Rightmost positions first: `layers.{0..3}.blocks.{0..2}.w` merges blocks, then layers.
        for position in reversed(range(width)):
            merged = _merge_at(patterns, position)
            if len(merged) < len(patterns):
                patterns = merged
                changed = True
    return patterns


def _pattern_size(pattern: _Pattern) -> int:
    size = 1
    for component in pattern:
        if not isinstance(component, str):
            size *= len(component)
    return size


def _merge_at(patterns: Sequence[_Pattern], position: int) -> list[_Pattern]:
    """Merge patterns equal everywhere except at `position`, where both hold indices."""
    groups: dict[tuple[object, ...], int] = {}
    out: list[_Pattern] = []
    for pattern in patterns:
        if position >= len(pattern) or isinstance(pattern[position], str):
            out.append(pattern)
            continue
        rest = (len(pattern),) + pattern[:position] + pattern[position + 1 :]
        at = groups.get(rest)
        if at is None:
            groups[rest] = len(out)
            out.append(pattern)
            continue
        previous = out[at]
        before, now = previous[position], pattern[position]
        assert not isinstance(before, str) and not isinstance(now, str)
        union = before | now
        out[at] = previous[:position] + (union,) + previous[position + 1 :]
    return out


def summarize_keys(keys: Sequence[str], limit: int = 6) -> str:
    """A one-line list of keys for a message: collapsed, at most `limit` patterns, then
    "and N more" (N counting keys, not patterns)."""
    patterns = _collapse(keys)
    shown = patterns[:limit]
    text = ", ".join(_format_pattern(p) for p in shown)
    if len(patterns) > limit:
        rest = sum(_pattern_size(p) for p in patterns[limit:])
        text += f" and {rest} more"
    return text
