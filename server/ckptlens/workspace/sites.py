"""Load calls in the code: `Net.load_from_checkpoint(...)`, `Net.from_pretrained(...)`, and
`net = Net(...)` then `net.load_state_dict(...torch.load(...)...)` in the same scope."""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping
from typing import Any

from ckptlens.engine.mapping_code import ParsedMapping
from ckptlens.workspace.model import (
    FROM_PRETRAINED,
    LOAD_FROM_CHECKPOINT,
    LOAD_STATE_DICT,
    ImportRef,
    LoadSite,
)
from ckptlens.workspace.positions import Positions

# Arguments of `load_from_checkpoint` that are Lightning's own, not the class's.
_LIGHTNING_LOAD_PARAMS = frozenset(
    {"checkpoint_path", "map_location", "hparams_file", "strict", "weights_only"}
)
_CHAIN_METHODS = frozenset(
    {"to", "eval", "train", "cuda", "cpu", "float", "half", "double", "bfloat16", "requires_grad_"}
)
_STATE_DICT_LOADERS = frozenset(
    {"torch.load", "safetensors.torch.load_file", "safetensors.torch.load"}
)


_IN_PLACE_METHODS = frozenset({"update", "pop", "popitem", "setdefault", "clear", "__setitem__"})


def _unsettled_names(nodes: list[ast.AST]) -> set[str]:
    """Names of a scope whose value is not simply the one assignment we follow: bound more than
    once (branches, loops, `global`), or changed in place (`x[k] = v`, `del x[k]`, `x.update()`,
    `x.pop()`, ...)."""
    bound: dict[str, int] = {}
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound[node.id] = bound.get(node.id, 0) + 1
        elif isinstance(node, ast.Global | ast.Nonlocal):
            out.update(node.names)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            if isinstance(node.value, ast.Name):
                out.add(node.value.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _IN_PLACE_METHODS
            and isinstance(node.func.value, ast.Name)
        ):
            out.add(node.func.value.id)
    out.update(name for name, count in bound.items() if count > 1)
    return out


def _scope_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node of a scope, nested function and class bodies excluded, in source order."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        out.append(node)
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


def string_constants(body: list[ast.stmt]) -> dict[str, ast.expr]:
    """`NAME = "literal"` (or `Path("literal")`) assigned once in a block."""
    found: dict[str, ast.expr] = {}
    seen: set[str] = set()
    for node in body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None:
            continue
        if target.id in seen:
            found.pop(target.id, None)
            continue
        seen.add(target.id)
        if _path_literal(value) is not None:
            found[target.id] = value
    return found


def _path_literal(node: ast.expr) -> tuple[str, ast.expr] | None:
    """A path written as a literal: "x.pt", Path("x.pt"), os.path.join("a", "b")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, node
    if isinstance(node, ast.Call) and not node.keywords:
        name = _dotted(node.func)
        if (
            name
            and name.split(".")[-1] in ("Path", "PurePath", "PosixPath")
            and len(node.args) == 1
        ):
            inner = node.args[0]
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                return inner.value, inner
        if name in ("os.path.join", "path.join", "join") and node.args:
            parts = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            if len(parts) == len(node.args):
                return os.path.join(*parts), node
    return None


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    found = _keyword(call, name)
    if found is not None:
        return found
    if len(call.args) > index and not any(
        isinstance(a, ast.Starred) for a in call.args[: index + 1]
    ):
        return call.args[index]
    return None


class SiteFinder:
    """Load calls in one scope, following simple assignments in order."""

    def __init__(
        self,
        pos: Positions,
        imports: Mapping[str, ImportRef],
        local_classes: set[str],
        mapping_functions: Mapping[str, ParsedMapping],
        module_consts: Mapping[str, ast.expr],
    ) -> None:
        self.pos = pos
        self.imports = imports
        self.local_classes = local_classes
        self.mapping_functions = mapping_functions
        self.consts: dict[str, ast.expr] = dict(module_consts)
        self.models: dict[str, ast.Call] = {}  # variable -> the class instantiation
        self.loads: dict[str, ast.Call] = {}  # variable -> the torch.load / load_file call
        self.wrapped: dict[str, str] = {}  # variable -> mapping function applied to a load
        # variable -> the entries selected from a load's result (`ckpt = torch.load(p)["model"]`
        # -> ("model",)); None: a selection we do not follow
        self.entries: dict[str, tuple[str, ...] | None] = {}
        self.unsettled: set[str] = set()  # names bound twice or changed in place in this scope

    def qualify(self, node: ast.expr) -> str | None:
        """`T.load` -> `torch.load` when `import torch as T`; names of the file stay bare."""
        name = _dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        ref = self.imports.get(head)
        if ref is None or ref.level:
            return name
        base = f"{ref.module}.{ref.name}" if ref.name else ref.module
        return f"{base}.{rest}" if rest else base

    def is_loader(self, call: ast.Call) -> bool:
        return self.qualify(call.func) in _STATE_DICT_LOADERS

    def class_ref(self, node: ast.expr) -> tuple[str, ...] | None:
        name = _dotted(node)
        if name is None:
            return None
        parts = tuple(name.split("."))
        last = parts[-1]
        if not last[:1].isupper():  # classes by convention; keeps `model.load_state_dict` etc. out
            return None
        if len(parts) == 1 and parts[0] not in self.local_classes and parts[0] not in self.imports:
            return None
        return parts

    def instantiation(self, node: ast.expr) -> ast.Call | None:
        """`Net(...)`, `Net(...).to(device).eval()`."""
        while (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _CHAIN_METHODS
        ):
            node = node.func.value
        if isinstance(node, ast.Call) and self.class_ref(node.func) is not None:
            return node
        return None

    def path_of(self, node: ast.expr | None) -> tuple[str, ast.expr, ast.expr] | None:
        """(path, the expression at the call, the literal) for a literal or a constant name."""
        if node is None:
            return None
        found = _path_literal(node)
        if found is not None:
            return found[0], node, found[1]
        if isinstance(node, ast.Name) and node.id in self.consts:
            found = _path_literal(self.consts[node.id])
            if found is not None:
                return found[0], node, found[1]
        return None

    def find_load(self, node: ast.expr) -> tuple[ast.Call | None, str | None]:
        """The loader call feeding a state_dict expression, and a generated mapping around it."""
        mapping = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in self.mapping_functions
            and len(node.args) == 1
        ):
            mapping, node = node.func.id, node.args[0]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and self.is_loader(sub):
                return sub, mapping
            if isinstance(sub, ast.Name) and sub.id in self.loads:
                return self.loads[sub.id], mapping or self.wrapped.get(sub.id)
        return None, mapping

    def selected_entries(self, node: ast.expr) -> tuple[str, ...] | None:
        """The entries `load_state_dict`'s argument selects from the loaded file, when that is
        plain: `torch.load(p)`, `torch.load(p)["state_dict"]`, `ckpt`, `ckpt["model"]` with
        `ckpt` bound once to such an expression and never changed in place. None otherwise (a
        comprehension, a `.get(...)`, a generated mapping, a name bound twice: not followed)."""
        keys: list[str] = []
        while isinstance(node, ast.Subscript):
            if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                return None
            keys.append(node.slice.value)
            node = node.value
        keys.reverse()
        if isinstance(node, ast.Call) and self.is_loader(node):
            return tuple(keys)
        if isinstance(node, ast.Name) and node.id in self.loads and node.id not in self.unsettled:
            base = self.entries.get(node.id)
            return None if base is None else (*base, *keys)
        return None

    def run(self, body: list[ast.stmt]) -> list[LoadSite]:
        events: list[tuple[tuple[int, int], int, ast.AST]] = []
        nodes = _scope_nodes(body)
        self.unsettled = _unsettled_names(nodes)
        for node in nodes:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
                events.append((end, 1, node))
            elif isinstance(node, ast.Call):
                events.append(((node.lineno, node.col_offset), 0, node))
        events.sort(key=lambda e: (e[0], e[1]))
        sites: list[LoadSite] = []
        for _, _, node in events:
            if isinstance(node, ast.Call):
                site = self.site(node)
                if site is not None:
                    sites.append(site)
            else:
                self.bind(node)  # type: ignore[arg-type]
        return sites

    def bind(self, node: ast.Assign | ast.AnnAssign) -> None:
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                return
            target, value = node.targets[0], node.value
        else:
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None:
            return
        name = target.id
        for table in (self.models, self.loads, self.wrapped, self.consts, self.entries):
            table.pop(name, None)
        made = self.instantiation(value)
        if made is not None:
            self.models[name] = made
            return
        inner: ast.expr = value
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id in self.mapping_functions
            and len(inner.args) == 1
        ):
            self.wrapped[name] = inner.func.id
            inner = inner.args[0]
        while isinstance(inner, ast.Subscript):
            inner = inner.value
        if isinstance(inner, ast.Call) and self.is_loader(inner):
            self.loads[name] = inner
            self.entries[name] = None if name in self.wrapped else self.selected_entries(value)
        elif isinstance(inner, ast.Name) and inner.id in self.loads:
            self.loads[name] = self.loads[inner.id]
            if inner.id in self.wrapped:
                self.wrapped.setdefault(name, self.wrapped[inner.id])
            self.entries[name] = None if name in self.wrapped else self.selected_entries(value)
        elif _path_literal(value) is not None:
            self.consts[name] = value
        else:
            self.wrapped.pop(name, None)

    def site(self, call: ast.Call) -> LoadSite | None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return None
        if func.attr == "load_state_dict":
            return self.load_state_dict_site(call, func.value)
        if func.attr in (LOAD_FROM_CHECKPOINT, FROM_PRETRAINED):
            ref = self.class_ref(func.value)
            if ref is None:
                return None
            name = (
                "checkpoint_path"
                if func.attr == LOAD_FROM_CHECKPOINT
                else "pretrained_model_name_or_path"
            )
            found = self.path_of(_argument(call, 0, name))
            if found is None:
                return None
            path, expr, literal = found
            init: list[tuple[str, Any]] = []
            if func.attr == LOAD_FROM_CHECKPOINT:
                for kw in call.keywords:
                    if kw.arg and kw.arg not in _LIGHTNING_LOAD_PARAMS:
                        ok, value = _literal(kw.value)
                        if ok:
                            init.append((kw.arg, value))
            strict = _keyword(call, "strict")
            return LoadSite(
                kind=func.attr,
                class_ref=ref,
                checkpoint=path,
                path_range=self.pos.range(expr),
                literal_range=self.pos.range(literal),
                call_range=self.pos.range(call),
                init=tuple(init),
                strict_false=isinstance(strict, ast.Constant) and strict.value is False,
                map_location=(_keyword(call, "map_location") is not None)
                if func.attr == LOAD_FROM_CHECKPOINT
                else None,
            )
        return None

    def load_state_dict_site(self, call: ast.Call, owner: ast.expr) -> LoadSite | None:
        made = (
            self.models.get(owner.id) if isinstance(owner, ast.Name) else self.instantiation(owner)
        )
        if made is None or not call.args:
            return None
        ref = self.class_ref(made.func)
        if ref is None:
            return None
        state_arg = call.args[0]
        loader, mapping = self.find_load(state_arg)
        if loader is None:
            return None
        is_torch = self.qualify(loader.func) == "torch.load"
        found = self.path_of(_argument(loader, 0, "f" if is_torch else "filename"))
        if found is None:
            return None
        path, expr, literal = found
        init: list[tuple[str, Any]] = []
        positional: list[tuple[int, Any]] = []
        for index, arg in enumerate(made.args):
            if isinstance(arg, ast.Starred):
                break
            ok, value = _literal(arg)
            if ok:
                positional.append((index, value))
        for kw in made.keywords:
            if kw.arg:
                ok, value = _literal(kw.value)
                if ok:
                    init.append((kw.arg, value))
        strict = _argument(call, 1, "strict")
        map_location = None
        if is_torch:
            map_location = _argument(loader, 1, "map_location") is not None
        return LoadSite(
            kind=LOAD_STATE_DICT,
            class_ref=ref,
            checkpoint=path,
            path_range=self.pos.range(expr),
            literal_range=self.pos.range(literal),
            call_range=self.pos.range(call),
            init=tuple(init),
            init_positional=tuple(positional),
            strict_false=isinstance(strict, ast.Constant) and strict.value is False,
            map_location=map_location,
            state_arg_range=self.pos.range(state_arg),
            site_mapping=self.mapping_functions.get(mapping) if mapping else None,
            state_entries=None if mapping or not is_torch else self.selected_entries(state_arg),
        )
