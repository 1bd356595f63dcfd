"""Ground truth for the fixture corpus, from real torch.

Imports a fixture file (with `fixtures/models` on `sys.path`, so sibling files and the `pkg`
package import as they would for the user), builds the class or factory with the case's
arguments and records, while it builds, which line of the user's code explains each tensor.

The origin rule (what `PredictedTensor.origin` must point at):

* an *anchor* is a statement in a fixture file, executing in a frame whose `self` is an
  `nn.Module`, that is an assignment to a target rooted at `self` (`self.fc = ...`,
  `self.layers[0] = ...`, `self.resnet.fc = ...`, `self.decoder.weight = ...`,
  `self.blocks += [...]`) or an
  expression statement calling something rooted at `self` (`self.add_module(...)`,
  `self.register_buffer(...)`, `self.blocks.append(...)`) or `setattr(self, ...)`. Its position
  is the start of the target (or of the call): line 1-based, column 0-based;
* a tensor's origin is the innermost anchor active when torch registered it
  (`register_parameter` / `register_buffer` / assigning a tensor to a buffer slot);
* when none was active (a layer built into a local first), the origin of the module owning it:
  the innermost anchor active when that module was created, else when it was attached to its
  parent, else its parent's origin; the root's origin is its class (or factory) name.

So a layer built by a helper method or function (`_make_layer`, `make_mlp`) is explained by the
`self.layer1 = self._make_layer(...)` that called the helper, and a layer inside a user class
(`ResBlock.conv1`) by that class's own `self.conv1 = ...`, in whatever file it is defined.
Statements on locals (`layers.append(nn.Linear(...))`, `layers += [...]`) and
`super().__init__(*layers)` are not anchors: the layers they collect are explained by the
`self.x = nn.Sequential(*layers)` that attaches them (or by the class name for the root).
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import sys
import types
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "models"
_FIXTURES_PREFIX = str(FIXTURES) + os.sep

# Modules the fixtures import that are deliberately *not* on any path the analysis searches
# (`unknown_import.py`): they exist only in this process, built from this text.
_STUB_SOURCES = {
    "some_missing_pkg": """
import torch
from torch import nn


class FancyBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gate = nn.Linear(dim, dim * 2)
        self.scale = nn.Parameter(torch.ones(dim))
""",
    "some_missing_pkg.layers": """
from torch import nn


def fancy_norm(dim):
    return nn.LayerNorm(dim)
""",
}


@dataclass(frozen=True)
class Where:
    """A position in a source file: line 1-based, col 0-based (libcst's convention)."""

    file: str
    line: int
    col: int

    def short(self) -> str:
        return f"{Path(self.file).relative_to(FIXTURES)}:{self.line}:{self.col}"


@dataclass(frozen=True)
class TrueTensor:
    key: str
    shape: tuple[int, ...]
    dtype: str  # torch's name without the prefix
    kind: str  # "parameter" | "buffer"
    origin: Where


@dataclass
class Truth:
    """What the real model holds, in `state_dict()` order, with the origin of each tensor."""

    rel: str  # the fixture file, relative to fixtures/models
    file: Path
    class_name: str
    init: dict[str, Any]
    model: nn.Module
    tensors: dict[str, TrueTensor]
    module_origins: dict[str, Where]  # "" is the root
    root: Where

    def keys_under(self, prefix: str) -> list[str]:
        return [k for k in self.tensors if under(k, prefix)]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()


def under(key: str, prefix: str) -> bool:
    return prefix == "" or key == prefix or key.startswith(prefix + ".")


def fixture_path(rel: str) -> Path:
    return FIXTURES / rel


def module_name(rel: str) -> str:
    parts = list(Path(rel).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _install_stubs() -> None:
    for name, source in _STUB_SOURCES.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__file__ = f"<ckptlens test stub {name}>"
        if "." not in name:
            module.__path__ = []  # a package, so that `some_missing_pkg.layers` imports
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


def import_fixture(rel: str) -> types.ModuleType:
    """Imports a fixture file the way the user's program would, with torch."""
    if str(FIXTURES) not in sys.path:
        sys.path.append(str(FIXTURES))  # last: the fixtures never shadow what other tests import
    _install_stubs()
    module = importlib.import_module(module_name(rel))
    where = Path(module.__file__ or "").resolve()
    assert where == fixture_path(rel).resolve(), f"{rel} imported from {where}: a name clash"
    return module


# ---------------------------------------------------------------- source positions


@functools.cache
def _statements(path: str) -> tuple[tuple[int, int, ast.stmt], ...]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            out.append((node.lineno, node.end_lineno or node.lineno, node))
    return tuple(out)


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _anchor_of(stmt: ast.stmt) -> tuple[int, int] | None:
    if isinstance(stmt, ast.Assign):
        target = stmt.targets[0]
    elif isinstance(stmt, ast.AugAssign) or (
        isinstance(stmt, ast.AnnAssign) and stmt.value is not None
    ):
        target = stmt.target
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if isinstance(call.func, ast.Attribute) and _root_name(call.func) == "self":
            return call.lineno, call.col_offset
        if (
            isinstance(call.func, ast.Name)
            and call.func.id == "setattr"
            and call.args
            and _root_name(call.args[0]) == "self"
        ):
            return call.lineno, call.col_offset
        return None
    else:
        return None
    if isinstance(target, (ast.Attribute, ast.Subscript)) and _root_name(target) == "self":
        return target.lineno, target.col_offset
    return None


@functools.cache
def _anchor_at(path: str, line: int) -> Where | None:
    """The anchor of the innermost statement of `path` containing `line`, if it is one."""
    best: tuple[int, int, ast.stmt] | None = None
    for start, end, stmt in _statements(path):
        if start <= line <= end and (best is None or (start, -end) > (best[0], -best[1])):
            best = (start, end, stmt)
    if best is None:
        return None
    pos = _anchor_of(best[2])
    return Where(path, *pos) if pos else None


@functools.cache
def _in_fixtures(filename: str) -> str | None:
    real = os.path.realpath(filename)
    return real if real.startswith(_FIXTURES_PREFIX) else None


def _current_anchor() -> Where | None:
    frame = sys._getframe(2)
    while frame is not None:
        path = _in_fixtures(frame.f_code.co_filename)
        if path is not None and isinstance(frame.f_locals.get("self"), nn.Module):
            anchor = _anchor_at(path, frame.f_lineno)
            if anchor is not None:
                return anchor
        frame = frame.f_back
    return None


def root_origin(rel: str, name: str) -> Where:
    """The position of the name in `class Name` / `def Name` at the top of the file."""
    path = str(fixture_path(rel).resolve())
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            line = node.lineno  # the `class`/`def` line, below any decorators
            text = lines[line - 1]
            keyword = "class " if isinstance(node, ast.ClassDef) else "def "
            return Where(path, line, text.index(keyword + name) + len(keyword))
    raise LookupError(f"no top-level class or function {name} in {rel}")


# ---------------------------------------------------------------- the tracer


class _Tracer:
    def __init__(self) -> None:
        self.created: dict[int, Where] = {}
        self.attached: dict[int, Where] = {}
        self.tensors: dict[tuple[int, str], Where] = {}
        self.keep: list[Any] = []  # ids stay valid while the build is traced

    def module_created(self, module: nn.Module) -> None:
        if id(module) not in self.created:
            self.keep.append(module)
            anchor = _current_anchor()
            if anchor is not None:
                self.created[id(module)] = anchor

    def module_attached(self, module: Any) -> None:
        if isinstance(module, nn.Module) and id(module) not in self.attached:
            anchor = _current_anchor()
            if anchor is not None:
                self.keep.append(module)
                self.attached[id(module)] = anchor

    def tensor_registered(self, owner: nn.Module, name: str, value: Any, replace: bool) -> None:
        if value is None or (not replace and (id(owner), name) in self.tensors):
            return
        anchor = _current_anchor()
        self.keep.append(owner)
        if anchor is not None:
            self.tensors[(id(owner), name)] = anchor
        else:
            self.tensors.pop((id(owner), name), None)


@contextmanager
def _tracing() -> Iterator[_Tracer]:
    tracer = _Tracer()
    M = nn.Module
    saved = {
        name: M.__dict__[name]
        for name in (
            "__init__",
            "register_parameter",
            "register_buffer",
            "__setattr__",
            "add_module",
            "register_module",
        )
    }

    def init(self, *args, **kwargs):
        saved["__init__"](self, *args, **kwargs)
        tracer.module_created(self)

    def register_parameter(self, name, param):
        saved["register_parameter"](self, name, param)
        tracer.tensor_registered(self, name, param, replace=True)

    def register_buffer(self, name, tensor, persistent=True):
        saved["register_buffer"](self, name, tensor, persistent)
        tracer.tensor_registered(self, name, tensor, replace=True)

    def setattr_(self, name, value):
        is_buffer_slot = (
            isinstance(value, torch.Tensor)
            and not isinstance(value, nn.Parameter)
            and name in self.__dict__.get("_buffers", {})
        )
        saved["__setattr__"](self, name, value)
        if isinstance(value, nn.Module):
            tracer.module_attached(value)
        elif is_buffer_slot:
            tracer.tensor_registered(self, name, value, replace=False)

    def add_module(self, name, module):
        saved["add_module"](self, name, module)
        tracer.module_attached(module)

    def register_module(self, name, module):
        saved["register_module"](self, name, module)
        tracer.module_attached(module)

    patches = {
        "__init__": init,
        "register_parameter": register_parameter,
        "register_buffer": register_buffer,
        "__setattr__": setattr_,
        "add_module": add_module,
        "register_module": register_module,
    }
    try:
        for name, fn in patches.items():
            setattr(M, name, fn)
        yield tracer
    finally:
        for name, fn in saved.items():
            setattr(M, name, fn)


# ---------------------------------------------------------------- building


def _freeze(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def make(rel: str, class_name: str, init: Mapping[str, Any]) -> nn.Module:
    """A fresh, untraced instance (for loading checkpoints into)."""
    factory = getattr(import_fixture(rel), class_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return factory(**dict(init))


def build(rel: str, class_name: str, init: Mapping[str, Any] | None = None) -> Truth:
    return _build(rel, class_name, _freeze(dict(init or {})))


@functools.cache
def _build(rel: str, class_name: str, frozen_init: str) -> Truth:
    init = json.loads(frozen_init)
    factory = getattr(import_fixture(rel), class_name)
    torch.manual_seed(0)
    with _tracing() as tracer, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = factory(**init)
    root = root_origin(rel, class_name)

    tensors: dict[str, TrueTensor] = {}
    module_origins: dict[str, Where] = {}

    def walk(module: nn.Module, prefix: str, parent_origin: Where) -> None:
        mid = id(module)
        origin = tracer.created.get(mid) or tracer.attached.get(mid) or parent_origin
        module_origins.setdefault(prefix.rstrip("."), origin)
        for name, param in module._parameters.items():
            if param is not None:
                tensors[prefix + name] = TrueTensor(
                    prefix + name,
                    tuple(param.shape),
                    _dtype(param),
                    "parameter",
                    tracer.tensors.get((mid, name), origin),
                )
        for name, buf in module._buffers.items():
            if buf is not None and name not in module._non_persistent_buffers_set:
                tensors[prefix + name] = TrueTensor(
                    prefix + name,
                    tuple(buf.shape),
                    _dtype(buf),
                    "buffer",
                    tracer.tensors.get((mid, name), origin),
                )
        for name, child in module._modules.items():
            if child is not None:
                walk(child, prefix + name + ".", origin)

    walk(model, "", root)
    real = model.state_dict()
    assert list(tensors) == list(real), f"the walk differs from state_dict() for {rel}:{class_name}"
    for key, value in real.items():
        assert tensors[key].shape == tuple(value.shape)
    return Truth(rel, fixture_path(rel), class_name, init, model, tensors, module_origins, root)


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


# ---------------------------------------------------------------- origin markers


def resolve_marker(rel: str, class_name: str, marker: str) -> Where:
    """`"<root>"`, `"text"` (unique within the case's class or function, else in its file) or
    `"other/file.py::text"` (unique in that file): the position where the text starts."""
    if marker == "<root>":
        return root_origin(rel, class_name)
    file_rel, sep, text = marker.partition("::")
    path = fixture_path(file_rel if sep else rel).resolve()
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    first, last = 1, len(lines)
    if not sep:
        text = marker
        for node in ast.parse(source).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == class_name:
                first, last = node.lineno, node.end_lineno or len(lines)
    hits = [(i, lines[i - 1].index(text)) for i in range(first, last + 1) if text in lines[i - 1]]
    if not hits and not sep:  # defined in another class of the same file
        hits = [(i, line.index(text)) for i, line in enumerate(lines, 1) if text in line]
    if len(hits) != 1:
        raise LookupError(f"origin marker {marker!r} found {len(hits)} times in {path.name}")
    return Where(str(path), *hits[0])
