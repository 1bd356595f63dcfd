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
from collections.abc import Collection
from dataclasses import dataclass, field

from ckptlens.engine import reads


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
    reads.note(path)
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
            _read_builder(node, mapping)
    # `for model_type, base in _MODEL_TO_CONVERSION_PATTERN.items(): mapping[model_type] = ...`
    for name, base in aliases.items():
        if base in mapping:
            mapping[name] = list(mapping[base])
    return ConversionTable(mapping, aliases)


_UNREADABLE = [Transform("convert", (".*",), (".*",))]  # compare nothing rather than guess


def _read_builder(func: ast.FunctionDef, mapping: dict[str, list[Transform]]) -> None:
    """The statements of `_build_checkpoint_conversion_mapping`, in order: the dict literal,
    then `mapping["x"] = mapping["y"].copy() + [...]` and `mapping["x"] += [...]` edits."""
    for stmt in func.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict) and not mapping:
            _read_entries(stmt.value, mapping)
        elif isinstance(stmt, (ast.Assign, ast.AugAssign)):
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
            key = _mapping_key(target)
            if key is None:
                continue
            value = _transforms_of(stmt.value, mapping)
            if isinstance(stmt, ast.AugAssign):
                mapping[key] = [*mapping.get(key, _UNREADABLE), *value]
            else:
                mapping[key] = value


def _mapping_key(node: ast.expr) -> str | None:
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "mapping"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None


def _transforms_of(node: ast.expr, mapping: dict[str, list[Transform]]) -> list[Transform]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [*_transforms_of(node.left, mapping), *_transforms_of(node.right, mapping)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "copy":
        return _transforms_of(node.func.value, mapping)
    key = _mapping_key(node)
    if key is not None:
        return list(mapping.get(key, _UNREADABLE))
    if isinstance(node, ast.List):
        out = []
        for item in node.elts:
            transform = _transform(item)
            if transform is None:
                return list(_UNREADABLE)
            out.append(transform)
        return out
    return list(_UNREADABLE)


def _read_entries(table: ast.Dict, out: dict[str, list[Transform]]) -> None:
    for key_node, value_node in zip(table.keys, table.values, strict=True):
        if not (isinstance(key_node, ast.Constant) and isinstance(key_node.value, str)):
            continue
        if not isinstance(value_node, ast.List):
            continue
        out[key_node.value] = _transforms_of(value_node, out)


def _transform(node: ast.expr) -> Transform | None:
    if not isinstance(node, ast.Call):
        return None
    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
    if name == "PrefixChange":
        return _prefix_change(node)
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


def _prefix_change(node: ast.Call) -> Transform | None:
    """`PrefixChange(prefix_to_remove="vision_model")`: the renaming its constructor builds."""
    args: dict[str, str] = {}
    for kw in node.keywords:
        if kw.arg and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            args[kw.arg] = kw.value.value
    for i, arg in enumerate(node.args[:3]):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            args[("prefix_to_add", "prefix_to_remove", "model_prefix")[i]] = arg.value
    model = args.get("model_prefix", "")
    prefix = rf"{model}\." if model else ""
    if "prefix_to_add" in args and "prefix_to_remove" not in args:
        add = args["prefix_to_add"]
        return Transform("rename", (rf"^{prefix}(?:(?!{add}\.))(.+)$",), (rf"{prefix}{add}\.\1",))
    if "prefix_to_remove" in args and "prefix_to_add" not in args:
        return Transform("rename", (rf"^{prefix}{args['prefix_to_remove']}\.(.+)$",), (rf"{prefix}\1",))
    return None


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


def convert_keys(
    scoped: list[tuple[str, Transform]],
    keys: list[str],
    base_model_prefix: str = "",
    model_keys: Collection[str] | None = None,
) -> ConvertedKeys:
    """Each key through the renamings in order, then the converters, as transformers'
    `rename_source_key` does: the first match of a transform's pattern is replaced by its first
    target. A transform scoped to a submodule (`vit` in ViTForImageClassification) only sees the
    keys under it (optionally under `base_model_prefix` too), matched without that prefix.

    With `model_keys` (the model's own keys), a key already in the new layout stays as it is,
    as `convert_and_load_state_dict_in_model` keeps it: a renamed (or converted) key the model
    does not have, from a raw key the model has, "should probably not have been renamed"
    (`token_embedding.` -> `embeddings.token_embedding.` matches inside
    `embeddings.token_embedding.weight` too)."""
    result = ConvertedKeys()
    compiled: list[tuple[str, Transform, list[re.Pattern[str]]]] = []
    for scope, transform in scoped:
        try:
            compiled.append((scope, transform, [re.compile(p) for p in transform.sources]))
        except re.error:
            compiled.append((scope, Transform("convert", (".*",), (".*",)), [re.compile(".*")]))
    ordered = [c for c in compiled if c[1].kind == "rename"] + [c for c in compiled if c[1].kind == "convert"]
    for scope, transform, _ in ordered:
        if transform.kind == "convert":
            result.target_patterns.extend(
                f"^{re.escape(scope + '.')}.*?(?:{t})" if scope else t for t in transform.targets
            )
    for raw in keys:
        key = raw
        for scope, transform, patterns in ordered:
            head = ""
            if scope:
                candidates = [f"{base_model_prefix}.{scope}." if base_model_prefix else None, f"{scope}."]
                head = next((c for c in candidates if c and key.startswith(c)), "")
                if not head:
                    continue
            rest = key[len(head) :]
            match = next((m for m in (p.search(rest) for p in patterns) if m is not None), None)
            if match is None:
                continue
            replacement = transform.targets[0]
            if r"\1" in replacement and match.groups():
                replacement = replacement.replace(r"\1", match.group(1) or "")
            key = head + rest.replace(match.group(0), replacement, 1)
            if transform.kind == "convert":
                converted = True
                break
        else:
            converted = False
        if model_keys is not None and key != raw and key not in model_keys and raw in model_keys:
            continue  # already in the model's layout: transformers loads it unrenamed
        if converted:
            result.converted.add(raw)
        elif key != raw:
            result.renamed[raw] = key
    return result
