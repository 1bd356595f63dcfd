"""Expressions: one `_eval_<Node>` per AST node type, comprehensions, and call sites."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ckptlens.engine import symbolic
from ckptlens.engine.interp.branches import Merger
from ckptlens.engine.interp.builtins import BUILTINS
from ckptlens.engine.interp.constants import COMPREHENSION_STEPS, CONTAINERS, LONG_COMPREHENSION
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.operators import ELEMENTWISE_COMPARE, tensor_arithmetic
from ckptlens.engine.interp.refs import BuiltinRef, ExternalMethod
from ckptlens.engine.interp.signals import TooLong
from ckptlens.engine.interp.syntax import short
from ckptlens.engine.interp.valueops import hashable, plain
from ckptlens.engine.objects import (
    BoundMethod,
    ExternalRef,
    FunctionRef,
    ModuleValue,
    mark_open,
    opaque_module,
)
from ckptlens.engine.symbolic import Sym, SymItems, SymRange, SymSeq
from ckptlens.engine.tensor_extras import compare as tensor_compare
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

# node type -> the `_eval_<Node>` function of the interpreter's class (None: not understood),
# filled as node types are met: the hottest call of an analysis dispatches by one dict lookup
_EVALUATORS: dict[tuple[type, type], Callable[[Any, Any, Frame], Any] | None] = {}


class Expressions(Host):
    def eval(self, node: ast.expr | None, frame: Frame) -> Any:
        if node is None:
            return None
        self.tick()
        key = (type(self), type(node))
        try:
            method = _EVALUATORS[key]
        except KeyError:
            method = _EVALUATORS[key] = getattr(type(self), "_eval_" + type(node).__name__, None)
        if method is None:
            return Unknown(f"`{short(node)}` is not understood")
        return method(self, node, frame)

    def _eval_Constant(self, node: ast.Constant, frame: Frame) -> Any:
        return node.value

    def _eval_Name(self, node: ast.Name, frame: Frame) -> Any:
        name = node.id
        scope_frame: Frame | None = frame  # `frame.lookup`, its walk inlined (the hottest lookup)
        while scope_frame is not None:
            local = scope_frame.locals
            if name in local:
                return local[name]
            scope_frame = scope_frame.parent
        found, value = frame.scope.lookup(name)
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
        if isinstance(value, TensorValue) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return tensor_arithmetic(ast.Mult(), value, -1 if isinstance(node.op, ast.USub) else 1)
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
            if len(node.ops) == 1 and isinstance(op, ELEMENTWISE_COMPARE):
                elementwise = tensor_compare(left, right)  # `t >= 0`: a bool tensor
                if elementwise is not None:
                    return elementwise
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
            iterable = symbolic.as_range(iterable) or iterable  # issue 15: a list nobody gave
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


def _mentions_self(nodes: Sequence[ast.expr]) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "self" for node in nodes for n in ast.walk(node))
