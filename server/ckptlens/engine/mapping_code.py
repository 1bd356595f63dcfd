"""The key-mapping code ckptlens generates, and the reader that understands it again.

The generated function is data first: its behaviour is fixed by a template and everything
specific to a checkpoint sits in literal constants at the top of its body:

    STATE_DICT_PATH = ("model_state_dict",)  # only when the file wraps its state_dict:
                                      # the entries leading to it in what torch.load returns
    STRIP_PREFIX = "module."          # removed from the keys that start with it
    ADD_PREFIX = ""                   # then prepended to every key
    RENAMES = {"layer1.": "layer_1."} # then the first matching entry: a prefix (ending in ".")
                                      # or an exact key, checkpoint name -> model name
    DROP = {"head.weight"}            # checkpoint keys (as in the file) discarded first
    DROP_PREFIXES = ("decoder.",)     # ... and every key in the file under these paths

The function takes what `torch.load` returns as well as the state_dict itself: it walks
STATE_DICT_PATH as far as the entries are there (dropping every other entry of the file), so
`model.load_state_dict(remap_state_dict(torch.load(path)))` loads a wrapped checkpoint as
written. Its docstring ends with that line, the way to load the checkpoint through it.

`parse_mapping_code` recognises that exact form with `ast` (never executing anything): the
constants are read with `ast.literal_eval` and the rest of the body must equal the template,
so a re-check after the fix can apply the same mapping to the checkpoint's keys.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.engine.compare import Comparison
from ckptlens.engine.keys import leading_paths, summarize_keys

DEFAULT_FUNCTION_NAME = "remap_state_dict"

_T = TypeVar("_T")

_CONSTANTS = ("STRIP_PREFIX", "ADD_PREFIX", "RENAMES", "DROP", "DROP_PREFIXES")
_PATH_CONSTANT = "STATE_DICT_PATH"  # present only when the file wraps its state_dict

# Takes the state_dict out of what torch.load returns; a state_dict given as it is has no
# such entry (its values are tensors), so it passes through.
_UNWRAP_BODY = """\
for entry in STATE_DICT_PATH:
    if isinstance(state_dict.get(entry), dict):
        state_dict = state_dict[entry]
"""

_TEMPLATE_BODY = """\
out = {}
for key, value in state_dict.items():
    if key in DROP or key.startswith(DROP_PREFIXES):
        continue
    if STRIP_PREFIX and key.startswith(STRIP_PREFIX):
        key = key[len(STRIP_PREFIX):]
    key = ADD_PREFIX + key
    for old, new in RENAMES.items():
        if key == old or (old.endswith(".") and key.startswith(old)):
            key = new + key[len(old):]
            break
    out[key] = value
return out
"""


@dataclass(frozen=True)
class ParsedMapping:
    """The data of a key-mapping function (generated, or read back from source)."""

    strip_prefix: str = ""
    add_prefix: str = ""
    renames: tuple[tuple[str, str], ...] = ()  # (checkpoint prefix or key, model prefix or key)
    drop: tuple[str, ...] = ()  # checkpoint keys as in the file
    drop_prefixes: tuple[str, ...] = ()  # dotted paths ending in "."
    state_dict_path: tuple[str, ...] = ()  # entries of the loaded file leading to the state_dict
    missing: tuple[str, ...] = field(default=(), compare=False)  # for the docstring only
    function_name: str = DEFAULT_FUNCTION_NAME
    line: int = 0  # 1-based line of the `def` when read from source, else 0
    _drop_set: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_drop_set", frozenset(self.drop))

    def rename(self, key: str) -> str:
        """A checkpoint key (not dropped) -> the key it gets, exactly as the function does it."""
        if self.strip_prefix and key.startswith(self.strip_prefix):
            key = key[len(self.strip_prefix) :]
        key = self.add_prefix + key
        for old, new in self.renames:
            if key == old or (old.endswith(".") and key.startswith(old)):
                return new + key[len(old) :]
        return key

    def drops(self, key: str) -> bool:
        return key in self._drop_set or key.startswith(self.drop_prefixes)


def mapping_plan(
    comparison: Comparison,
    *,
    function_name: str = DEFAULT_FUNCTION_NAME,
    state_dict_path: Sequence[str] = (),
) -> ParsedMapping:
    """The function's data for a comparison: its prefix change, renames and dropped keys;
    `state_dict_path` is where the checkpoint file keeps the state_dict (`CheckpointIndex`)."""
    prefix = comparison.prefix
    renames = []
    model_keys = set(comparison.mapping.mapping.values())
    for checkpoint_prefix, model_prefix in comparison.renames:
        # A pair naming one tensor (its target is a key) stays exact; a subtree gets the dot.
        if model_prefix in model_keys:
            renames.append((checkpoint_prefix, model_prefix))
        else:
            renames.append((checkpoint_prefix + ".", model_prefix + "."))
    renames.sort(key=lambda pair: -len(pair[0]))
    all_keys = list(comparison.mapping.mapping) + list(comparison.mapping.dropped)
    drop, drop_prefixes = _collapse_drops(comparison.mapping.dropped, all_keys)
    return ParsedMapping(
        strip_prefix=prefix.strip if prefix else "",
        add_prefix=prefix.add if prefix else "",
        renames=tuple(renames),
        drop=tuple(drop),
        drop_prefixes=tuple(drop_prefixes),
        state_dict_path=tuple(state_dict_path),
        missing=tuple(comparison.mapping.missing),
        function_name=function_name,
    )


def _collapse_drops(dropped: Sequence[str], all_keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """Dropped keys, with whole subtrees of the file (two keys or more) turned into prefixes:
    exact for this checkpoint, never covering a key that is kept."""
    dropped_set = set(dropped)
    counts: dict[str, int] = {}
    kept_under: set[str] = set()
    for key in all_keys:
        for path in leading_paths(key):
            counts[path] = counts.get(path, 0) + 1
            if key not in dropped_set:
                kept_under.add(path)
    prefixes: list[str] = []
    keys: list[str] = []
    for key in dropped:
        if any(key.startswith(p) for p in prefixes):
            continue
        for path in leading_paths(key):
            if path not in kept_under and counts[path] >= 2:
                prefixes.append(path + ".")
                break
        else:
            keys.append(key)
    return keys, prefixes


def render_python(
    plan: Comparison | ParsedMapping,
    function_name: str = DEFAULT_FUNCTION_NAME,
    *,
    class_name: str | None = None,
    indent: str = "",
    checkpoint: CheckpointIndex | None = None,
    hook: bool | None = None,
) -> str:
    """A self-contained function (no imports) that remaps a checkpoint's state_dict so that
    `load_state_dict` accepts it. `indent` prefixes every line (to place it in a class).
    `checkpoint`: where the file keeps its state_dict, what else it holds and how it is loaded,
    for the code and its docstring. `hook` (default: when indented) writes the docstring for a
    method a load_state_dict pre-hook applies: the user's own load call stays as it is."""
    if isinstance(plan, Comparison):
        plan = mapping_plan(
            plan,
            function_name=function_name,
            state_dict_path=checkpoint.state_dict_path if checkpoint is not None else (),
        )
    else:
        plan = replace(plan, function_name=function_name)
        if checkpoint is not None:
            plan = replace(plan, state_dict_path=checkpoint.state_dict_path)
    if hook is None:
        hook = bool(indent)
    target = f" for `{class_name}`" if class_name else ""
    doc = [f"Remap a checkpoint's state_dict{target} so that load_state_dict accepts it."]
    doc.append("")
    if hook:
        doc.append("A load_state_dict pre-hook of the class applies it: the file loads as it is.")
    if checkpoint is not None and checkpoint.format.startswith("hf-"):
        doc.append("It takes the tensors of every file of the folder, in one dict.")
    else:
        entries = checkpoint.entries if checkpoint is not None else ()
        doc.extend(_wrap(where_state_dict_sits(plan.state_dict_path, entries), ""))
    if plan.missing:
        doc.append("Still missing (load with strict=False):")
        doc.extend(_wrap(summarize_keys(plan.missing, limit=40), "    "))
        doc.append("Load it with:")
    else:
        doc.append("Every model key is filled: strict loading works. Load it with:")
    doc.append("")
    doc.extend("    " + line for line in load_lines(plan, checkpoint, hook=hook))
    doc.append("")
    doc.append("Generated by ckptlens; it reads the constants below back, so keep their form.")
    lines = [f"def {function_name}(state_dict):", '    """' + doc[0]]
    lines.extend(("    " + line) if line else "" for line in doc[1:])
    lines.append('    """')
    if plan.state_dict_path:
        lines.append(f"    {_PATH_CONSTANT} = {_tuple_literal(plan.state_dict_path)}")
    lines.append(f"    STRIP_PREFIX = {_literal(plan.strip_prefix)}")
    lines.append(f"    ADD_PREFIX = {_literal(plan.add_prefix)}")
    lines.extend(_dict_literal("RENAMES", plan.renames))
    lines.extend(_collection_literal("DROP", plan.drop, "{", "}", "set()"))
    lines.extend(_collection_literal("DROP_PREFIXES", plan.drop_prefixes, "(", ")", "()"))
    body = (_UNWRAP_BODY if plan.state_dict_path else "") + _TEMPLATE_BODY
    lines.extend("    " + line if line else "" for line in body.splitlines())
    return "".join(indent + line + "\n" if line else "\n" for line in lines)


def subscript_path(state_dict_path: Sequence[str]) -> str:
    """`["model"]["state_dict"]`: how the state_dict is taken out of what torch.load returns."""
    return "".join(f"[{_literal(entry)}]" for entry in state_dict_path)


def where_state_dict_sits(state_dict_path: Sequence[str], entries: Sequence[str] = ()) -> str:
    """One sentence: where the file keeps its state_dict, and what the mapping does with the
    rest of the file (`entries`: the file's top-level keys, when known)."""
    if not state_dict_path:
        return "The file is the state_dict itself."
    others = [e for e in entries if e != state_dict_path[0]]
    dropped = f" ({', '.join(others)})" if others else ""
    return (
        f"It takes what torch.load returns, whose state_dict sits at "
        f"{subscript_path(state_dict_path)}, and drops the file's other entries{dropped}; "
        "the state_dict itself works too."
    )


def load_lines(
    plan: ParsedMapping, checkpoint: CheckpointIndex | None = None, *, hook: bool = False
) -> list[str]:
    """The code that loads the checkpoint file into `model` through the mapping (the last
    lines of its docstring): `path` is the file, `torch` imported."""
    lines: list[str] = []
    fmt = checkpoint.format if checkpoint is not None else "torch-zip"
    if fmt == "safetensors":
        lines.append("from safetensors.torch import load_file")
        loaded = "load_file(path)"
    elif fmt.startswith("torch"):
        on_device = checkpoint is not None and any(
            t.device != "cpu" for t in checkpoint.tensors.values()
        )
        loaded = 'torch.load(path, map_location="cpu")' if on_device else "torch.load(path)"
    else:  # a folder (hf-sharded, hf-folder): the tensors of all its files in one dict
        loaded = "state_dict"
    argument = loaded if hook else f"{plan.function_name}({loaded})"
    strict = ", strict=False" if plan.missing else ""
    lines.append(f"model.load_state_dict({argument}{strict})")
    return lines


def _tuple_literal(items: Sequence[str]) -> str:
    inside = ", ".join(_literal(item) for item in items)
    return f"({inside},)" if len(items) == 1 else f"({inside})"


def _literal(value: str) -> str:
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1] + '"'
    return text


def _dict_literal(name: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    if not pairs:
        return [f"    {name} = {{}}"]
    lines = [f"    {name} = {{"]
    lines.extend(f"        {_literal(a)}: {_literal(b)}," for a, b in pairs)
    lines.append("    }")
    return lines


def _collection_literal(
    name: str, items: Sequence[str], open_: str, close: str, empty: str
) -> list[str]:
    if not items:
        return [f"    {name} = {empty}"]
    lines = [f"    {name} = {open_}"]
    lines.extend(f"        {_literal(item)}," for item in items)
    lines.append(f"    {close}")
    return lines


def _wrap(text: str, prefix: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(prefix) + len(current) + 1 + len(word) > width:
            lines.append(prefix + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(prefix + current)
    return lines


# -- reading it back ------------------------------------------------------------------------


def _dump(body: str) -> list[str]:
    return [ast.dump(node) for node in ast.parse(body).body]


_TEMPLATE_DUMP = _dump(_TEMPLATE_BODY)
_UNWRAP_TEMPLATE_DUMP = _dump(_UNWRAP_BODY + _TEMPLATE_BODY)


def find_mapping_functions(source: str) -> list[ParsedMapping]:
    """Every function in `source` (module level, in a class, nested) that has the generated
    form, in source order. A syntax error gives []."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            parsed = _parse_function(node)
            if parsed is not None:
                found.append(parsed)
    found.sort(key=lambda p: p.line)
    return found


def parse_mapping_code(source: str, function_name: str | None = None) -> ParsedMapping | None:
    """The first generated mapping function in `source` (or the one named `function_name`)."""
    for parsed in find_mapping_functions(source):
        if function_name is None or parsed.function_name == function_name:
            return parsed
    return None


def _parse_function(node: ast.FunctionDef) -> ParsedMapping | None:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    values: dict[str, object] = {}
    while body and isinstance(body[0], ast.Assign) and len(body[0].targets) == 1:
        target = body[0].targets[0]
        if (
            not isinstance(target, ast.Name)
            or target.id not in (*_CONSTANTS, _PATH_CONSTANT)
            or target.id in values
        ):
            break
        value = body[0].value
        try:
            if isinstance(value, ast.Set):  # keep the written order of DROP
                values[target.id] = tuple(ast.literal_eval(e) for e in value.elts)
            else:
                values[target.id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        body = body[1:]
    unwraps = _PATH_CONSTANT in values
    state_dict_path = values.pop(_PATH_CONSTANT, ())
    if set(values) != set(_CONSTANTS):
        return None
    template = _UNWRAP_TEMPLATE_DUMP if unwraps else _TEMPLATE_DUMP
    if [ast.dump(statement) for statement in body] != template:
        return None
    if not isinstance(state_dict_path, tuple) or not all(
        isinstance(entry, str) for entry in state_dict_path
    ):
        return None
    if [a.arg for a in node.args.args] not in (["state_dict"], ["self", "state_dict"]):
        return None
    strip, add = values["STRIP_PREFIX"], values["ADD_PREFIX"]
    renames, drop, drop_prefixes = values["RENAMES"], values["DROP"], values["DROP_PREFIXES"]
    if not isinstance(strip, str) or not isinstance(add, str):
        return None
    if not isinstance(renames, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in renames.items()
    ):
        return None
    if isinstance(drop, set):  # `set()`
        drop = tuple(drop)
    if not isinstance(drop, tuple | list) or not all(isinstance(k, str) for k in drop):
        return None
    if not isinstance(drop_prefixes, tuple) or not all(isinstance(k, str) for k in drop_prefixes):
        return None
    return ParsedMapping(
        strip_prefix=strip,
        add_prefix=add,
        renames=tuple(renames.items()),
        drop=tuple(drop),
        drop_prefixes=drop_prefixes,
        state_dict_path=state_dict_path,
        function_name=node.name,
        line=node.lineno,
    )


def apply_parsed_mapping(
    parsed: ParsedMapping, keys: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """What the function does to a state_dict with these keys: ({old key: new key} for every
    key kept, identity entries included; the keys dropped), in the given order. Two keys that
    end up on one name: the later one wins, as in the function's dict."""
    mapping: dict[str, str] = {}
    dropped: list[str] = []
    for key in keys:
        if parsed.drops(key):
            dropped.append(key)
        else:
            mapping[key] = parsed.rename(key)
    return mapping, dropped


def remap_tensors(parsed: ParsedMapping, tensors: Mapping[str, _T]) -> dict[str, _T]:
    """A checkpoint's tensors (key -> info) as the mapping function would leave them."""
    out: dict[str, _T] = {}
    for key, value in tensors.items():
        if not parsed.drops(key):
            out[parsed.rename(key)] = value
    return out
