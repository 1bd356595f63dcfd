"""A user module's scope: its top-level definitions, evaluated lazily by name."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.library_hooks import GLOBAL_HOOKS, IMPORT_HOOKS
from ckptlens.engine.interp.syntax import target_names
from ckptlens.engine.loader import SourceFile
from ckptlens.engine.values import Unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.interpreter import Interpreter


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
        self._missing: set[str] = set()  # names looked up that nothing in the module binds
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

    def is_evaluating(self, name: str) -> bool:
        """`name` is being evaluated right now (its definition is running)."""
        return name in self._evaluating

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
        if not stmts and name in self._missing:
            return False, None
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
            # nothing binds it here (builtins are looked up through every module on the way):
            # asked again, the answer is the same, without resolving the star imports again
            self._missing.add(name)
            return False, None
        # a class known by name is that too inside its own module (a subclass defined there)
        hook = GLOBAL_HOOKS.get(f"{self.name}.{name}") or IMPORT_HOOKS.get(f"{self.name}.{name}")
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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
