"""Module-level names and imports: a name of a user module is evaluated when first looked up; library
modules become `ExternalRef`s."""

from __future__ import annotations

import ast
import os
from typing import Any

from ckptlens.engine import catalog
from ckptlens.engine.interp.constants import SYMBOLIC_ROOTS
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.library_hooks import IMPORT_HOOKS
from ckptlens.engine.interp.scope import ModuleScope, absolute_module
from ckptlens.engine.interp.signals import Break, Budget, Continue, Raised, Return
from ckptlens.engine.loader import SourceError
from ckptlens.engine.objects import ClassRef, ExternalRef, FunctionRef, ModuleNamespace
from ckptlens.engine.values import Unknown, is_unknown


class Imports(Host):
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
            # `from torchvision import models` inside torchvision/__init__.py: the package does
            # not have the name yet, so Python imports the submodule
            binding = base.scope.is_evaluating(name)
            found, value = base.scope.lookup(name) if not binding else (False, None)
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
