"""The interpreter, assembled from one mixin per concern (each in its own file of this package):
imports, statements, branches, assignment, expressions, attributes (the object model), calls,
library layers, operators. This file holds its state and its budget (steps, seconds)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from ckptlens.engine.interp.assignment import Assignment
from ckptlens.engine.interp.attributes import Attributes
from ckptlens.engine.interp.branches import Branches
from ckptlens.engine.interp.calls import Calls
from ckptlens.engine.interp.expressions import Expressions
from ckptlens.engine.interp.imports import Imports
from ckptlens.engine.interp.layers import Layers
from ckptlens.engine.interp.operators import Operators
from ckptlens.engine.interp.scope import ModuleScope, module_name_for
from ckptlens.engine.interp.signals import Budget
from ckptlens.engine.interp.statements import Statements
from ckptlens.engine.loader import Loader
from ckptlens.findings import SourceRange

# read at every step, from this module (a test or the sweep sets them here)
MAX_STEPS = 400_000
MAX_SECONDS = 10.0  # wall-clock cap of one analysis (the language server runs it off-thread)


class Interpreter(Imports, Statements, Branches, Assignment, Expressions, Attributes, Calls, Layers, Operators):
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
        steps = self.steps = self.steps + 1
        if steps & 0x3FF and steps <= MAX_STEPS and self.exhausted is None:
            return  # the common case, one test (the checks below, in their order, otherwise)
        if self.exhausted is not None:
            raise Budget(self.exhausted)
        if self.steps > MAX_STEPS:
            self.exhausted = f"the analysis stopped after {MAX_STEPS} steps"
            raise Budget(self.exhausted)
        if not self.steps & 0x3FF and time.monotonic() > self.deadline:
            # from now on every step stops: what is left to build becomes unknown at once
            self.exhausted = f"the analysis stopped after {MAX_SECONDS:.0f} seconds"
            raise Budget(self.exhausted)

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
