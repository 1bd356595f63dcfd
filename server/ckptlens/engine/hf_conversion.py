"""transformers' checkpoint conversion: the key renamings `from_pretrained` applies on load.

transformers 5 renamed many modules (`encoder.layer.0.attention.attention.query` became
`layers.0.attention.q_proj` in ViT) and keeps reading, and writing, the old names through a
table in `conversion_mapping.py`. A checkpoint in the old layout fits the class as
`from_pretrained` loads it, so the comparison sees the checkpoint's keys the way transformers
will: renamed by that table. The table is read statically (never imported); renamings become
key edits, and tensors a `WeightConverter` merges or splits become unknown (not compared).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Transform:
    kind: str  # "rename" | "convert"
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass
class ConvertedKeys:
    renamed: dict[str, str] = field(default_factory=dict)  # raw checkpoint key -> converted key
    converted: set[str] = field(default_factory=set)  # raw keys a WeightConverter reshapes
    target_patterns: list[str] = field(default_factory=list)  # model keys those produce


class ConversionTable:
    def __init__(self, mapping: dict[str, list[Transform]], aliases: dict[str, str]) -> None:
        self.mapping = mapping
        self.aliases = aliases

    def for_model(self, class_names: list[str], model_type: str | None) -> list[Transform] | None:
        for name in class_names:
            if name in self.mapping:
                return self.mapping[name]
        if model_type:
            found = self.mapping.get(model_type)
            if found is None and model_type in self.aliases:
                found = self.mapping.get(self.aliases[model_type])
            return found
        return None


_TABLES: dict[tuple[str, int], ConversionTable | None] = {}


def conversion_table(transformers_dir: str) -> ConversionTable | None:
    path = os.path.join(transformers_dir, "conversion_mapping.py")
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    key = (path, stamp)
    if key not in _TABLES:
        _TABLES[key] = _read_table(path)
    return _TABLES[key]


def _read_table(path: str) -> ConversionTable | None:
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError):
        return None
    mapping: dict[str, list[Transform]] = {}
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_MODEL_TO_CONVERSION_PATTERN" for t in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, dict):
                aliases = {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(node, ast.FunctionDef) and node.name == "_build_checkpoint_conversion_mapping":
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict):
                    _read_entries(stmt.value, mapping)
                    break
    return ConversionTable(mapping, aliases)


def _read_entries(table: ast.Dict, out: dict[str, list[Transform]]) -> None:
    for key_node, value_node in zip(table.keys, table.values, strict=True):
        if not (isinstance(key_node, ast.Constant) and isinstance(key_node.value, str)):
            continue
        if not isinstance(value_node, ast.List):
            continue
        transforms = []
        for item in value_node.elts:
            transform = _transform(item)
            if transform is None:  # something we cannot read: treat the whole entry as unknown
                transforms = [Transform("convert", (".*",), (".*",))]
                break
            transforms.append(transform)
        out[key_node.value] = transforms


def _transform(node: ast.expr) -> Transform | None:
    if not isinstance(node, ast.Call):
        return None
    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
    if name not in ("WeightRenaming", "WeightConverter"):
        return None
    args: dict[str, ast.expr | None] = {"source_patterns": None, "target_patterns": None}
    for i, arg in enumerate(node.args[:2]):
        args[("source_patterns", "target_patterns")[i]] = arg
    for kw in node.keywords:
        if kw.arg in args:
            args[kw.arg] = kw.value
    sources, targets = (_strings(args["source_patterns"]), _strings(args["target_patterns"]))
    if not sources or not targets:
        return None
    return Transform("rename" if name == "WeightRenaming" else "convert", sources, targets)


def _strings(node: ast.expr | None) -> tuple[str, ...]:
    if node is None:
        return ()
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


def convert_keys(transforms: list[Transform], keys: list[str]) -> ConvertedKeys:
    """Each key through the renamings in order, as transformers' `rename_source_key` does (the
    first match of a transform's pattern is replaced by its first target)."""
    result = ConvertedKeys()
    compiled = []
    for transform in transforms:
        try:
            compiled.append((transform, [re.compile(p) for p in transform.sources]))
        except re.error:
            compiled.append((Transform("convert", (".*",), (".*",)), [re.compile(".*")]))
    for transform, _ in compiled:
        if transform.kind == "convert":
            result.target_patterns.extend(transform.targets)
    for raw in keys:
        key = raw
        for transform, patterns in compiled:
            match = next((m for m in (p.search(key) for p in patterns) if m is not None), None)
            if match is None:
                continue
            if transform.kind == "convert":
                result.converted.add(raw)
                break
            replacement = transform.targets[0]
            if r"\1" in replacement and match.groups():
                replacement = replacement.replace(r"\1", match.group(1) or "")
            key = key.replace(match.group(0), replacement, 1)
        if key != raw and raw not in result.converted:
            result.renamed[raw] = key
    return result
