"""The abstract interpreter: runs a class's `__init__` over abstract values, never executing it.

Values are Python literals and containers, `Unknown`, `TensorValue`, `ModuleValue` (a module
under construction) and references to code (`ClassRef`, `FunctionRef`, `ExternalRef`). Library
layers come from the layer catalog; user classes and helpers are interpreted from source.
Whatever cannot be known becomes `Unknown` and flows on silently; structure that depends on it
becomes an opaque (unknown) part of the model.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import math
import operator
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ckptlens.engine import catalog, containment, costs, stdlib, symbolic, tensor_data, tensors
from ckptlens.engine.catalog_base import ArgumentError
from ckptlens.engine.constructor import register_config, registers_config
from ckptlens.engine.loader import Loader, SourceError, SourceFile
from ckptlens.engine.objects import (
    AttrDict,
    BoundMethod,
    ClassRef,
    ExternalRef,
    FunctionRef,
    HookRef,
    ModuleNamespace,
    ModuleValue,
    ObjectValue,
    PartialValue,
    Shared,
    SuperProxy,
    mark_open,
    opaque_module,
)
from ckptlens.engine.symbolic import Sym, SymConfig, SymItems, SymList, SymRange, SymSeq
from ckptlens.engine.values import TensorValue, Unknown, Unresolvable, is_unknown
from ckptlens.findings import SourceRange

MAX_STEPS = 400_000
MAX_DEPTH = 24  # interpreted calls; each costs a few dozen Python frames of the 1,000 allowed
MAX_SECONDS = 10.0  # wall-clock cap of one analysis (the language server runs it off-thread)
MAX_SEQUENCE = 100_000
# a comprehension over more items than this that spends more steps than that is not followed
LONG_COMPREHENSION = 1_000
COMPREHENSION_STEPS = 50_000
MAX_BASES = 64  # base classes of one class statement

# Libraries known by name: their objects are ExternalRefs, resolved through the catalog and the
# tables below, never through their source.
SYMBOLIC_ROOTS = frozenset(
    {
        "torch", "lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "math",
        "typing", "typing_extensions", "collections", "dataclasses", "functools", "copy",
        "itertools", "os", "sys", "warnings", "logging", "abc", "enum", "numpy", "re", "json",
        "pathlib", "inspect", "operator", "random", "time", "argparse", "__future__", "types",
        "numbers", "einops",
    }
)

MODULE_BASES = {
    "torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.modules.Module",
}
LIGHTNING_BASES = {
    "lightning.LightningModule", "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule", "lightning.pytorch.core.module.LightningModule",
    "pytorch_lightning.LightningModule", "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule", "pytorch_lightning.core.lightning.LightningModule",
}
GENERATED_INIT = "__init__ of a dataclass"
ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.Flag", "enum.IntFlag", "enum.StrEnum"})
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}

# Pure functions of the standard library that are safe to apply to known arguments, and constants.
PURE_FUNCTIONS: dict[str, Callable[..., Any]] = stdlib.PURE_FUNCTIONS
CONSTANTS: dict[str, Any] = stdlib.CONSTANTS
NO_EFFECT_PREFIXES = ("torch.nn.init.", "warnings.", "logging.", "print")


class Budget(Exception):
    """The step or depth limit was reached: the analysis stops instead of hanging."""


class Unfollowable(Exception):
    """A change the analysis cannot follow (an item stored under an unknown key, a list edited
    at an unknown index): the container's contents are no longer known. Raised rather than
    ignored, so the statement building that part is contained (its result becomes unknown)."""


class Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


class TooLong(Exception):
    """A comprehension makes too many values to follow (caught by its own evaluation)."""


class Raised(Exception):
    """The interpreted code raises: this path does not build anything."""

    def __init__(self, where: str | None = None, what: str = "") -> None:
        super().__init__(what)
        self.where = where
        self.what = what


# ---------------------------------------------------------------- scopes and frames


def absolute_module(module: str, from_file: str, level: int) -> str:
    """`from ..x import y` in a/b/c.py names module `a.x`."""
    if level == 0:
        return module
    package = module_name_for(from_file).split(".")
    if not from_file.endswith("__init__.py"):
        package = package[:-1]
    package = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*package, module] if module else package)


def module_name_for(path: str) -> str:
    """The dotted name Python would give the file: its package chain, then its stem."""
    folder, filename = os.path.split(path)
    parts = [] if filename == "__init__.py" else [filename[:-3] if filename.endswith(".py") else filename]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    return ".".join(parts) or filename


class ModuleScope:
    """A user module: its top-level definitions, evaluated lazily by name."""

    def __init__(self, interp: Interpreter, source: SourceFile, name: str) -> None:
        self.interp = interp
        self.source = source
        self.name = name
        self.values: dict[str, Any] = {}
        self.defs: dict[str, list[ast.stmt]] = {}
        self._evaluating: set[str] = set()
        self._deferred: list[ast.stmt] = []
        self.is_lazy_package = source.path.endswith("__init__.py") and "_LazyModule" in source.text
        # the module-level `if` tests a definition sits under, and whether in the body or else
        self.guards: dict[int, tuple[tuple[ast.expr, bool], ...]] = {}
        self._verdicts: dict[int, bool | None] = {}
        # top-level registrations (`register_block('mobilevit', MobileVitBlock)` in timm's
        # mobilevit.py fills byobnet's registry): run once, before the first name is looked up
        self._registrations: list[ast.Expr] = [
            stmt for stmt in source.tree.body
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and "register" in _callee_name(stmt.value.func)
        ]
        # top-level statements that change a top-level name after it is bound (`for k in (...):
        # model_cfgs[k + '_gap'] = replace(model_cfgs[k], ...)` in timm's byobnet): run, in
        # order, right after that name is first evaluated
        self._mutators: dict[str, list[ast.stmt]] = {}
        self._ran: set[int] = set()
        for stmt in source.tree.body:
            for mutated in _mutated_names(stmt):
                self._mutators.setdefault(mutated, []).append(stmt)
        self._index(source.tree.body)
        # `if TYPE_CHECKING:` imports name what a lazy package exports (transformers does this);
        # they count after every runtime definition.
        deferred, self._deferred = self._deferred, []
        self._index(deferred, only_new=True)

    def _index(
        self, body: Sequence[ast.stmt], only_new: bool = False, guards: tuple[tuple[ast.expr, bool], ...] = ()
    ) -> None:
        for stmt in body:
            names: list[str] = []
            if guards:
                self.guards[id(stmt)] = guards
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [stmt.name]
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                names = [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
                if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
                    self.defs.setdefault("*", []).append(stmt)
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    names.extend(target_names(target))
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(stmt.target, ast.Name):
                names = [stmt.target.id]
            elif isinstance(stmt, ast.If):
                if _is_type_checking(stmt.test):
                    self._deferred.extend(stmt.body)
                    self._index(stmt.orelse, only_new)
                    continue
                self._index(stmt.body, only_new, (*guards, (stmt.test, True)))
                self._index(stmt.orelse, only_new, (*guards, (stmt.test, False)))
            elif isinstance(stmt, ast.Try):
                self._index(stmt.body, only_new, guards)
                for handler in stmt.handlers:
                    self._index(handler.body, only_new, guards)
            for name in names:
                if only_new and name in self.defs:
                    continue
                self.defs.setdefault(name, []).append(stmt)

    def _reachable(self, stmt: ast.stmt) -> bool | None:
        """False when a module-level `if` test the definition sits under is known to exclude it
        (`if is_xlstm_available():` where xlstm is not installed): that definition never runs."""
        for test, in_body in self.guards.get(id(stmt), ()):
            key = id(test)
            if key not in self._verdicts:
                self._verdicts[key] = None  # also a guard against a test that needs itself
                try:
                    self._verdicts[key] = self.interp.truth(self.interp.eval(test, Frame(self)))
                except Exception:  # noqa: BLE001 - an unknowable test excludes nothing
                    self._verdicts[key] = None
            verdict = self._verdicts[key]
            if verdict is not None and verdict != in_body:
                return False
        return True

    def lookup(self, name: str) -> tuple[bool, Any]:
        if name in self.values:
            return True, self.values[name]
        if self._registrations:
            registrations, self._registrations = self._registrations, []
            for stmt in registrations:
                self.interp.run_registration(self, stmt)
            if name in self.values:
                return True, self.values[name]
        stmts = self.defs.get(name)
        if not stmts:
            found, value = self.interp.lazy_export(self, name)
            if found:
                self.values[name] = value
                return True, value
            if self.is_lazy_package:
                # its star imports sit under TYPE_CHECKING and reach every submodule: following
                # them would parse the whole library for a name it does not export
                return False, None
            for star in self.defs.get("*", []):
                found, value = self.interp.star_import_lookup(self, star, name)  # type: ignore[arg-type]
                if found:
                    self.values[name] = value
                    return True, value
            return False, None
        hook = GLOBAL_HOOKS.get(f"{self.name}.{name}")
        if hook is not None:
            self.values[name] = hook
            return True, hook
        if name in self._evaluating:
            return True, Unknown(f"`{name}` is defined in terms of itself")
        self._evaluating.add(name)
        try:
            live = [stmt for stmt in stmts if self._reachable(stmt) is not False] or stmts
            value = self.interp.eval_global(self, live[0] if len(live) == 1 else _first_def(live), name)
        finally:
            self._evaluating.discard(name)
        self.values[name] = value
        mutators = self._mutators.pop(name, None)
        if mutators and isinstance(value, (dict, list)):
            for mutator in mutators:
                if id(mutator) not in self._ran:  # a statement that changes two names runs once
                    self._ran.add(id(mutator))
                    self.interp.run_registration(self, mutator)
        return True, value


FILL_LOOP_ITEMS = 4
_FILL_CALLS = {"abs", "min", "max", "int", "float", "round", "range", "len", "enumerate", "zip"}


def _fills_tensors(loop: ast.For, frame: Frame) -> bool:
    """A loop whose body only computes numbers with plain operators and the builtins above and
    stores them into tensors (subscript assignments to local names that hold tensors): running
    it changes no shape and no module."""
    stores = False
    for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        if isinstance(node, (ast.Module, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
                             ast.Continue, ast.Pass, ast.Break)):
            continue
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FILL_CALLS and not node.keywords):
                return False
            found, value = frame.lookup(node.func.id)
            if found and not isinstance(value, BuiltinRef):
                return False  # a local or global shadows the builtin
            continue
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Subscript):
                    if not isinstance(target.value, ast.Name):
                        return False
                    found, value = frame.lookup(target.value.id)
                    if not (found and isinstance(value, TensorValue)):
                        return False
                    stores = True
                elif not isinstance(target, ast.Name):
                    return False
            continue
        if isinstance(node, ast.For) and isinstance(node.target, (ast.Name, ast.Tuple)):
            continue
        if isinstance(node, (ast.If, ast.Compare, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Name, ast.Constant,
                             ast.Subscript, ast.Tuple, ast.Slice, ast.IfExp)):
            continue
        return False
    return stores


def _assigned_names(loop: ast.For) -> list[str]:
    names: list[str] = []
    for node in ast.walk(loop):
        if isinstance(node, ast.For):
            names.extend(target_names(node.target))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.extend(target_names(target))
        elif isinstance(node, ast.AugAssign):
            names.extend(target_names(node.target))
    return names


MODULE_TABLES = {"_modules": "children", "_parameters": "params", "_buffers": "buffers"}
_MUTATING_METHODS = {"update", "append", "extend", "setdefault", "insert"}


def _mutated_names(stmt: ast.stmt) -> set[str]:
    """The module-level names a top-level `for` loop, subscript assignment or mutating method
    call changes in place (`cfgs[k] = ...`, `cfgs.update(...)`)."""
    if not isinstance(stmt, (ast.For, ast.Assign, ast.Expr)):
        return set()
    out: set[str] = set()
    for node in ast.walk(stmt) if isinstance(stmt, ast.For) else [stmt]:
        if isinstance(node, ast.Assign):
            out.update(t.value.id for t in node.targets if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr in _MUTATING_METHODS and isinstance(func.value, ast.Name):
                out.add(func.value.id)
    return out


def _callee_name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _first_def(stmts: list[ast.stmt]) -> ast.stmt:
    # A name bound in a try body and again in its except handler: the try body wins (the import
    # that works); otherwise the last plain binding at top level wins, as at run time.
    for stmt in stmts:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)):
            return stmt
    return stmts[-1]


def _rooted_at_self(node: ast.expr) -> bool:
    """`self`, `self.x`, `self.blocks[0].fc`: an expression that starts at `self`."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "self"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        out: list[str] = []
        for elt in target.elts:
            out.extend(target_names(elt.value if isinstance(elt, ast.Starred) else elt))
        return out
    return []


@dataclass
class Frame:
    scope: ModuleScope
    locals: dict[str, Any] = field(default_factory=dict)
    parent: Frame | None = None  # enclosing function frame (closures, comprehensions)
    func: FunctionRef | None = None
    cls_body: ClassRef | None = None

    def lookup(self, name: str) -> tuple[bool, Any]:
        frame: Frame | None = self
        while frame is not None:
            if name in frame.locals:
                return True, frame.locals[name]
            frame = frame.parent
        return self.scope.lookup(name)


# ---------------------------------------------------------------- the interpreter


class Interpreter:
    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.scopes: dict[str, ModuleScope] = {}
        self.steps = 0
        self.depth = 0
        self.anchors: list[SourceRange] = []
        self.deadline = time.monotonic() + MAX_SECONDS
        # > 0 inside `try` bodies and the sides of an unknown branch, where a raise is part of
        # the control flow the analysis follows (a handler runs, a branch is dropped) and must
        # not be contained to the statement that raised
        self.raise_guards = 0
        self.exhausted: str | None = None  # set once a budget ran out

    # -- entry points

    def scope_for(self, path: str, name: str | None = None) -> ModuleScope:
        source = self.loader.load(path)
        scope = self.scopes.get(source.path)
        if scope is None or scope.source is not source:
            scope = ModuleScope(self, source, module_name_for(source.path))
            self.scopes[source.path] = scope
        return scope

    def release(self) -> None:
        """Break the scope <-> value cycles of one analysis, so memory returns without waiting
        for a full garbage collection (the language server runs thousands of analyses)."""
        for scope in self.scopes.values():
            scope.values.clear()
            scope.defs.clear()
        self.scopes.clear()

    def tick(self) -> None:
        self.steps += 1
        if self.exhausted is not None:
            raise Budget(self.exhausted)
        if self.steps > MAX_STEPS:
            self.exhausted = f"the analysis stopped after {MAX_STEPS} steps"
            raise Budget(self.exhausted)
        if not self.steps & 0x3FF and time.monotonic() > self.deadline:
            # from now on every step stops: what is left to build becomes unknown at once
            self.exhausted = f"the analysis stopped after {MAX_SECONDS:.0f} seconds"
            raise Budget(self.exhausted)

    # -- globals and imports

    def run_registration(self, scope: ModuleScope, stmt: ast.stmt) -> None:
        """A module-level `register...(...)` call or a statement that fills a module-level
        registry, as importing the module runs it; one that cannot be followed changes nothing
        here (what it would register stays unknown)."""
        try:
            if isinstance(stmt, ast.Expr):
                self.eval(stmt.value, Frame(scope))
            else:
                self.exec_stmt(stmt, Frame(scope))
        except Budget:
            raise
        except Exception:  # noqa: BLE001 - a registration the analysis cannot follow
            return

    def eval_global(self, scope: ModuleScope, stmt: ast.stmt, name: str) -> Any:
        frame = Frame(scope)
        if isinstance(stmt, ast.ClassDef):
            return ClassRef(stmt, scope, f"{scope.name}.{stmt.name}")
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self.decorate_function(FunctionRef(stmt, scope), stmt, frame)
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                bound = (alias.asname or alias.name).split(".")[0]
                if bound != name:
                    continue
                if alias.asname:
                    return self.import_module(alias.name, scope.source.path, 0)
                return self.import_module(alias.name.split(".")[0], scope.source.path, 0)
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if (alias.asname or alias.name) == name:
                    return self.import_from(stmt.module or "", alias.name, scope.source.path, stmt.level)
        try:
            self.exec_block([stmt], frame)
        except (Raised, Return, Break, Continue):
            pass
        except Budget:
            raise
        except RecursionError:
            return Unknown(f"`{name}` is too deeply nested")
        return frame.locals.get(name, Unknown(f"module-level `{name}` could not be evaluated"))

    def import_module(self, dotted: str, from_file: str, level: int) -> Any:
        if level == 0 and dotted.split(".")[0] in SYMBOLIC_ROOTS:
            return ExternalRef(dotted)
        path = self.loader.find_module(dotted, from_file, level)
        if path is None:
            return Unknown(f"cannot find module `{'.' * level}{dotted}`", maybe_module=True)
        try:
            return ModuleNamespace(self.scope_for(path, dotted or path))
        except SourceError as exc:
            return Unknown(str(exc), maybe_module=True)

    def import_from(self, module: str, name: str, from_file: str, level: int) -> Any:
        if level == 0 and module.split(".")[0] in SYMBOLIC_ROOTS:
            return ExternalRef(f"{module}.{name}")
        hooked = IMPORT_HOOKS.get(f"{absolute_module(module, from_file, level)}.{name}")
        if hooked is not None:
            return hooked
        base = self.import_module(module, from_file, level)
        if isinstance(base, ModuleNamespace):
            found, value = base.scope.lookup(name)
            if found:
                return value
            # `from pkg import submodule`
            sub = self.loader.find_module(name, base.scope.source.path, 1)
            if sub is not None:
                try:
                    return ModuleNamespace(self.scope_for(sub, f"{module}.{name}"))
                except SourceError as exc:
                    return Unknown(str(exc), maybe_module=True)
            return Unknown(f"`{name}` is not defined in `{'.' * level}{module}`", maybe_module=True)
        if is_unknown(base):
            return Unknown(f"cannot resolve `from {'.' * level}{module} import {name}`", maybe_module=True)
        return Unknown(f"cannot resolve `{name}`", maybe_module=True)

    def lazy_export(self, scope: ModuleScope, name: str) -> tuple[bool, Any]:
        """A name a lazily-importing package (`_LazyModule`, as transformers uses) exports: it
        lives in the submodule whose `__all__` lists it."""
        if not scope.is_lazy_package:
            return False, None
        package_dir = os.path.dirname(scope.source.path)
        path = self.loader.lazy_exports(package_dir).get(name)
        if path is None:
            path = self.loader.find_definition(package_dir, name)
        if path is None or path == scope.source.path:
            return False, None
        try:
            return self.scope_for(path).lookup(name)
        except SourceError:
            return False, None

    def star_import_lookup(self, scope: ModuleScope, stmt: ast.ImportFrom, name: str) -> tuple[bool, Any]:
        module = stmt.module or ""
        if stmt.level == 0 and module.split(".")[0] in SYMBOLIC_ROOTS:
            if module in ("torch.nn", "torch"):
                ref = ExternalRef(f"{module}.{name}")
                if catalog.lookup(ref.qualname) is not None:
                    return True, ref
            return False, None
        base = self.import_module(module, scope.source.path, stmt.level)
        if isinstance(base, ModuleNamespace) and base.scope is not scope:
            return base.scope.lookup(name)
        return False, None

    # -- statements

    def exec_block(self, body: Sequence[ast.stmt], frame: Frame) -> None:
        for stmt in body:
            self.exec_stmt(stmt, frame)

    def exec_stmt(self, stmt: ast.stmt, frame: Frame) -> None:
        anchor = self._anchor_for(stmt, frame)
        if anchor is not None:
            self.anchors.append(anchor)
        try:
            self.tick()
            self._exec(stmt, frame)
        except (Return, Break, Continue):
            raise
        except Raised as exc:
            if exc.where is None:
                exc.where = containment.location(stmt, frame)
            if self.raise_guards:
                raise
            self._contain(stmt, frame, exc, f"the analysis reached {exc.what or 'a raise'} at {exc.where}")
        except Exception as exc:  # Budget, RecursionError, an unsupported construct
            where = getattr(exc, "ckptlens_where", None)
            if where is None:
                where = containment.location(stmt, frame)
                exc.ckptlens_where = where  # type: ignore[attr-defined]
            if isinstance(exc, (Budget, Unfollowable)):
                why = str(exc)
            elif isinstance(exc, RecursionError):
                why = "calls nest too deeply"
            else:
                if os.environ.get("CKPTLENS_DEBUG"):
                    raise
                why = f"an internal error of the analysis ({type(exc).__name__}: {one_line(str(exc))})"
            self._contain(stmt, frame, exc, f"{why} at {where}")
        finally:
            if anchor is not None:
                self.anchors.pop()

    def _contain(self, stmt: ast.stmt, frame: Frame, exc: Exception, reason: str) -> None:
        """Only what `stmt` builds becomes unknown; else the failure reaches the enclosing
        statement (and, at the top, the whole model)."""
        outcome = containment.contain(self, stmt, frame, reason)
        if outcome is False:
            raise exc
        if is_unknown(outcome):
            raise Return(outcome) from None

    @contextlib.contextmanager
    def unbudgeted(self) -> Iterator[None]:
        """Re-reading a name or `self.layers` after a failure, even once the budget ran out."""
        saved = self.steps, self.exhausted, self.deadline
        self.steps, self.exhausted, self.deadline = MAX_STEPS - 10_000, None, math.inf
        try:
            yield
        finally:
            self.steps, self.exhausted, self.deadline = saved

    @contextlib.contextmanager
    def raises_followed(self) -> Iterator[None]:
        """Where a raise decides what runs next (a `try` body, one side of an unknown branch)."""
        self.raise_guards += 1
        try:
            yield
        finally:
            self.raise_guards -= 1

    def _anchor_for(self, stmt: ast.stmt, frame: Frame) -> SourceRange | None:
        """The code a module created by this statement is attributed to: the `self.x` target."""
        if "self" not in frame.locals or not isinstance(frame.locals.get("self"), ModuleValue):
            return None
        source = frame.scope.source
        if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
            if isinstance(target, (ast.Attribute, ast.Subscript)) and _rooted_at_self(target):
                return source.range_of(target)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            if isinstance(func, ast.Attribute) and _rooted_at_self(func):
                return source.range_of(stmt.value)
            if isinstance(func, ast.Name) and func.id == "setattr" and stmt.value.args and _rooted_at_self(stmt.value.args[0]):
                return source.range_of(stmt.value)
        return None

    def _exec(self, stmt: ast.stmt, frame: Frame) -> None:
        if isinstance(stmt, ast.Expr):
            self.eval(stmt.value, frame)
        elif isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, frame)
            for target in stmt.targets:
                self.assign(target, value, frame)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value, frame), frame)
        elif isinstance(stmt, ast.AugAssign):
            current = self.eval(stmt.target, frame)
            value = self.binop(stmt.op, current, self.eval(stmt.value, frame), inplace=True)
            self.assign(stmt.target, value, frame)
        elif isinstance(stmt, ast.If):
            self.exec_if(stmt, frame)
        elif isinstance(stmt, ast.For):
            self.exec_for(stmt, frame)
        elif isinstance(stmt, ast.While):
            self.exec_while(stmt, frame)
        elif isinstance(stmt, ast.Return):
            raise Return(self.eval(stmt.value, frame) if stmt.value is not None else None)
        elif isinstance(stmt, ast.Break):
            raise Break()
        elif isinstance(stmt, ast.Continue):
            raise Continue()
        elif isinstance(stmt, ast.Raise):
            raise Raised(containment.location(stmt, frame), f"`raise {short(stmt.exc, 40)}`" if stmt.exc else "`raise`")
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = FunctionRef(stmt, frame.scope, closure=frame)
            frame.locals[stmt.name] = self.decorate_function(func, stmt, frame)
        elif isinstance(stmt, ast.ClassDef):
            frame.locals[stmt.name] = ClassRef(stmt, frame.scope, f"{frame.scope.name}.{stmt.name}")
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                value = self.eval(item.context_expr, frame)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, value, frame)
            self.exec_block(stmt.body, frame)
        elif isinstance(stmt, ast.Try):
            try:
                with self.raises_followed():
                    self.exec_block(stmt.body, frame)
            except Raised:
                if stmt.handlers:
                    self.exec_block(stmt.handlers[0].body, frame)
                else:
                    raise
            self.exec_block(stmt.orelse, frame)
            self.exec_block(stmt.finalbody, frame)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                name = alias.asname or alias.name.split(".")[0]
                dotted = alias.name if alias.asname else alias.name.split(".")[0]
                frame.locals[name] = self.import_module(dotted, frame.scope.source.path, 0)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name != "*":
                    frame.locals[alias.asname or alias.name] = self.import_from(
                        stmt.module or "", alias.name, frame.scope.source.path, stmt.level
                    )
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                self.delete(target, frame)
        # pass, assert, global, nonlocal: nothing to build

    def exec_if(self, stmt: ast.If, frame: Frame) -> None:
        test = self.truth(self.eval(stmt.test, frame))
        if test is True:
            self.exec_block(stmt.body, frame)
        elif test is False:
            self.exec_block(stmt.orelse, frame)
        else:
            reason = f"it depends on `{short(stmt.test)}`, which is unknown"
            self.run_both(frame, stmt.body, stmt.orelse, reason)

    def exec_for(self, stmt: ast.For, frame: Frame) -> None:
        iterable = self.eval(stmt.iter, frame)
        if isinstance(iterable, SymRange) and isinstance(stmt.target, ast.Name) and not stmt.orelse:
            self.run_symbolic_loop(frame, stmt, iterable)
            return
        items = self.iterate(iterable)
        if items is None:
            reason = f"the loop over `{short(stmt.iter)}` has an unknown number of iterations"
            self.assign(stmt.target, Unknown(reason), frame)
            self.run_unknown_loop(frame, stmt.body, reason)
            return
        if len(items) > FILL_LOOP_ITEMS and _fills_tensors(stmt, frame):
            # `for i in range(n): for x in range(n): ... ret[i, x, v] = 1` (timm's one-hot
            # lookup tables): it only writes values into tensors, which are not tracked
            for name in _assigned_names(stmt):
                frame.locals[name] = Unknown("a value computed in a loop that fills a tensor")
            return
        for item in items:
            self.tick()
            self.assign(stmt.target, item, frame)
            try:
                self.exec_block(stmt.body, frame)
            except Break:
                return
            except Continue:
                continue
        self.exec_block(stmt.orelse, frame)

    def exec_while(self, stmt: ast.While, frame: Frame) -> None:
        for _ in range(10_000):
            test = self.truth(self.eval(stmt.test, frame))
            if test is False:
                self.exec_block(stmt.orelse, frame)
                return
            if test is None:
                self.run_unknown_loop(frame, stmt.body, f"the loop `while {short(stmt.test)}` is unknown")
                return
            try:
                self.exec_block(stmt.body, frame)
            except Break:
                return
            except Continue:
                continue
        raise Budget("a while loop did not end")

    # -- branches on unknown values: run both sides on copies, keep what agrees

    def run_both(self, frame: Frame, then: Sequence[ast.stmt], orelse: Sequence[ast.stmt], reason: str) -> None:
        outcomes = []
        for body in (then, orelse):
            memo: dict[int, Any] = {}
            branch = Frame(frame.scope, copy.deepcopy(frame.locals, memo), frame.parent, frame.func, frame.cls_body)
            signal: BaseException | None = None
            try:
                with self.raises_followed():
                    self.exec_block(body, branch)
            except Raised:
                continue  # a branch that raises builds nothing
            except (Return, Break, Continue) as exc:
                signal = exc
            outcomes.append((branch.locals, memo, signal))
        if not outcomes:
            raise Raised()
        if len(outcomes) == 1:
            locals_, memo, signal = outcomes[0]
            merger = Merger(_pairs(frame.locals, memo, memo), reason)
            merger.merge_state(frame.locals, locals_, locals_)
            if signal is not None:
                raise signal
            return
        (la, ma, sa), (lb, mb, sb) = outcomes
        merger = Merger(_pairs(frame.locals, ma, mb), reason)
        merger.merge_state(frame.locals, la, lb)
        if sa is None and sb is None:
            return
        if isinstance(sa, Return) and isinstance(sb, Return):
            raise Return(merger.merge(sa.value, sb.value))
        if type(sa) is type(sb):
            raise sa  # type: ignore[misc]
        # One side leaves the function or loop and the other goes on: what follows is unknown.
        raise Return(Unknown(reason, maybe_module=True))

    def run_symbolic_loop(self, frame: Frame, stmt: ast.For, iterable: SymRange) -> None:
        """A loop over `range(n)` with `n` a symbol: as a loop of unknown length (what the body
        changes becomes unknown), but the first iteration's modules are kept on the containers
        it extends (`sym_items`), for the inference to count from the checkpoint."""
        reason = f"the loop over `{short(stmt.iter)}` has an unknown number of iterations"
        memo: dict[int, Any] = {}
        branch = Frame(frame.scope, copy.deepcopy(frame.locals, memo), frame.parent, frame.func, frame.cls_body)
        try:
            with self.raises_followed():
                self.assign(stmt.target, iterable.start, branch)
                self.exec_block(stmt.body, branch)
        except (Raised, Break, Continue, Return):
            pass
        merger = Merger(_pairs(frame.locals, {}, memo), reason)
        merger.sym_count = iterable.count
        merger.merge_state(frame.locals, dict(frame.locals), branch.locals)

    def run_unknown_loop(self, frame: Frame, body: Sequence[ast.stmt], reason: str) -> None:
        """A loop of unknown length: compare "ran once" with "never ran"; whatever the body
        changes becomes unknown."""
        memo: dict[int, Any] = {}
        branch = Frame(frame.scope, copy.deepcopy(frame.locals, memo), frame.parent, frame.func, frame.cls_body)
        try:
            with self.raises_followed():
                self.exec_block(body, branch)
        except (Raised, Break, Continue, Return):
            pass
        merger = Merger(_pairs(frame.locals, {}, memo), reason)
        merger.merge_state(frame.locals, dict(frame.locals), branch.locals)

    # -- assignment

    def assign(self, target: ast.expr, value: Any, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            frame.locals[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self._unpack(target, value, frame)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, frame)
            self.setattr(obj, target.attr, value, frame.scope.source.range_of(target))
        elif isinstance(target, ast.Subscript):
            if isinstance(target.value, ast.Attribute) and target.value.attr in MODULE_TABLES:
                # `model._modules[name] = new_module` (and `_parameters`, `_buffers`): as
                # `setattr(model, name, value)`, on the module that owns the table
                owner = self.eval(target.value.value, frame)
                key = self.eval(target.slice, frame)
                if isinstance(owner, ModuleValue) and isinstance(key, str):
                    self.module_setattr(owner, key, value, frame.scope.source.range_of(target))
                    return
                if isinstance(owner, ModuleValue):
                    owner.opaque = owner.opaque or f"an item of `{target.value.attr}` is stored under an unknown name"
                    return
            obj = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            self.setitem(obj, key, value, frame.scope.source.range_of(target))
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, frame)

    def _unpack(self, target: ast.Tuple | ast.List, value: Any, frame: Frame) -> None:
        items = self.iterate(value)
        star = [i for i, elt in enumerate(target.elts) if isinstance(elt, ast.Starred)]
        if items is None or (not star and len(items) != len(target.elts)):
            for elt in target.elts:
                self.assign(elt, Unknown(f"cannot unpack `{short(target)}`"), frame)
            return
        if star:
            i = star[0]
            after = len(target.elts) - i - 1
            head, middle, tail = items[:i], items[i : len(items) - after], items[len(items) - after :]
            for elt, item in zip(target.elts[:i], head, strict=False):
                self.assign(elt, item, frame)
            self.assign(target.elts[i], list(middle), frame)
            for elt, item in zip(target.elts[i + 1 :], tail, strict=False):
                self.assign(elt, item, frame)
            return
        for elt, item in zip(target.elts, items, strict=True):
            self.assign(elt, item, frame)

    def delete(self, target: ast.expr, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            frame.locals.pop(target.id, None)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, frame)
            if isinstance(obj, ModuleValue):
                obj.remove_member(target.attr)
            elif isinstance(obj, ObjectValue):
                obj.attrs.pop(target.attr, None)
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            if isinstance(obj, ModuleValue) and obj.container:
                names = list(obj.children if obj.children else obj.params)
                if isinstance(key, int) and -len(names) <= key < len(names):
                    obj.remove_member(names[key])
                    if obj.container in ("ModuleList", "Sequential", "ParameterList"):
                        _renumber(obj)
                elif isinstance(key, str):
                    obj.remove_member(key)
            elif isinstance(obj, list) and isinstance(key, slice):
                if any(b is not None and not isinstance(b, int) for b in (key.start, key.stop, key.step)):
                    raise Unfollowable("a slice of a list is deleted at unknown bounds")
                del obj[key]
            elif isinstance(obj, (list, dict)):
                if is_unknown(key) or not hashable(key):
                    raise Unfollowable("an item is deleted under an unknown key")
                try:
                    del obj[key]
                except (KeyError, IndexError, TypeError) as exc:
                    raise Raised(None, f"`{type(exc).__name__}` deleting an item") from None

    def setattr(self, obj: Any, name: str, value: Any, where: SourceRange | None) -> None:
        if isinstance(obj, ModuleValue):
            self.module_setattr(obj, name, value, where)
        elif isinstance(obj, ObjectValue):
            obj.attrs[self.attribute_alias(obj, name) or name] = value
        elif isinstance(obj, AttrDict):
            obj[name] = value
        elif isinstance(obj, TensorValue) and name == "requires_grad":
            pass

    def module_setattr(self, module: ModuleValue, name: str, value: Any, where: SourceRange | None) -> None:
        """torch's `Module.__setattr__`: parameters, submodules and buffers go to their tables."""
        # Re-assigning keeps the original position, as torch's ordered tables do.
        if isinstance(value, TensorValue) and value.is_parameter:
            if name not in module.params:
                module.remove_member(name)
            module.params[name] = value
            if where is not None:
                module.tensor_origins[name] = where
        elif isinstance(value, ModuleValue):
            if name not in module.children:
                module.remove_member(name)
            module.children[name] = value
            if value.origin is None and where is not None:
                value.origin = self.anchors[-1] if self.anchors else where
        elif value is None and name in module.params:
            module.params[name] = None
        elif value is None and name in module.children:
            module.children[name] = None
        elif isinstance(value, tensors.BufferValue):  # `self.x = nn.Buffer(t, persistent=...)`
            if name not in module.buffers:
                module.remove_member(name)
            module.buffers[name] = TensorValue(value.shape, value.dtype)
            if value.persistent:
                module.non_persistent.discard(name)
            else:
                module.non_persistent.add(name)
            if where is not None:
                module.tensor_origins[name] = where
        elif name in module.buffers and (value is None or isinstance(value, TensorValue)):
            module.buffers[name] = value
        elif name in module.params and isinstance(value, TensorValue):
            module.params[name] = value  # torch raises for a plain tensor; keep the slot
        elif is_unknown(value) and value.maybe_module:
            module.remove_member(name)
            module.children[name] = opaque_module("?", value.reason, where)
        elif name == "hparams" and module.is_lightning:
            module.attrs[name] = value
        else:
            if name in module.children and is_unknown(value):
                module.children[name] = opaque_module("?", value.reason, where)
                return
            module.attrs[name] = value

    def setitem(self, obj: Any, key: Any, value: Any, where: SourceRange | None) -> None:
        if isinstance(obj, ModuleValue) and obj.container:
            if obj.container in ("ModuleList", "Sequential", "ParameterList"):
                names = list(obj.params if obj.container == "ParameterList" else obj.children)
                if is_unknown(key) or not isinstance(key, int) or not -len(names) <= key < len(names):
                    obj.opaque = obj.opaque or f"an item is assigned at an unknown index `{key}`"
                    return
                name = names[key]
            else:
                if not isinstance(key, str):
                    obj.opaque = obj.opaque or "an item is assigned under an unknown key"
                    return
                name = key
            if obj.container in ("ParameterList", "ParameterDict"):
                if isinstance(value, TensorValue):
                    obj.params[name] = TensorValue(value.shape, value.dtype, True)
                    if where is not None:
                        obj.tensor_origins[name] = self.anchors[-1] if self.anchors else where
            else:
                self.module_setattr(obj, name, value, where)
        elif isinstance(obj, list) and isinstance(key, slice):
            items = self.iterate(value)
            bounds = (key.start, key.stop, key.step)
            if items is None or any(b is not None and not isinstance(b, int) for b in bounds):
                raise Unfollowable("a slice of a list is replaced by unknown items")
            try:
                obj[key] = items
            except (ValueError, TypeError) as exc:
                raise Raised(None, f"`{type(exc).__name__}` assigning a slice") from None
        elif isinstance(obj, (dict, list)):
            if is_unknown(key) or not hashable(key):
                why = key.reason if is_unknown(key) else short_value(key)
                raise Unfollowable(f"an item is stored under an unknown key ({one_line(why, 80)})")
            try:
                obj[key] = value
            except (IndexError, TypeError) as exc:
                raise Raised(None, f"`{type(exc).__name__}` storing an item") from None
        elif isinstance(obj, ObjectValue) and isinstance(key, str):
            obj.attrs[key] = value

    # -- expressions

    def eval(self, node: ast.expr | None, frame: Frame) -> Any:
        if node is None:
            return None
        self.tick()
        method = getattr(self, "_eval_" + type(node).__name__, None)
        if method is None:
            return Unknown(f"`{short(node)}` is not understood")
        return method(node, frame)

    def _eval_Constant(self, node: ast.Constant, frame: Frame) -> Any:
        return node.value

    def _eval_Name(self, node: ast.Name, frame: Frame) -> Any:
        found, value = frame.lookup(node.id)
        if found:
            return value
        if node.id in BUILTINS:
            return BuiltinRef(node.id)
        return Unknown(f"`{node.id}` is not defined", maybe_module=True)

    def _eval_Attribute(self, node: ast.Attribute, frame: Frame) -> Any:
        return self.getattr(self.eval(node.value, frame), node.attr, frame)

    def _eval_Subscript(self, node: ast.Subscript, frame: Frame) -> Any:
        obj = self.eval(node.value, frame)
        key = self.eval(node.slice, frame)
        return self.getitem(obj, key)

    def _eval_Slice(self, node: ast.Slice, frame: Frame) -> Any:
        parts = [self.eval(p, frame) for p in (node.lower, node.upper, node.step)]
        if any(is_unknown(p) for p in parts):
            return Unknown(f"unknown slice `{short(node)}`")
        return slice(*parts)

    def _eval_Tuple(self, node: ast.Tuple, frame: Frame) -> Any:
        items = self._eval_elements(node.elts, frame)
        return tuple(items) if items is not None else Unknown(f"unknown length of `{short(node)}`")

    def _eval_List(self, node: ast.List, frame: Frame) -> Any:
        items = self._eval_elements(node.elts, frame)
        return items if items is not None else Unknown(f"unknown length of `{short(node)}`")

    def _eval_Set(self, node: ast.Set, frame: Frame) -> Any:
        items = self._eval_elements(node.elts, frame)
        if items is None or any(is_unknown(i) or not hashable(i) for i in items):
            return Unknown("unknown set")
        return set(items)

    def _eval_elements(self, elts: Sequence[ast.expr], frame: Frame) -> list[Any] | None:
        out: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                items = self.iterate(self.eval(elt.value, frame))
                if items is None:
                    return None
                out.extend(items)
            else:
                out.append(self.eval(elt, frame))
        return out

    def _eval_Dict(self, node: ast.Dict, frame: Frame) -> Any:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                value = self.eval(value_node, frame)
                mapping = self.as_mapping(value)
                if mapping is None:
                    return Unknown(f"cannot expand `**{short(value_node)}`")
                out.update(mapping)
                continue
            key = self.eval(key_node, frame)
            if is_unknown(key) or not hashable(key):
                return Unknown(f"unknown dict key `{short(key_node)}`")
            out[key] = self.eval(value_node, frame)
        return out

    def _eval_JoinedStr(self, node: ast.JoinedStr, frame: Frame) -> Any:
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
                continue
            assert isinstance(value, ast.FormattedValue)
            inner = self.eval(value.value, frame)
            spec = self.eval(value.format_spec, frame) if value.format_spec is not None else ""
            if is_unknown(inner) or is_unknown(spec) or not plain(inner):
                return Unknown(f"unknown string `{short(node)}`")
            conversions: dict[int, Callable[[Any], str]] = {115: str, 114: repr, 97: ascii}
            conv = conversions.get(value.conversion)
            try:
                parts.append(format(conv(inner) if conv else inner, spec))
            except (ValueError, TypeError):
                return Unknown(f"cannot format `{short(node)}`")
        return "".join(parts)

    def _eval_FormattedValue(self, node: ast.FormattedValue, frame: Frame) -> Any:
        return self.eval(node.value, frame)

    def _eval_BinOp(self, node: ast.BinOp, frame: Frame) -> Any:
        return self.binop(node.op, self.eval(node.left, frame), self.eval(node.right, frame))

    def _eval_UnaryOp(self, node: ast.UnaryOp, frame: Frame) -> Any:
        value = self.eval(node.operand, frame)
        if isinstance(node.op, ast.Not):
            truth = self.truth(value)
            return Unknown(f"`{short(node)}` is unknown") if truth is None else not truth
        if isinstance(value, Sym) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return value if isinstance(node.op, ast.UAdd) else symbolic.binop("-", 0, value)
        if is_unknown(value) or not plain(value):
            return Unknown(f"`{short(node)}` is unknown")
        try:
            unary: dict[type, Callable[[Any], Any]] = {
                ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
            }
            return unary[type(node.op)](value)
        except (TypeError, KeyError):
            return Unknown(f"`{short(node)}` is unknown")

    def _eval_BoolOp(self, node: ast.BoolOp, frame: Frame) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        unknown = False
        for i, operand in enumerate(node.values):
            value = self.eval(operand, frame)
            truth = self.truth(value)
            if truth is None:
                # a later operand may still settle it, when evaluating it cannot build anything
                # the real code would not (no `self` in it: `cond and self.add_module(...)`)
                if _mentions_self(node.values[i + 1 :]):
                    return Unknown(f"`{short(node)}` is unknown")
                unknown = True
                continue
            if truth is not is_and:
                # `unknown and False` is falsy whatever the unknown is (and `unknown or True`
                # truthy); its value is this one's when it is a plain bool like it
                return value if not unknown or isinstance(value, bool) else Unknown(f"`{short(node)}` is unknown")
        return Unknown(f"`{short(node)}` is unknown") if unknown else value

    def _eval_Compare(self, node: ast.Compare, frame: Frame) -> Any:
        left = self.eval(node.left, frame)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.eval(right_node, frame)
            result = self.compare(op, left, right)
            if result is None:
                return Unknown(f"`{short(node)}` is unknown")
            if not result:
                return False
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp, frame: Frame) -> Any:
        truth = self.truth(self.eval(node.test, frame))
        if truth is True:
            return self.eval(node.body, frame)
        if truth is False:
            return self.eval(node.orelse, frame)
        a, b = self.eval(node.body, frame), self.eval(node.orelse, frame)
        return Merger([], f"it depends on `{short(node.test)}`").merge(a, b)

    def _eval_NamedExpr(self, node: ast.NamedExpr, frame: Frame) -> Any:
        value = self.eval(node.value, frame)
        self.assign(node.target, value, frame)
        return value

    def _eval_Lambda(self, node: ast.Lambda, frame: Frame) -> Any:
        return FunctionRef(node, frame.scope, closure=frame)

    def _eval_Starred(self, node: ast.Starred, frame: Frame) -> Any:
        return self.eval(node.value, frame)

    def _comprehension(
        self,
        generators: list[ast.comprehension],
        frame: Frame,
        emit: Callable[[Frame], None],
        symbolic_count: list[Any] | None = None,
    ) -> bool:
        inner = Frame(frame.scope, {}, frame, frame.func)

        def loop(index: int) -> bool:
            if index == len(generators):
                emit(inner)
                return True
            gen = generators[index]
            iterable = self.eval(gen.iter, inner)
            if isinstance(iterable, SymRange) and symbolic_count is not None and len(generators) == 1 and not gen.ifs:
                # one iteration, its item kept with the symbolic count (`[Block() for _ in range(n)]`)
                self.assign(gen.target, iterable.start, inner)
                emit(inner)
                symbolic_count.append(iterable.count)
                return True
            items = self.iterate(iterable)
            if items is None:
                return False
            start = self.steps
            for item in items:
                self.tick()
                if len(items) > LONG_COMPREHENSION and self.steps - start > COMPREHENSION_STEPS:
                    # a table of numbers (a sinusoid position table of 1568 x 768 values): its
                    # values are not followed, so the whole budget is not spent on them
                    raise TooLong()
                self.assign(gen.target, item, inner)
                ok = True
                for cond in gen.ifs:
                    truth = self.truth(self.eval(cond, inner))
                    if truth is None:
                        return False
                    ok = ok and truth
                if ok and not loop(index + 1):
                    return False
            return True

        return loop(0)

    def _eval_ListComp(self, node: ast.ListComp, frame: Frame) -> Any:
        out: list[Any] = []
        count: list[Any] = []
        try:
            if not self._comprehension(node.generators, frame, lambda f: out.append(self.eval(node.elt, f)), count):
                return Unknown(f"unknown length of `{short(node)}`", maybe_module=True)
        except TooLong:
            return Unknown(f"`{short(node)}` makes too many values to follow")
        if count:
            return SymSeq(f"unknown length of `{short(node)}`", True, one=tuple(out), count=count[0])
        return out

    _eval_GeneratorExp = _eval_ListComp

    def _eval_SetComp(self, node: ast.SetComp, frame: Frame) -> Any:
        value = self._eval_ListComp(node, frame)  # type: ignore[arg-type]
        if is_unknown(value) or any(is_unknown(v) or not hashable(v) for v in value):
            return Unknown("unknown set")
        return set(value)

    def _eval_DictComp(self, node: ast.DictComp, frame: Frame) -> Any:
        out: dict[Any, Any] = {}
        bad: list[bool] = []

        def emit(f: Frame) -> None:
            key = self.eval(node.key, f)
            if is_unknown(key) or not hashable(key):
                bad.append(True)
                return
            out[key] = self.eval(node.value, f)

        try:
            if not self._comprehension(node.generators, frame, emit) or bad:
                return Unknown(f"unknown keys of `{short(node)}`", maybe_module=True)
        except TooLong:
            return Unknown(f"`{short(node)}` makes too many values to follow")
        return out

    def _eval_Call(self, node: ast.Call, frame: Frame) -> Any:
        func = self.eval(node.func, frame)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        splat_unknown = None
        splat_seq: SymSeq | None = None
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                value = self.eval(arg.value, frame)
                items = self.iterate(value)
                if items is None:
                    if splat_unknown is None and isinstance(value, SymSeq) and arg is node.args[-1]:
                        splat_seq = replace(value, head=(*args, *value.head))
                    splat_unknown = f"`*{short(arg.value)}` has an unknown length"
                    continue
                args.extend(items)
            else:
                args.append(self.eval(arg, frame))
        for kw in node.keywords:
            value = self.eval(kw.value, frame)
            if kw.arg is None:
                mapping = self.as_mapping(value)
                if mapping is None:
                    splat_unknown = f"`**{short(kw.value)}` is unknown"
                    continue
                kwargs.update({str(k): v for k, v in mapping.items()})
            else:
                kwargs[kw.arg] = value
        if splat_unknown is not None:
            result = self.call_with_unknown_splat(func, args, kwargs, splat_unknown, node, frame)
            sequential = isinstance(func, ExternalRef) and func.qualname.split(".")[-1] in ("Sequential", "ModuleList")
            if splat_seq is not None and sequential and isinstance(result, ModuleValue) and not kwargs:
                result.sym_items = SymItems(splat_seq.count, list(splat_seq.head), list(splat_seq.one))
            return result
        return self.call(func, args, kwargs, node, frame)

    def call_with_unknown_splat(self, func: Any, args: list[Any], kwargs: dict[str, Any], reason: str, node: ast.Call, frame: Frame) -> Any:
        if isinstance(func, ExternalRef) and func.qualname.split(".")[-1] in CONTAINERS:
            return opaque_module(func.qualname, reason)
        # `self.add_module(*stage)`, `setattr(self, *pair)`, `build(self, **cfg)`: a module the
        # call receives may gain members the analysis cannot see
        receiver = func.receiver if isinstance(func, (BoundMethod, ExternalMethod)) else None
        where = self.anchor() or frame.scope.source.range_of(node)
        for value in [receiver, *args, *kwargs.values()]:
            if isinstance(value, ModuleValue):
                mark_open(value, f"`{short(node, 50)}`: {reason}", where)
        return Unknown(reason, maybe_module=True)

    # -- the object model

    def getattr(self, obj: Any, name: str, frame: Frame | None = None) -> Any:
        if isinstance(obj, SymConfig):
            return obj.attribute(name)
        if isinstance(obj, Sym):
            nested = symbolic.attribute_of(obj, name)
            if nested is not None:
                return nested
        if is_unknown(obj):
            return Unknown(obj.reason, obj.maybe_module)
        if isinstance(obj, ExternalRef):
            full = f"{obj.qualname}.{name}"
            if full in CONSTANTS:
                return CONSTANTS[full]
            if name in ("__name__", "__qualname__") and "." in obj.qualname:
                return obj.qualname.rsplit(".", 1)[1]  # `norm_layer.__name__.lower()`
            return obj.child(name)
        if isinstance(obj, ModuleNamespace):
            found, value = obj.scope.lookup(name)
            if found:
                return value
            sub = self.loader.find_module(name, obj.scope.source.path, 1)
            if sub is not None and obj.scope.source.path.endswith("__init__.py"):
                return ModuleNamespace(self.scope_for(sub, f"{obj.scope.name}.{name}"))
            return Unknown(f"`{name}` is not defined in `{obj.scope.name}`", maybe_module=True)
        if isinstance(obj, ModuleValue):
            return self.module_getattr(obj, name)
        if isinstance(obj, ObjectValue):
            if name in obj.attrs:
                return obj.attrs[name]
            alias = self.attribute_alias(obj, name)
            if alias is not None and alias in obj.attrs:
                return obj.attrs[alias]
            if obj.cls is not None:
                found, value = self.class_attr(obj.cls, name)
                if found:
                    return self.bind_attr(obj, value)
            if name in ("__setattr__", "__getattribute__", "__getattr__"):  # `config.__setattr__(k, v)`
                return PartialValue(BuiltinRef("setattr" if name == "__setattr__" else "getattr"), (obj,), {})
            if name == "__dict__":
                return obj.attrs  # `self.__dict__.update(kwargs)`
            return Unknown(f"attribute `{name}` is unknown")
        if isinstance(obj, AttrDict):
            if name in obj:
                return obj[name]
            return Unknown(f"hyperparameter `{name}` is unknown")
        if isinstance(obj, ClassRef):
            if name in ("__name__", "__qualname__"):
                return obj.name
            if name == "__module__":
                return obj.scope.name
            member = self.enum_member(obj, name)
            if member is not None:
                return member
            found, value = self.class_attr(obj, name)
            if found:
                if isinstance(value, (FunctionRef, HookRef)) and value.kind == "classmethod":
                    return BoundMethod(obj, value)
                return value
            if name in PRETRAINED_CLASSMETHODS and any(
                isinstance(k, ExternalRef) and k.qualname == PRETRAINED_MODEL for k in self.mro(obj)
            ):
                return BoundMethod(obj, PRETRAINED_CLASSMETHODS[name])
            return Unknown(f"`{obj.name}.{name}` is unknown", maybe_module=True)
        if isinstance(obj, SuperProxy):
            for klass in obj.mro:
                if is_unknown(klass):
                    # a base class the analysis cannot read may define it: `super().__init__()`
                    # through it may build anything
                    if name == "__init__" and isinstance(obj.receiver, ModuleValue):
                        obj.receiver.opaque = obj.receiver.opaque or f"a base class is unknown ({klass.reason})"
                    return Unknown(klass.reason, maybe_module=True)
                if isinstance(klass, ClassRef):
                    found, value = self.class_attr(klass, name, inherit=False)
                    if found:
                        return self.bind_attr(obj.receiver, value)
                elif isinstance(klass, ExternalRef):
                    return ExternalMethod(obj.receiver, klass, name)
            if name in ("__setattr__", "__getattribute__") and isinstance(obj.receiver, ObjectValue):
                # `super().__setattr__(key, value)` reaching `object` (transformers' config)
                return PartialValue(BuiltinRef("setattr" if name == "__setattr__" else "getattr"), (obj.receiver,), {})
            return ExternalMethod(obj.receiver, ExternalRef("builtins.object"), name)
        if isinstance(obj, BuiltinRef) and obj.name == "object" and name == "__setattr__":
            return BuiltinRef("setattr")  # `object.__setattr__(self, name, value)`
        if isinstance(obj, PartialValue) and name in ("func", "args", "keywords"):
            return {"func": obj.func, "args": tuple(obj.args), "keywords": dict(obj.kwargs)}[name]
        if isinstance(obj, stdlib.ArrayValue):
            result = stdlib.array_attribute(obj, name)
            return result if result is not None else PyMethod(obj, name)
        if isinstance(obj, TensorValue):
            result = tensors.tensor_attribute(obj, name)
            if result is not None:
                return result
            return TensorMethod(obj, name)
        if isinstance(obj, dict) and not isinstance(obj, AttrDict):
            return PyMethod(obj, name)
        if isinstance(obj, (list, str, tuple, int, float, set)):
            if isinstance(obj, (int, float)) and name in ("real", "imag"):
                return getattr(obj, name)
            return PyMethod(obj, name)
        return Unknown(f"attribute `{name}` of {type(obj).__name__} is unknown")

    def attribute_alias(self, obj: ObjectValue, name: str) -> str | None:
        """Config classes' `attribute_map` (`n_embd` -> `hidden_size`)."""
        if obj.cls is None:
            return None
        found, mapping = self.class_attr(obj.cls, "attribute_map")
        if found and isinstance(mapping, dict):
            target = mapping.get(name)
            return target if isinstance(target, str) else None
        return None

    def config_auto_path(self) -> str:
        return next((p for p, s in self.scopes.items() if s.name == "transformers.models.auto.configuration_auto"), "")

    def module_getattr(self, module: ModuleValue, name: str) -> Any:
        found, value = module.member(name)
        if found:
            return value
        if name in module.attrs:
            return module.attrs[name]
        if name in MODULE_TABLES:  # read-only here: stores through it go to `assign`
            return dict(getattr(module, MODULE_TABLES[name]))
        if name == "hparams" and module.is_lightning:
            hparams = AttrDict()
            module.attrs["hparams"] = hparams
            return hparams
        if module.cls is not None:
            found, value = self.class_attr(module.cls, name)
            if found:
                return self.bind_attr(module, value)
        if module.opaque is not None:
            return Unknown(module.opaque, maybe_module=True)
        return ExternalMethod(module, ExternalRef(module.type_name), name)

    def bind_attr(self, receiver: Any, value: Any) -> Any:
        if isinstance(value, HookRef):
            return BoundMethod(receiver, value)
        if isinstance(value, FunctionRef):
            if value.kind == "staticmethod":
                return value
            if value.kind == "property":
                return self.call_function(value, [receiver], {}, None)
            if value.kind == "classmethod":
                klass = receiver.cls if isinstance(receiver, (ModuleValue, ObjectValue)) else receiver
                return BoundMethod(klass, value)
            return BoundMethod(receiver, value)
        return value

    def class_attr(self, cls: ClassRef, name: str, inherit: bool = True) -> tuple[bool, Any]:
        for klass in self.mro(cls) if inherit else [cls]:
            if not isinstance(klass, ClassRef):
                continue
            cache = _class_cache(klass)
            if name in cache:
                return True, cache[name]
            hook = METHOD_HOOKS.get(f"{klass.qualname}.{name}")
            if hook is not None:
                cache[name] = hook
                return True, hook
            for stmt in klass.node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                    func = FunctionRef(stmt, klass.scope, owner=klass)
                    value = self.decorate_function(func, stmt, Frame(klass.scope))
                    cache[name] = value
                    return True, value
            for stmt in reversed(klass.node.body):
                if isinstance(stmt, ast.Assign) and name in [n for t in stmt.targets for n in target_names(t)]:
                    frame = Frame(klass.scope, {}, None, cls_body=klass)
                    self.exec_stmt(stmt, frame)
                    cache[name] = frame.locals.get(name)
                    return True, cache[name]
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
                    if stmt.value is None:
                        continue
                    value = self.eval(stmt.value, Frame(klass.scope))
                    if is_field_call(stmt.value):
                        value = self.field_default(stmt.value, Frame(klass.scope))
                    cache[name] = value
                    return True, value
            if name == "__init__" and any(is_dataclass_decorator(d) for d in klass.node.decorator_list):
                generated = HookRef(GENERATED_INIT, lambda i, r, a, k, klass=klass: i.dataclass_init(klass, r, a, k))
                cache[name] = generated
                return True, generated
        return False, None

    def is_enum(self, cls: ClassRef) -> bool:
        return any(isinstance(k, ExternalRef) and k.qualname in ENUM_BASES for k in self.mro(cls))

    def enum_members(self, cls: ClassRef) -> list[str]:
        """The member names of an `enum.Enum` subclass, in definition order (none otherwise)."""
        if not self.is_enum(cls):
            return []
        names: list[str] = []
        for klass in reversed(self.mro(cls)):
            if isinstance(klass, ClassRef):
                for stmt in klass.node.body:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else []
                    for target in targets:
                        if isinstance(target, ast.Name) and not target.id.startswith("_") and target.id not in names:
                            names.append(target.id)
        return names

    def enum_operand(self, value: Any, other: Any) -> Any:
        """A member of `class Mode(str, Enum)` compares as its value with plain values; a plain
        Enum member stays itself (never equal to a plain value)."""
        if isinstance(value, ObjectValue) and value.cls is not None and "_value_" in value.attrs and plain(other):
            if any(isinstance(k, BuiltinRef) and k.name in ("str", "int", "float") for k in self.mro(value.cls)):
                return value.attrs["_value_"]
        return value

    def enum_member(self, cls: ClassRef, name: str) -> ObjectValue | None:
        """`Color.RED`: one object per member (so `is` holds), with `.name` and `.value`."""
        if name.startswith("_") or name not in self.enum_members(cls):
            return None
        cache = _class_cache(cls)
        key = f"\0enum:{name}"
        if key not in cache:
            found, value = self.class_attr(cls, name)
            cache[key] = ObjectValue(cls, {"_name_": name, "name": name, "_value_": value, "value": value})
        member = cache[key]
        return member if isinstance(member, ObjectValue) else None

    def decorate_function(self, func: FunctionRef, node: Any, frame: Frame) -> Any:
        for deco in getattr(node, "decorator_list", []):
            name = short(deco)
            if name in ("staticmethod",):
                func.kind = "staticmethod"
            elif name in ("classmethod",):
                func.kind = "classmethod"
            elif name in ("property", "functools.cached_property", "cached_property"):
                func.kind = "property"
        return func

    def mro(self, cls: ClassRef) -> list[Any]:
        """C3 linearisation over ClassRefs and ExternalRefs (library bases end the chain)."""
        cache = _class_cache(cls)
        if "__mro__" in cache:
            return cache["__mro__"]
        cache["__mro__"] = [cls]  # cycle guard
        if len(cls.node.bases) > MAX_BASES:  # the C3 merge is cubic in the number of bases
            cache["__mro__"] = [cls, Unknown(f"`{cls.name}` has {len(cls.node.bases)} base classes")]
            return cache["__mro__"]
        bases = [self.eval(b, Frame(cls.scope)) for b in cls.node.bases]
        seqs: list[list[Any]] = []
        for base in bases:
            if isinstance(base, ClassRef):
                seqs.append(list(self.mro(base)))
            elif isinstance(base, ExternalRef):
                seqs.append([base])
            elif is_unknown(base):
                seqs.append([base])
        result = [cls] + _c3_merge(seqs + [list(bases)])
        unknown = [k for k in result if is_unknown(k)]
        if unknown:
            # a base the analysis cannot read most likely derives from the library bases
            # (nn.Module) itself: it comes before them, so its members are not skipped
            known = [k for k in result if not is_unknown(k)]
            first_external = next((i for i, k in enumerate(known) if isinstance(k, ExternalRef)), len(known))
            result = known[:first_external] + unknown + known[first_external:]
        cache["__mro__"] = result
        return result

    def class_kind(self, cls: ClassRef) -> tuple[str, Any]:
        """("module", base) / ("lightning", base) / ("layer", spec) / ("container", name) /
        ("object", None) / ("unknown", reason) for a user class, from its bases."""
        for klass in self.mro(cls)[1:]:
            if is_unknown(klass):
                return "unknown", f"base class of `{cls.name}` is unknown ({klass.reason})"
            if isinstance(klass, ExternalRef):
                qual = klass.qualname
                if qual in LIGHTNING_BASES or qual.endswith(".LightningModule"):
                    return "lightning", klass
                if qual in MODULE_BASES or qual == PRETRAINED_MODEL:
                    return "module", klass
                spec = catalog.lookup(qual)
                if spec is not None:
                    if spec.is_container:
                        return "container", qual.split(".")[-1]
                    return "layer", spec
                if qual.split(".")[0] == "torch" and qual.split(".")[-1] == "Module":
                    return "module", klass
        for klass in self.mro(cls):
            if isinstance(klass, ClassRef) and any(is_dataclass_decorator(d) for d in klass.node.decorator_list):
                return "dataclass", None
        return "object", None

    # -- calls

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None, frame: Frame | None) -> Any:
        if is_unknown(func):
            return Unknown(func.reason, maybe_module=True)
        if isinstance(func, BuiltinRef):
            return self.call_builtin(func.name, args, kwargs, frame)
        if isinstance(func, ClassRef):
            return self.instantiate(func, args, kwargs)
        if isinstance(func, FunctionRef):
            return self.call_function(func, args, kwargs, frame)
        if isinstance(func, BoundMethod):
            if isinstance(func.func, HookRef):
                return func.func.fn(self, func.receiver, args, kwargs)
            return self.call_function(func.func, [func.receiver, *args], kwargs, frame)
        if isinstance(func, HookRef):
            return func.fn(self, None, args, kwargs)
        if isinstance(func, ExternalRef):
            return self.call_external(func, args, kwargs)
        if isinstance(func, ExternalMethod):
            return self.call_external_method(func, args, kwargs, frame)
        if isinstance(func, PyMethod):
            return self.call_py_method(func, args, kwargs)
        if isinstance(func, TensorMethod):
            result = tensors.tensor_method(
                func.tensor, func.name, [external_as_data(a) for a in args],
                {k: external_as_data(v) for k, v in kwargs.items()},
            )
            return result if result is not None else Unknown(f"tensor method `{func.name}` is unknown")
        if isinstance(func, PartialValue):
            return self.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node, frame)
        if isinstance(func, ModuleValue):
            return Unknown("the result of calling a module (forward) is not tracked")
        if isinstance(func, ObjectValue) and func.cls is not None:
            # an instance whose class defines `__call__` (timm's EfficientNetBuilder)
            found, method = self.class_attr(func.cls, "__call__")
            if found and isinstance(method, (FunctionRef, HookRef)):
                return self.call(self.bind_attr(func, method), args, kwargs, node, frame)
        return Unknown(f"cannot call {type(func).__name__}", maybe_module=True)

    def call_function(self, func: FunctionRef, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        if self.depth >= MAX_DEPTH:
            # only this call is given up: what it would have built is unknown
            return Unknown(f"`{func.name}` is reached through calls nested deeper than {MAX_DEPTH}", maybe_module=True)
        node = func.node
        new = Frame(func.scope, {}, func.closure, func)
        self.bind_arguments(node.args, args, kwargs, new, func)
        if args and isinstance(args[0], ModuleValue) and registers_config(node):
            register_config(self, args[0], node, new)  # diffusers' @register_to_config
        self.depth += 1
        try:
            if isinstance(node, ast.Lambda):
                return self.eval(node.body, new)
            self.exec_block(node.body, new)
            return None
        except Return as ret:
            return ret.value
        except (Break, Continue):
            return None
        finally:
            self.depth -= 1

    def bind_arguments(self, spec: ast.arguments, args: list[Any], kwargs: dict[str, Any], frame: Frame, func: FunctionRef) -> None:
        positional = [*spec.posonlyargs, *spec.args]
        defaults: dict[str, Any] = {}
        defining = Frame(func.scope, {}, func.closure)
        for param, default in zip(positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True):
            defaults[param.arg] = default
        for param, kw_default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
            if kw_default is not None:
                defaults[param.arg] = kw_default
        kwargs = dict(kwargs)
        for i, param in enumerate(positional):
            if i < len(args):
                frame.locals[param.arg] = args[i]
            elif param.arg in kwargs:
                frame.locals[param.arg] = kwargs.pop(param.arg)
            elif param.arg in defaults:
                frame.locals[param.arg] = self.eval(defaults[param.arg], defining)
            else:
                frame.locals[param.arg] = Unknown(
                    f"argument `{param.arg}` of `{func.name}` is not given (pass --init {param.arg}=...)"
                )
        extra = list(args[len(positional) :])
        if spec.vararg is not None:
            frame.locals[spec.vararg.arg] = tuple(extra)
        for param in spec.kwonlyargs:
            if param.arg in kwargs:
                frame.locals[param.arg] = kwargs.pop(param.arg)
            elif param.arg in defaults:
                frame.locals[param.arg] = self.eval(defaults[param.arg], defining)
            else:
                frame.locals[param.arg] = Unknown(f"argument `{param.arg}` of `{func.name}` is not given")
        if spec.kwarg is not None:
            frame.locals[spec.kwarg.arg] = dict(kwargs)

    def instantiate(self, cls: ClassRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        kind, info = self.class_kind(cls)
        if kind == "unknown":
            return opaque_module(cls.qualname, info, self.anchor())
        if kind in ("module", "lightning", "layer", "container"):
            module = ModuleValue(type_name=cls.qualname, cls=cls, origin=self.anchor())
            module.is_lightning = kind == "lightning"
            found, init = self.class_attr(cls, "__init__")
            if found and isinstance(init, FunctionRef):
                self.call_function(init, [module, *args], kwargs, None)
            else:
                self.external_init(module, self.mro(cls)[1:], args, kwargs)
            return module
        if kind == "dataclass":
            return self.instantiate_dataclass(cls, args, kwargs)
        if self.is_enum(cls):  # `Color(1)`: the member with that value
            for member_name in self.enum_members(cls):
                member = self.enum_member(cls, member_name)
                if member is not None and len(args) == 1 and same_value(member.attrs["value"], args[0]):
                    return member
            return Unknown(f"`{cls.name}` has no member of value `{short_value(args[0]) if args else ''}`")
        obj = ObjectValue(cls)
        found, init = self.class_attr(cls, "__init__")
        if found and isinstance(init, FunctionRef):
            self.call_function(init, [obj, *args], kwargs, None)
        return obj

    def instantiate_dataclass(self, cls: ClassRef, args: list[Any], kwargs: dict[str, Any]) -> ObjectValue:
        obj = ObjectValue(cls)
        found, init = self.class_attr(cls, "__init__")
        if found and isinstance(init, FunctionRef):  # a subclass's own `__init__` (torchvision's MBConvConfig)
            self.call_function(init, [obj, *args], kwargs, None)
        elif found and isinstance(init, HookRef) and init.name != GENERATED_INIT:
            init.fn(self, obj, args, kwargs)
        else:  # generated: the fields of `cls` and its bases (transformers makes every config subclass a dataclass)
            self.dataclass_init(cls, obj, args, kwargs)
        return obj

    def dataclass_init(self, cls: ClassRef, obj: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
        """The `__init__` `@dataclass` generates for `cls`: its fields and its bases', in order."""
        if not isinstance(obj, ObjectValue):
            return
        # a field redefined by a subclass keeps its first position, as in `dataclasses`
        table: dict[str, tuple[ast.AnnAssign, ClassRef, bool]] = {}
        for klass in reversed(self.mro(cls)):
            if not isinstance(klass, ClassRef):
                continue
            kw_only = any(dataclass_option(d, "kw_only") for d in klass.node.decorator_list)
            for stmt in klass.node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    if "ClassVar" in short(stmt.annotation) or "InitVar" in short(stmt.annotation):
                        continue
                    if short(stmt.annotation).split(".")[-1] == "KW_ONLY":
                        kw_only = True
                        continue
                    table[stmt.target.id] = (stmt, klass, kw_only or field_option(stmt.value, "kw_only"))
        fields = [(name, stmt, klass) for name, (stmt, klass, _) in table.items()]
        positional = [name for name, (stmt, _, kw) in table.items() if not kw and field_option(stmt.value, "init", True)]
        for name, stmt, klass in fields:
            # `self.<field> = value` goes through the class's `attribute_map` (transformers'
            # `num_local_experts` field sets `n_routed_experts`, which a later field sets again)
            key = self.attribute_alias(obj, name) or name
            if stmt.value is not None and not field_option(stmt.value, "init", True):
                obj.attrs[key] = self.field_default(stmt.value, Frame(klass.scope))
            elif name in positional and positional.index(name) < len(args):
                obj.attrs[key] = args[positional.index(name)]
            elif name in kwargs:
                obj.attrs[key] = kwargs[name]
            elif stmt.value is not None:
                frame = Frame(klass.scope)
                obj.attrs[key] = self.field_default(stmt.value, frame) if is_field_call(stmt.value) else self.eval(stmt.value, frame)
            else:
                obj.attrs[key] = Unknown(f"field `{name}` of `{cls.name}` is not given")
        extra = {k: v for k, v in kwargs.items() if k not in {f[0] for f in fields}}
        found, post = self.class_attr(obj.cls or cls, "__post_init__")
        if found and isinstance(post, FunctionRef):
            spec = post.node.args
            self.call_function(post, [obj], extra if spec.kwarg is not None else {}, None)
        elif found and isinstance(post, HookRef):
            post.fn(self, obj, [], extra)

    def field_default(self, call: ast.expr, frame: Frame) -> Any:
        assert isinstance(call, ast.Call)
        for kw in call.keywords:
            if kw.arg == "default":
                return self.eval(kw.value, frame)
            if kw.arg == "default_factory":
                return self.call(self.eval(kw.value, frame), [], {}, None, frame)
        return Unknown("dataclass field without a default")

    def external_init(self, module: ModuleValue, bases: Sequence[Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        """`super().__init__(...)` reaching a library base class."""
        for base in bases:
            if is_unknown(base):
                module.opaque = module.opaque or base.reason
                return
            if not isinstance(base, ExternalRef):
                continue
            qual = base.qualname
            if qual == PRETRAINED_MODEL:  # keeps the config, builds nothing
                pretrained_model_init(self, module, args, kwargs)
                return
            if qual in MODULE_BASES or qual in LIGHTNING_BASES or qual.endswith(".LightningModule"):
                return
            spec = catalog.lookup(qual)
            if spec is None:
                continue
            if spec.is_container:
                module.container = qual.split(".")[-1]
                self.fill_container(module, args, kwargs)
                return
            layer = self.build_layer(spec, args, kwargs)
            module.params.update(layer.params)
            module.buffers.update(layer.buffers)
            module.non_persistent |= layer.non_persistent
            module.children.update(layer.children)
            module.attrs.update(layer.attrs)
            module.unknown_dims.extend(layer.unknown_dims)
            module.spec = spec
            if layer.opaque:
                module.opaque = layer.opaque
            return

    # -- library layers and containers

    def build_layer(self, spec: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> ModuleValue:
        origin = self.anchor()
        try:
            bound = catalog.bind(spec, list(args), dict(kwargs))
            built = spec.build(bound)
        except ArgumentError as exc:  # Python raises TypeError (timm's `act_layer(inplace=True)` retries)
            raise Raised(None, f"`TypeError`: {exc}") from None
        except Unresolvable as exc:
            return opaque_module(spec.qualname, f"`{spec.qualname.split('.')[-1]}`: {exc}", origin)
        module = ModuleValue(type_name=spec.qualname, spec=spec, origin=origin)
        for decl in built.parameters:
            module.params[decl.name] = TensorValue(decl.shape, decl.dtype, True)
        for decl in built.buffers:
            module.buffers[decl.name] = TensorValue(decl.shape, decl.dtype)
            if not decl.persistent:
                module.non_persistent.add(decl.name)
        for child in built.children:
            if isinstance(child, catalog.ChildLayer):
                sub_spec = catalog.lookup(child.qualname)
                if sub_spec is None:
                    module.children[child.name] = opaque_module(child.qualname, f"`{child.qualname}` is not in the layer catalog", origin)
                else:
                    module.children[child.name] = self.build_layer(sub_spec, [], child.args)
            else:
                value = bound.get(child.arg)
                if value is None:
                    continue
                if not isinstance(value, ModuleValue):
                    module.children[child.name] = opaque_module("?", f"`{child.arg}` is not a known module", origin)
                elif child.copies is None:
                    module.children[child.name] = value
                else:
                    clones = ModuleValue(type_name="torch.nn.ModuleList", container="ModuleList", origin=origin)
                    for i in range(child.copies):
                        clones.children[str(i)] = _clone(value)
                    module.children[child.name] = clones
        module.attrs.update(built.attributes)
        reasons = sorted({v.reason for v in bound.values() if is_unknown(v)})
        if reasons and _has_unknown_dims(module):
            module.unknown_dims.append("; ".join(reasons))
        return module

    def new_container(self, kind: str, args: list[Any], kwargs: dict[str, Any]) -> ModuleValue:
        module = ModuleValue(type_name=f"torch.nn.{kind}", container=kind, origin=self.anchor())
        self.fill_container(module, args, kwargs)
        return module

    def fill_container(self, module: ModuleValue, args: list[Any], kwargs: dict[str, Any]) -> None:
        kind = module.container
        if kind == "Sequential":
            if len(args) == 1 and is_unknown(args[0]):
                # `nn.Sequential(OrderedDict(blocks))` with unknown blocks: one module or a mapping
                # of named ones -- the names of its children are unknown, not `0`
                module.opaque = module.opaque or f"its items are unknown ({args[0].reason})"
                return
            if len(args) == 1 and isinstance(args[0], dict):
                for name, value in args[0].items():
                    self._add_child(module, str(name), value)
            else:
                for i, value in enumerate(args):
                    self._add_child(module, str(i), value)
            return
        source = args[0] if args else kwargs.get("modules", kwargs.get("values", kwargs.get("parameters")))
        if source is None:
            return
        if kind in ("ModuleDict", "ParameterDict"):
            mapping = self.as_mapping(source)
            if mapping is None:
                items = self.iterate(source)
                if items is not None and all(isinstance(i, (tuple, list)) and len(i) == 2 for i in items):
                    mapping = {k: v for k, v in items}
            if mapping is None:
                module.opaque = "its items are unknown"
                return
            items = list(mapping.items())
            if kind == "ParameterDict" and type(mapping) is dict:
                # torch sorts a plain dict's keys here (an OrderedDict keeps its order)
                try:
                    items = sorted(items)
                except TypeError:
                    module.opaque = "its keys cannot be ordered"
                    return
            for name, value in items:
                self.add_item(module, str(name), value)
            return
        items = self.iterate(source)
        if items is None:
            module.opaque = "its items are unknown"
            if isinstance(source, SymSeq) and kind in ("ModuleList", "Sequential"):
                module.sym_items = SymItems(source.count, list(source.head), list(source.one))
            return
        for i, value in enumerate(items):
            self.add_item(module, str(i), value)

    def add_item(self, module: ModuleValue, name: str, value: Any) -> None:
        if module.container in ("ParameterList", "ParameterDict"):
            if isinstance(value, TensorValue):
                module.params[name] = TensorValue(value.shape, value.dtype, True)
                if self.anchors:
                    module.tensor_origins[name] = self.anchors[-1]
            elif is_unknown(value):
                module.uncertain[name] = value.reason
            return
        self._add_child(module, name, value)

    def _add_child(self, module: ModuleValue, name: str, value: Any) -> None:
        if isinstance(value, ModuleValue):
            module.children[name] = value
            if value.origin is None:
                value.origin = self.anchor()
        elif value is None:
            module.children[name] = None
        elif is_unknown(value):
            module.children[name] = opaque_module("?", value.reason, self.anchor())
        else:
            module.children[name] = opaque_module("?", f"`{short_value(value)}` is not a module", self.anchor())

    def anchor(self) -> SourceRange | None:
        return self.anchors[-1] if self.anchors else None

    def call_external(self, func: ExternalRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        qual = func.qualname
        leaf = qual.split(".")[-1]
        if leaf == "__init__" and args and isinstance(args[0], ModuleValue):
            # `nn.LayerNorm.__init__(self, dim)`: the library base's constructor, called unbound
            self.external_init(args[0], [ExternalRef(qual.rsplit(".", 1)[0])], list(args[1:]), kwargs)
            return None
        if qual in PURE_FUNCTIONS:
            if any(is_unknown(a) or not plain(a) for a in [*args, *kwargs.values()]):
                return Unknown(f"`{qual}` of an unknown value")
            if costs.call_too_costly(qual, None, [*args, *kwargs.values()]):
                return Unknown(f"`{qual}` would compute a value too large")
            try:
                return PURE_FUNCTIONS[qual](*args, **kwargs)
            except Exception:  # noqa: BLE001 - any failure of a pure function is just unknown
                return Unknown(f"`{qual}` failed")
        spec = catalog.lookup(qual)
        if spec is not None:
            if spec.is_container:
                return self.new_container(leaf, args, kwargs)
            return self.build_layer(
                spec, [external_as_data(a) for a in args], {k: external_as_data(v) for k, v in kwargs.items()}
            )
        special = EXTERNAL_CALLS.get(qual) or EXTERNAL_CALLS.get(_canonical_util(qual))
        if special is not None:
            return special(self, args, kwargs)
        tensor = tensors.tensor_call(
            qual, [external_as_data(a) for a in args], {k: external_as_data(v) for k, v in kwargs.items()}
        )
        if tensor is not None:
            return tensor
        if qual.startswith(NO_EFFECT_PREFIXES):
            return args[0] if args else None
        if qual.startswith("torchmetrics."):
            return ModuleValue(type_name=qual)
        if qual.startswith("torch.") and leaf[:1].islower():
            return Unknown(f"the result of `{qual}` is not tracked")
        return Unknown(f"`{qual}` is not known to the analysis", maybe_module=True)

    def call_external_method(self, method: ExternalMethod, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        receiver, name = method.receiver, method.name
        if name == "__init__":
            if isinstance(receiver, ModuleValue):
                mro = self.mro(receiver.cls) if receiver.cls else [method.owner]
                start = mro.index(method.owner) if method.owner in mro else 0
                self.external_init(receiver, mro[start:], args, kwargs)
            return None
        if isinstance(receiver, ModuleValue):
            handler = MODULE_METHODS.get(name)
            if handler is not None:
                return handler(self, receiver, args, kwargs, frame)
            if receiver.opaque is not None:
                return Unknown(receiver.opaque, maybe_module=True)
            if name in receiver.attrs:
                return receiver.attrs[name]
            return Unknown(f"`{receiver.type_name.split('.')[-1]}.{name}` is not known to the analysis")
        return None

    def call_py_method(self, method: PyMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
        obj, name = method.obj, method.name
        if isinstance(obj, stdlib.ArrayValue):
            return stdlib.array_method(obj, name, args, kwargs)
        if name in ("append", "extend", "insert", "update", "setdefault", "pop", "remove", "clear", "add", "reverse"):
            if name == "extend":
                items = self.iterate(args[0]) if args else []
                if items is None:
                    raise Unfollowable("a list is extended by an unknown iterable")
                args = [items]
            if name == "update" and args:
                mapping = self.as_mapping(args[0])
                if mapping is None:
                    raise Unfollowable("a dict is updated from an unknown mapping")
                args = [mapping]
            # the item appended or added may be unknown; where it goes, or what goes, may not
            if name in ("insert", "setdefault", "pop", "remove"):
                position = list(args[:1])
            elif name == "update" and args:
                position = list(args[0])
            else:
                position = []
            if any(is_unknown(a) or not hashable(a) for a in position):
                raise Unfollowable(f"`.{name}()` of an unknown value changes the container")
            try:
                return getattr(obj, name)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the real call raises too
                raise Raised(None, f"`{type(exc).__name__}` from `.{name}()`") from None
        if any(is_unknown(a) for a in [*args, *kwargs.values()]):
            return Unknown(f"`.{name}()` of an unknown value")
        if name in ("items", "keys", "values"):
            return list(getattr(obj, name)())
        if name == "get" and isinstance(obj, dict):
            key = args[0] if args else None
            if not hashable(key):
                return Unknown("unknown key")
            return obj.get(key, args[1] if len(args) > 1 else kwargs.get("default"))
        if name in SAFE_PY_METHODS and all(plain(a) for a in args):
            if costs.call_too_costly(name, obj, [*args, *kwargs.values()]):
                return Unknown(f"`.{name}()` would compute a value too large")
            try:
                result = getattr(obj, name)(*args, **kwargs)
            except Exception:  # noqa: BLE001
                return Unknown(f"`.{name}()` failed")
            return bounded(result)
        return Unknown(f"`.{name}()` is not tracked")

    # -- builtins

    def call_builtin(self, name: str, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        return BUILTINS[name](self, args, kwargs, frame)

    # -- protocol helpers

    def truth(self, value: Any) -> bool | None:
        if is_unknown(value):
            if isinstance(value, Sym):
                value.note_truth()
            return None
        if isinstance(value, ModuleValue):
            if value.container and not value.opaque:
                return bool(value.children or value.params)
            return True
        if isinstance(value, TensorValue):
            return None
        if isinstance(value, stdlib.ArrayValue):  # numpy: only a one-item array has a truth
            return self.truth(value.items[0]) if len(value.items) == 1 else None
        if isinstance(value, (ObjectValue, ClassRef, FunctionRef, ExternalRef, BoundMethod, ModuleNamespace)):
            return True
        try:
            return bool(value)
        except Exception:  # noqa: BLE001
            return None

    def iterate(self, value: Any) -> list[Any] | None:
        if is_unknown(value):
            return None
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, range):
            if len(value) > MAX_SEQUENCE:
                return None
            return list(value)
        if isinstance(value, (str, set, frozenset)):
            return list(value)
        if isinstance(value, dict):
            return list(value.keys())
        if isinstance(value, ModuleValue):
            if value.opaque:
                return None
            if value.container in ("ModuleDict", "ParameterDict"):
                return list(value.children or value.params)
            if value.container == "ParameterList":
                return list(value.params.values())
            if value.container:
                return list(value.children.values())
            return None
        if isinstance(value, Iterator):
            return list(value)
        if isinstance(value, stdlib.ArrayValue):
            return list(value.items)
        if isinstance(value, TensorValue) and value.shape and isinstance(value.shape[0], int) and value.shape[0] <= MAX_SEQUENCE:
            # a tensor iterates over its first dim: `[x.item() for x in torch.linspace(0, p, n)]`
            if value.data is not None and len(value.shape) == 1:
                return [TensorValue((), value.dtype, data=(v,)) for v in value.data]
            return [TensorValue(value.shape[1:], value.dtype) for _ in range(value.shape[0])]
        if isinstance(value, ClassRef) and self.is_enum(value):
            return [self.enum_member(value, name) for name in self.enum_members(value)]
        return None

    def as_mapping(self, value: Any) -> dict[Any, Any] | None:
        if isinstance(value, dict):
            return value
        if isinstance(value, ObjectValue):
            return dict(value.attrs)
        return None

    def getitem(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, SymConfig) and isinstance(key, str):
            return obj.attribute(key)
        if isinstance(obj, (Sym, SymList)):
            item = symbolic.item_of(obj, key)
            if item is not None:
                return item
        if is_unknown(obj):
            return Unknown(obj.reason, obj.maybe_module)
        if isinstance(obj, ModuleValue):
            return self.module_getitem(obj, key)
        if isinstance(obj, TensorValue):
            return _tensor_index(obj, key)
        if isinstance(obj, stdlib.ArrayValue):
            return stdlib.array_getitem(obj, key)
        if is_unknown(key):
            if isinstance(obj, (list, tuple)) and obj and all(same_value(obj[0], o) for o in obj):
                return obj[0]
            return Unknown(f"unknown index `{key.reason}`")
        if isinstance(obj, ObjectValue):
            return obj.attrs.get(key, Unknown(f"unknown item `{key}`")) if isinstance(key, str) else Unknown("unknown item")
        if isinstance(obj, ExternalRef):
            leaf = obj.qualname.split(".")[-1]
            if obj.qualname.split(".")[0] in ("typing", "typing_extensions", "collections") or leaf[:1].isupper():
                return obj  # typing subscripts (List[int], Optional[nn.Module])
            return Unknown(f"`{obj.qualname}[...]` is not known to the analysis")  # `os.environ["X"]`
        if isinstance(obj, ClassRef) and self.is_enum(obj) and isinstance(key, str):
            member = self.enum_member(obj, key)  # `Color["RED"]`
            return member if member is not None else Unknown(f"`{obj.name}` has no member `{key}`")
        if isinstance(obj, ActivationTable):
            return obj.build(self, key)
        if isinstance(obj, ConfigMappingTable):
            scope = self.scopes.get(self.config_auto_path())
            return obj.lookup(self, scope, key) if scope is not None else Unknown("CONFIG_MAPPING")
        try:
            return obj[key]
        except (KeyError, IndexError, TypeError):
            return Unknown(f"`[{key!r}]` is not there")

    def module_getitem(self, module: ModuleValue, key: Any) -> Any:
        if module.opaque:
            return Unknown(module.opaque, maybe_module=True)
        if module.container in ("ModuleDict", "ParameterDict"):
            table = module.children if module.container == "ModuleDict" else module.params
            if isinstance(key, str) and key in table:
                return table[key]
            return Unknown(f"unknown key `{key}`", maybe_module=True)
        if module.container in ("Sequential", "ModuleList", "ParameterList"):
            table = module.params if module.container == "ParameterList" else module.children
            names = list(table)
            if isinstance(key, slice):
                picked = names[key]
                if module.container == "Sequential":
                    clone = ModuleValue(type_name=module.type_name, container="Sequential", origin=module.origin)
                    clone.children = {n: module.children[n] for n in picked}
                    return clone
                clone = ModuleValue(type_name=module.type_name, container=module.container, origin=module.origin)
                for i, n in enumerate(picked):
                    if module.container == "ParameterList":
                        clone.params[str(i)] = module.params[n]
                    else:
                        clone.children[str(i)] = module.children[n]
                return clone
            if isinstance(key, int) and not isinstance(key, bool) and -len(names) <= key < len(names):
                return table[names[key]]
            return Unknown(f"unknown index `{key}`", maybe_module=True)
        return Unknown("indexing a module", maybe_module=True)

    def binop(self, op: ast.operator, left: Any, right: Any, inplace: bool = False) -> Any:
        if inplace and isinstance(op, ast.Add) and isinstance(left, list):
            items = self.iterate(right)
            if items is None:
                return Unknown("extended by an unknown iterable", maybe_module=True)
            left.extend(items)
            return left
        if isinstance(left, ModuleValue) and left.container in ("ModuleList", "Sequential") and isinstance(op, ast.Add):
            items = self.iterate(right)
            target = left if inplace else _clone_container(left)
            if items is None:
                target.opaque = target.opaque or "it is extended by an unknown iterable"
                return target
            for item in items:
                self.add_item(target, str(len(target.children)), item)
            return target
        if isinstance(left, Sym) or isinstance(right, Sym):
            out = symbolic.binop(_SYM_OPS.get(type(op), ""), left, right)
            if out is not None:
                return out
        if isinstance(op, ast.Add) and isinstance(left, (list, tuple)) and isinstance(right, SymSeq):
            return replace(right, head=(*left, *right.head))
        if is_unknown(left) or is_unknown(right):
            maybe = (is_unknown(left) and left.maybe_module) or (is_unknown(right) and right.maybe_module)
            return Unknown((left if is_unknown(left) else right).reason, maybe)
        if isinstance(left, TensorValue) or isinstance(right, TensorValue):
            return _tensor_arithmetic(op, left, right)
        if isinstance(left, stdlib.ArrayValue) or isinstance(right, stdlib.ArrayValue):
            fn = BINOPS.get(type(op))
            return stdlib.array_binop(fn, left, right) if fn is not None else Unknown("unknown operator")
        if isinstance(left, dict) and isinstance(right, dict) and isinstance(op, ast.BitOr):
            return {**left, **right}
        if not (plain(left) and plain(right)):
            if isinstance(op, ast.Add) and isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(op, ast.Add) and isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
            if isinstance(op, ast.Mult) and isinstance(left, (list, tuple)) and isinstance(right, int):
                return bounded(left * right) if len(left) * max(right, 0) <= MAX_SEQUENCE else Unknown("too long")
            return Unknown(f"operation on {type(left).__name__} and {type(right).__name__}")
        fn = BINOPS.get(type(op))
        if fn is None:
            return Unknown("unknown operator")
        if costs.binop_too_costly(op, left, right):
            return Unknown("the value would be too large to compute")
        if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            return Unknown("power too large")
        if isinstance(op, ast.Mult) and isinstance(left, (str, list, tuple)) and isinstance(right, int) and len(left) * right > MAX_SEQUENCE:
            return Unknown("too long")
        if isinstance(op, ast.LShift) and isinstance(right, int) and right > 64:
            return Unknown("shift too large")
        try:
            return fn(left, right)
        except Exception:  # noqa: BLE001
            return Unknown("arithmetic failed")

    def compare(self, op: ast.cmpop, left: Any, right: Any) -> bool | None:
        if isinstance(op, (ast.Is, ast.IsNot)):
            if is_unknown(left) or is_unknown(right):
                return None
            same = left is right or (left is None and right is None)
            if isinstance(left, (ExternalRef,)) or isinstance(right, (ExternalRef,)):
                same = left == right
            return same if isinstance(op, ast.Is) else not same
        if isinstance(op, (ast.In, ast.NotIn)):
            if is_unknown(right) or is_unknown(left):
                return None
            items: Any = right
            if isinstance(right, LibraryNames):
                found_name = right.contains(left)
                return None if found_name is None else found_name if isinstance(op, ast.In) else not found_name
            if isinstance(right, ModuleValue):
                items = list(right.children) if right.container == "ModuleDict" else None
            elif isinstance(right, ObjectValue):
                items = right.attrs
            if items is None or not isinstance(items, (list, tuple, dict, set, str, frozenset, range)):
                return None
            if isinstance(items, (list, tuple)) and any(is_unknown(i) for i in items):
                return None
            if isinstance(items, (list, tuple, set, frozenset)) and all(plain(i) for i in items):
                left = self.enum_operand(left, "")
            try:
                found = left in items
            except TypeError:
                return None
            return found if isinstance(op, ast.In) else not found
        if is_unknown(left) or is_unknown(right):
            return None
        if isinstance(left, stdlib.ArrayValue) or isinstance(right, stdlib.ArrayValue):
            return None  # elementwise in numpy
        left, right = self.enum_operand(left, right), self.enum_operand(right, left)
        if isinstance(left, (ModuleValue, TensorValue, ObjectValue)) or isinstance(right, (ModuleValue, TensorValue, ObjectValue)):
            if isinstance(op, ast.Eq):
                return left is right if not isinstance(left, TensorValue) else None
            if isinstance(op, ast.NotEq):
                return left is not right if not isinstance(left, TensorValue) else None
            return None
        if isinstance(left, ExternalRef) and isinstance(right, str):
            left = left.qualname
        if isinstance(right, ExternalRef) and isinstance(left, str):
            right = right.qualname
        fn = CMPOPS.get(type(op))
        try:
            return bool(fn(left, right)) if fn is not None else None
        except Exception:  # noqa: BLE001
            return None


# ---------------------------------------------------------------- helpers for values


@dataclass(eq=False)
class BuiltinRef(Shared):
    name: str


@dataclass(eq=False)
class ExternalMethod(Shared):
    """A method of a library class (or of `nn.Module`) bound to a value: `self.add_module`."""

    receiver: Any
    owner: Any
    name: str


@dataclass(eq=False)
class PyMethod:
    obj: Any
    name: str


@dataclass(eq=False)
class TensorMethod:
    tensor: TensorValue
    name: str


def _class_cache(cls: ClassRef) -> dict[str, Any]:
    cache = cls.__dict__.get("_cache")
    if cache is None:
        cache = {}
        cls.__dict__["_cache"] = cache
    return cache


def _c3_merge(seqs: list[list[Any]]) -> list[Any]:
    result: list[Any] = []
    seqs = [list(s) for s in seqs if s]
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in s[1:] for s in seqs if _contains(s[1:], head)):
                break
        else:
            # inconsistent hierarchy: fall back to depth-first order
            for seq in seqs:
                for item in seq:
                    if not _contains(result, item):
                        result.append(item)
            return result
        result.append(head)
        seqs = [[x for x in s if not same_value(x, head)] for s in seqs]
        seqs = [s for s in seqs if s]
    return result


def _contains(items: list[Any], item: Any) -> bool:
    return any(same_value(x, item) for x in items)


def same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, ExternalRef) and isinstance(b, ExternalRef):
        return a.qualname == b.qualname
    if isinstance(a, Unknown) and isinstance(b, Unknown):
        if isinstance(a, Sym) or isinstance(b, Sym):
            return a == b  # two symbols are the same only with the same expression
        if isinstance(a, (SymConfig, SymRange, SymSeq)) or isinstance(b, (SymConfig, SymRange, SymSeq)):
            return False
        return a.reason == b.reason
    if isinstance(a, (int, float, str, bool, type(None), TensorValue)) and type(a) is type(b):
        return bool(a == b)
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return False


def hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def plain(value: Any) -> bool:
    """A Python value safe to hand to real operators."""
    if isinstance(value, (bool, int, float, str, complex, type(None))):
        return True
    if isinstance(value, (tuple, list)):
        return len(value) <= MAX_SEQUENCE and all(plain(v) for v in value)
    return False


def bounded(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_SEQUENCE:
        return Unknown("value too large")
    return value


def _mentions_self(nodes: Sequence[ast.expr]) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "self" for node in nodes for n in ast.walk(node))


def one_line(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(node: Any, limit: int = 60) -> str:
    text = _unparse(node) if isinstance(node, ast.AST) else str(node)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=8192)
def _unparse(node: ast.AST) -> str:
    """Source text of a node, for reasons; the same loop or branch is reported many times."""
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001
        return type(node).__name__


def short_value(value: Any) -> str:
    return short(repr(value), 40)


def is_dataclass_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return short(target).split(".")[-1] == "dataclass"


def field_option(node: ast.expr | None, option: str, default: bool = False) -> bool:
    """A literal boolean option of `field(...)` (`init=False`, `kw_only=True`)."""
    if node is None or not is_field_call(node):
        return default
    assert isinstance(node, ast.Call)
    for kw in node.keywords:
        if kw.arg == option and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):
            return kw.value.value
    return default


def dataclass_option(node: ast.expr, option: str) -> bool:
    """`@dataclass(kw_only=True)`."""
    return isinstance(node, ast.Call) and is_dataclass_decorator(node) and any(
        kw.arg == option and isinstance(kw.value, ast.Constant) and kw.value.value is True for kw in node.keywords
    )


def is_field_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and short(node.func).split(".")[-1] == "field"


def _has_unknown_dims(module: ModuleValue) -> bool:
    for tensor in [*module.params.values(), *module.buffers.values()]:
        if tensor is not None and (tensor.shape is None or any(d is None for d in tensor.shape)):
            return True
    return False


def _clone(module: ModuleValue) -> ModuleValue:
    return copy.deepcopy(module)


def _clone_container(module: ModuleValue) -> ModuleValue:
    """`a + b` on ModuleLists: a new container holding the same submodules."""
    clone = ModuleValue(type_name=module.type_name, container=module.container, origin=module.origin)
    clone.children = {str(i): c for i, c in enumerate(module.children.values())}
    clone.opaque = module.opaque
    return clone


def _renumber(module: ModuleValue) -> None:
    if module.container == "ParameterList":
        module.params = {str(i): v for i, v in enumerate(module.params.values())}
    else:
        module.children = {str(i): v for i, v in enumerate(module.children.values())}


def _canonical_util(qual: str) -> str:
    return qual.replace("torch.nn.utils.parametrizations.", "torch.nn.utils.parametrizations.").replace(
        "torch.nn.utils.weight_norm.", "torch.nn.utils."
    )


def _kept_originals(memo: dict[int, Any]) -> dict[int, Any]:
    """deepcopy keeps every original it copied alive in a list under `memo[id(memo)]`."""
    return {id(obj): obj for obj in memo.get(id(memo), [])}


def _mutables(state: Any) -> list[Any]:
    """The mutable interpreter objects reachable from `state` (lists, dicts, modules, objects)."""
    seen: dict[int, Any] = {}
    stack = [state]
    while stack:
        value = stack.pop()
        if isinstance(value, tuple):
            stack.extend(value)
            continue
        if not isinstance(value, (list, dict, ModuleValue, ObjectValue)) or id(value) in seen:
            continue
        seen[id(value)] = value
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, ModuleValue):
            # the tables themselves are merged with their module (as plain dicts, an entry on one
            # side only would become an Unknown child)
            for table in (value.params, value.buffers, value.children, value.attrs):
                stack.extend(table.values())
        else:
            stack.extend(value.attrs.values())
    return list(seen.values())


def _pairs(state: dict[str, Any], memo_a: dict[int, Any], memo_b: dict[int, Any]) -> list[tuple[Any, Any, Any]]:
    """(original, its version in world A, its version in world B) for every mutable original."""
    out = []
    for original in _mutables(state):
        if original is state:
            continue
        out.append((original, memo_a.get(id(original), original), memo_b.get(id(original), original)))
    return out


class Merger:
    """Merges the states two runs left (copies of one original state) back into the originals.

    What agrees is kept; a value that differs becomes Unknown; a module member present on one
    side only becomes uncertain (its keys unknown), so neither branch can cause a false alarm.
    """

    def __init__(self, pairs: list[tuple[Any, Any, Any]], reason: str) -> None:
        self.reason = reason
        self.pairs = pairs
        # a loop over a symbolic range: A never ran, B ran its first iteration; what B appended
        # to a list or a container is kept as the symbolic-length sequence it starts
        self.sym_count: Any = None
        self.orig_a = {id(a): o for o, a, _ in pairs}
        self.orig_b = {id(b): o for o, _, b in pairs}
        self.done: dict[tuple[int, int], Any] = {}

    def merge_state(self, target: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
        merged = self._merge_dict(a, b)
        for _original, in_a, in_b in self.pairs:
            self.merge(in_a, in_b)
        target.clear()
        target.update(merged)

    def merge(self, a: Any, b: Any) -> Any:
        key = (id(a), id(b))
        if key in self.done:
            return self.done[key]
        oa, ob = self.orig_a.get(id(a)), self.orig_b.get(id(b))
        original = oa if oa is not None and oa is ob else None
        if isinstance(a, ModuleValue) and isinstance(b, ModuleValue):
            target = original if original is not None else ModuleValue(type_name=a.type_name)
            self.done[key] = target
            self._merge_module(target, a, b)
            return target
        if isinstance(a, ObjectValue) and isinstance(b, ObjectValue) and a.cls is b.cls:
            target = original if original is not None else ObjectValue(a.cls)
            self.done[key] = target
            target.attrs = self._merge_dict(a.attrs, b.attrs)
            return target
        if isinstance(a, list) and isinstance(b, list):
            target = original if original is not None else []
            self.done[key] = target
            if len(a) == len(b):
                target[:] = [self.merge(x, y) for x, y in zip(a, b, strict=True)]
                return target
            if self.sym_count is not None and len(b) > len(a) and all(self.orig_b.get(id(y), y) is x for x, y in zip(a, b, strict=False)):
                self.done[key] = SymSeq(self.reason, True, head=tuple(a), one=tuple(b[len(a) :]), count=self.sym_count)
                return self.done[key]
            self.done[key] = Unknown(self.reason, maybe_module=True)
            return self.done[key]
        if isinstance(a, dict) and isinstance(b, dict):
            target = original if original is not None else {}
            self.done[key] = target
            merged = self._merge_dict(a, b)
            target.clear()
            target.update(merged)
            return target
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
            return tuple(self.merge(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, TensorValue) and isinstance(b, TensorValue):
            return _merge_tensor(a, b)
        if same_value(a, b) or (a is b and not isinstance(a, (list, dict, ModuleValue, ObjectValue))):
            return a
        maybe = isinstance(a, ModuleValue) or isinstance(b, ModuleValue)
        maybe = maybe or (is_unknown(a) and a.maybe_module) or (is_unknown(b) and b.maybe_module)
        return Unknown(self.reason, maybe_module=maybe)

    def _merge_dict(self, a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for k in a:
            out[k] = self.merge(a[k], b[k]) if k in b else Unknown(self.reason, isinstance(a[k], ModuleValue))
        for k in b:
            if k not in a:
                out[k] = Unknown(self.reason, isinstance(b[k], ModuleValue))
        return out

    def _merge_module(self, target: ModuleValue, a: ModuleValue, b: ModuleValue) -> None:
        uncertain = {**a.uncertain, **b.uncertain}
        indexed = a.container in ("ModuleList", "Sequential", "ParameterList")
        if indexed and (list(a.children) != list(b.children) or list(a.params) != list(b.params)):
            a_opaque = a.opaque or f"its length is unknown: {self.reason}"
            head, grown = list(a.children.values()), list(b.children.values())
            extends = (
                self.sym_count is not None and not a.opaque and not b.opaque and not a.params and not b.params
                and len(grown) > len(head) and list(a.children) == list(b.children)[: len(head)]
            )
            target.__dict__.update({**a.__dict__, "opaque": a_opaque})
            if extends:
                target.sym_items = SymItems(self.sym_count, head, grown[len(head) :])
            return
        if a.type_name != b.type_name and not (a.opaque or b.opaque) and _structure(a) == _structure(b):
            # different classes with the same tensors (a DropPath or an Identity, say): the keys
            # are known whichever it is
            b = _retyped(b, a.type_name)
        if a.type_name != b.type_name or a.opaque or b.opaque:
            opaque = a.opaque or b.opaque or f"its type {self.reason}"
            target.__dict__.update({**a.__dict__, "opaque": opaque})
            return
        params = self._merge_members(a.params, b.params, uncertain)
        buffers = self._merge_members(a.buffers, b.buffers, uncertain)
        children: dict[str, ModuleValue | None] = {}
        for name in dict.fromkeys([*a.children, *b.children]):
            ca, cb = a.children.get(name, False), b.children.get(name, False)
            if ca is None and cb is None:
                children[name] = None
            elif isinstance(ca, ModuleValue) and isinstance(cb, ModuleValue):
                children[name] = self.merge(ca, cb)
            else:
                uncertain[name] = self.reason
        attrs = self._merge_dict(a.attrs, b.attrs)
        target.type_name, target.cls, target.spec, target.container = a.type_name, a.cls, a.spec, a.container
        target.params, target.buffers, target.children, target.attrs = params, buffers, children, attrs
        target.non_persistent = a.non_persistent | b.non_persistent
        target.uncertain = uncertain
        target.tensor_origins = {**b.tensor_origins, **a.tensor_origins}
        target.unknown_dims = list(dict.fromkeys(a.unknown_dims + b.unknown_dims))
        if any(
            isinstance(t, TensorValue) and (t.shape is None or None in t.shape)
            for t in [*params.values(), *buffers.values()]
        ) and not target.unknown_dims:
            target.unknown_dims.append(self.reason)
        target.origin = a.origin or b.origin
        target.is_lightning = a.is_lightning
        target.open, target.open_origin = (a.open, a.open_origin) if a.open else (b.open, b.open_origin)

    def _merge_members(self, a: dict[str, Any], b: dict[str, Any], uncertain: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in dict.fromkeys([*a, *b]):
            ta, tb = a.get(name, False), b.get(name, False)
            if ta is None and tb is None:
                out[name] = None
            elif isinstance(ta, TensorValue) and isinstance(tb, TensorValue):
                out[name] = _merge_tensor(ta, tb)
            else:
                uncertain[name] = self.reason
        return out


_DATA_OPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow",
}  # fmt: skip


def _tensor_arithmetic(op: ast.operator, left: Any, right: Any) -> Any:
    """Elementwise arithmetic with broadcasting (a scalar keeps the tensor's shape)."""
    with_data = tensor_data.binary(_DATA_OPS.get(type(op), ""), left, right)
    if with_data is not None:  # known values (`torch.arange(depth) * w_a + w_0`)
        return with_data
    if isinstance(op, ast.MatMult):
        return Unknown("matrix product of tensors")
    shapes = [v.shape for v in (left, right) if isinstance(v, TensorValue)]
    for v in (left, right):
        if not isinstance(v, TensorValue) and not isinstance(v, (int, float, bool)):
            return Unknown("arithmetic of a tensor with a non-number")
    dtype = next(v.dtype for v in (left, right) if isinstance(v, TensorValue))
    if len(shapes) == 1:
        return TensorValue(shapes[0], dtype)
    a, b = shapes
    if a is None or b is None:
        return TensorValue(None, dtype)
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + a
    b = (1,) * (rank - len(b)) + b
    dims: list[int | None] = []
    for x, y in zip(a, b, strict=True):
        if x == 1:
            dims.append(y)
        elif y == 1 or x == y:
            dims.append(x)
        else:
            dims.append(None)
    return TensorValue(tuple(dims), dtype)


def _tensor_index(tensor: TensorValue, key: Any) -> TensorValue:
    """Basic indexing: ints drop a dim, slices keep (and maybe shorten) it, None adds one."""
    keys = list(key) if isinstance(key, tuple) else [key]
    shape = tensor.shape
    if shape is None or any(not isinstance(k, (int, slice, type(None), type(Ellipsis))) or isinstance(k, bool) for k in keys):
        return TensorValue(None, tensor.dtype)
    consumed = sum(1 for k in keys if k is not None and k is not Ellipsis)
    if Ellipsis in keys:
        i = keys.index(Ellipsis)
        keys = keys[:i] + [slice(None)] * (len(shape) - consumed) + keys[i + 1 :]
    else:
        keys = keys + [slice(None)] * (len(shape) - consumed)
    dims: list[int | None] = []
    axis = 0
    for k in keys:
        if k is None:
            dims.append(1)
            continue
        if axis >= len(shape):
            return TensorValue(None, tensor.dtype)
        size = shape[axis]
        axis += 1
        if isinstance(k, int):
            continue
        if size is None:
            dims.append(None)
        else:
            try:
                dims.append(len(range(size)[k]))
            except (TypeError, ValueError):
                dims.append(None)
    return TensorValue(tuple(dims), tensor.dtype)


def external_as_data(value: Any) -> Any:
    """Library constants passed to tables (`dtype=torch.long`) as their qualified names."""
    if isinstance(value, ExternalRef):
        return value.qualname
    return value


def _structure(module: ModuleValue, prefix: str = "") -> list[tuple[str, Any]] | None:
    """The (key, shape) list a module contributes, or None when any part of it is unknown."""
    if module.opaque or module.uncertain:
        return None
    out: list[tuple[str, Any]] = []
    for table in (module.params, module.buffers):
        for name, tensor in table.items():
            if tensor is not None and name not in module.non_persistent:
                out.append((prefix + name, tensor.shape))
    for name, child in module.children.items():
        if child is not None:
            sub = _structure(child, f"{prefix}{name}.")
            if sub is None:
                return None
            out.extend(sub)
    return out


def _retyped(module: ModuleValue, type_name: str) -> ModuleValue:
    clone = copy.copy(module)
    clone.type_name = type_name
    return clone


def _merge_tensor(a: TensorValue, b: TensorValue) -> TensorValue:
    if a.data != b.data:
        a, b = replace(a, data=None), replace(b, data=None)
    if a.shape == b.shape:
        return a
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return TensorValue(None, a.dtype if a.dtype == b.dtype else "float32", a.is_parameter)
    dims = tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True))
    return TensorValue(dims, a.dtype, a.is_parameter)


BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_SYM_OPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//"}
CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
SAFE_PY_METHODS = frozenset(
    {
        "format", "join", "split", "rsplit", "strip", "lstrip", "rstrip", "upper", "lower",
        "startswith", "endswith", "replace", "index", "count", "copy", "title", "capitalize",
        "isdigit", "isalpha", "find", "partition", "rpartition", "zfill", "is_integer",
        "bit_length", "casefold", "removeprefix", "removesuffix",
    }
)

from ckptlens.engine.builtins import BUILTINS, EXTERNAL_CALLS, MODULE_METHODS, LibraryNames  # noqa: E402
from ckptlens.engine.library_hooks import (  # noqa: E402
    GLOBAL_HOOKS,
    IMPORT_HOOKS,
    METHOD_HOOKS,
    PRETRAINED_CLASSMETHODS,
    PRETRAINED_MODEL,
    ActivationTable,
    ConfigMappingTable,
    pretrained_model_init,
)
