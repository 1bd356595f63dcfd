"""Statements: each runs under the step budget; a failure is contained to what the statement
builds (`containment`)."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence

from ckptlens.engine import containment, symbolic
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.refs import BuiltinRef
from ckptlens.engine.interp.signals import Break, Budget, Continue, Raised, Return, Unfollowable
from ckptlens.engine.interp.syntax import one_line, short, target_names
from ckptlens.engine.objects import ClassRef, FunctionRef, ModuleValue
from ckptlens.engine.plain_loops import NATIVE_MIN_ITEMS, run_native_loop
from ckptlens.engine.symbolic import SymRange
from ckptlens.engine.values import TensorValue, Unknown, is_unknown
from ckptlens.findings import SourceRange

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


def _rooted_at_self(node: ast.expr) -> bool:
    """`self`, `self.x`, `self.blocks[0].fc`: an expression that starts at `self`."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "self"


class Statements(Host):
    def exec_block(self, body: Sequence[ast.stmt], frame: Frame) -> None:
        for stmt in body:
            self.exec_stmt(stmt, frame)

    def exec_stmt(self, stmt: ast.stmt, frame: Frame) -> None:
        # (`_anchor_for`'s first test here: most statements run where `self` is no module)
        receiver = frame.locals.get("self")
        anchor = self._anchor_for(stmt, frame) if isinstance(receiver, ModuleValue) else None
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
        iterable = symbolic.as_range(iterable) or iterable  # issue 15: a list nobody gave
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
        if len(items) >= NATIVE_MIN_ITEMS and run_native_loop(self, stmt, frame, items):
            return  # a loop over plain values only, evaluated on copies of them
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
