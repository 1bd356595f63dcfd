"""Loops over plain values, evaluated by a restricted evaluator of plain values.

Library code builds lookup tables in nested loops over plain numbers before it makes a tensor
of the table's size (transformers' LeViT: 196 x 196 points, `attention_offsets[offset] =
len(attention_offsets)`, then `nn.Parameter(torch.zeros(heads, len(attention_offsets)))`).
Interpreted statement by statement such a loop spends the analysis's whole step budget, and
the whole model comes back unknown.

A `for` loop qualifies when every statement and expression in it is plain computation: names,
constants, arithmetic, comparisons, subscripts, tuples/lists/dicts/sets, comprehensions, calls
of a few pure builtins and of a few methods of lists, dicts, sets and strings; and every value
it reads from the function is a plain value (int, float, bool, str, None, and tuples, lists,
dicts, sets of them). Such a loop is never compiled or run by Python: its AST is turned once
into a tree of closures, one per node, which evaluate exactly that subset on copies of those
values -- operators through `operator`, calls only of the listed builtins, methods only of the
listed names on lists, dicts, sets, strings and tuples -- with nothing else reachable, every
iteration counted (one cheap step each, not the interpreter's accounting per node) and every
operation that could build a huge value checked first (costs.py). When it finishes, the
function's values are updated in place from the copies (so other references to the same list
see its new items). Anything else -- an exception, a construct the evaluator does not take, a
count or size over the caps, a result that is not plain -- leaves the values untouched and the
interpreter runs the loop as before, so the outcome is never different from interpreting it.
A loop with more iterations than such an evaluation may take (which, interpreted, would spend
the whole step budget and leave the whole model unknown) is treated as a loop of unknown length
instead: what it computes becomes unknown, the rest of the model is still built.
"""

from __future__ import annotations

import ast
import copy
import itertools
import operator
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ckptlens.engine import costs
from ckptlens.engine.values import Unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.host import Host as Interpreter

NATIVE_MIN_ITEMS = 8  # shorter loops are interpreted (nothing to gain)
MAX_ITERATIONS = 250_000  # iterations of all loops and comprehensions in one native run (~0.3 s)
STEPS_PER_ITERATIONS = 16  # one analysis step is charged per this many native iterations

_PLAIN_SCALARS = (int, float, bool, str, type(None))
_PLAIN_CONTAINERS = (tuple, list, dict, set, frozenset)

# builtins the loop may call (their names must not be rebound where the loop runs)
_FUNCS: dict[str, Any] = {
    "abs": abs, "len": len, "min": min, "max": max, "int": int, "float": float, "round": round,
    "range": range, "enumerate": enumerate, "zip": zip, "tuple": tuple, "list": list, "sorted": sorted,
    "reversed": reversed, "sum": sum, "divmod": divmod, "bool": bool, "set": set, "dict": dict,
    "any": any, "all": all,
}
# methods of plain values that neither run user code nor build values beyond one item each call
_METHODS = frozenset({
    "append", "get", "index", "count", "keys", "values", "items", "add", "setdefault", "insert", "pop",
    "copy", "remove", "discard", "startswith", "endswith",
})
_STATEMENTS = (ast.For, ast.If, ast.Assign, ast.AugAssign, ast.Expr, ast.Continue, ast.Break, ast.Pass)
_EXPRESSIONS = (
    ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.Dict, ast.Set, ast.IfExp, ast.Call, ast.Attribute, ast.ListComp, ast.SetComp,
    ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.Starred,
)
_CONTEXT = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)

class _TooCostly(Exception):
    pass


class _TooLong(_TooCostly):
    """More iterations than a native run may take: interpreting it would exhaust the budget."""


def _range(*args: Any) -> range:
    """`range`, the one lazily huge value a builtin here can walk (`list(range(10**12))`)."""
    made = range(*args)
    if len(made) > costs.MAX_ITEMS:
        raise _TooCostly
    return made


class _Shape:
    """What a qualifying loop reads and writes, or None when it does not qualify."""

    def __init__(self, free: list[str], stored: list[str], funcs: list[str], run: Stmt, nests: list[list[str]]) -> None:
        self.free = free
        self.stored = stored
        self.funcs = funcs
        self.run = run  # the loop's evaluator (`_Compiler`)
        self.nests = nests  # per chain of nested `for x in name` loops in the body, the names
        self.changed: set[str] = set()  # names the loop binds or whose value it changes in place


def _nests(body: list[ast.stmt], outer: list[str]) -> list[list[str]]:
    """The chains of nested loops over plain names (`for p2 in points` inside the loop)."""
    chains: list[list[str]] = []
    for stmt in body:
        if isinstance(stmt, ast.For):
            here = [*outer, stmt.iter.id] if isinstance(stmt.iter, ast.Name) else outer
            chains.append(here)
            chains.extend(_nests(stmt.body, here))
        elif isinstance(stmt, ast.If):
            chains.extend(_nests([*stmt.body, *stmt.orelse], outer))
    return chains


_SHAPES: dict[int, tuple[ast.For, _Shape | None]] = {}


def _shape(stmt: ast.For) -> _Shape | None:
    cached = _SHAPES.get(id(stmt))
    if cached is not None and cached[0] is stmt:
        return cached[1]
    shape = _analyse(stmt)
    if len(_SHAPES) > 4096:
        _SHAPES.clear()
    _SHAPES[id(stmt)] = (stmt, shape)
    return shape


def _analyse(stmt: ast.For) -> _Shape | None:
    loaded: list[str] = []
    stored: list[str] = []
    funcs: list[str] = []
    if not _target_ok(stmt.target):
        return None
    for node in ast.walk(ast.Module(body=[*stmt.body, *stmt.orelse], type_ignores=[])):
        if isinstance(node, (ast.Module, *_CONTEXT)):
            continue
        if isinstance(node, ast.stmt):
            if not isinstance(node, _STATEMENTS):
                return None
            if isinstance(node, ast.For) and not _target_ok(node.target):
                return None
            if isinstance(node, ast.Assign) and not all(_target_ok(t, subscript=True) for t in node.targets):
                return None
            if isinstance(node, ast.AugAssign) and not _target_ok(node.target, subscript=True):
                return None
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                loaded.append(node.target.id)  # `total += i` reads `total` too
            continue
        if not isinstance(node, _EXPRESSIONS):
            return None
        if isinstance(node, ast.Call):
            if node.keywords and not all(k.arg is not None for k in node.keywords):
                return None
            if isinstance(node.func, ast.Name):
                if node.func.id not in _FUNCS:
                    return None
                funcs.append(node.func.id)
            elif isinstance(node.func, ast.Attribute) and node.func.attr in _METHODS:
                pass
            else:
                return None
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).append(node.id)
    for node in ast.walk(stmt.target):
        if isinstance(node, ast.Name):
            stored.append(node.id)
    # attributes are only allowed as the callee of a whitelisted method call
    attrs = [n for n in ast.walk(ast.Module(body=[*stmt.body, *stmt.orelse], type_ignores=[])) if isinstance(n, ast.Attribute)]
    callees = {
        id(n.func) for n in ast.walk(ast.Module(body=[*stmt.body, *stmt.orelse], type_ignores=[]))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _METHODS
    }
    if any(id(a) not in callees or not isinstance(a.value, (ast.Name, ast.Subscript)) for a in attrs):
        return None
    stored_set = set(stored)
    # a name the loop reads: a value of the function (read before the loop, or bound in it), or
    # one of the builtins, which must then not be rebound where the loop runs
    free = sorted({n for n in loaded if n in stored_set or n not in _FUNCS})
    funcs.extend(n for n in loaded if n not in stored_set and n in _FUNCS)
    run = _build(stmt, {n for n in loaded if n not in stored_set and n in _FUNCS})
    if run is None:
        return None
    nests = [chain for chain in _nests(stmt.body, []) if chain and not set(chain) & stored_set]
    shape = _Shape(free, sorted(stored_set), sorted(set(funcs)), run, nests)
    shape.changed = stored_set | _changed_in_place([*stmt.body, *stmt.orelse])
    return shape


_MUTATORS = frozenset({"append", "insert", "add", "setdefault", "pop", "remove", "discard"})


def _changed_in_place(body: list[ast.stmt]) -> set[str]:
    """Names whose values the statements change in place: `d[k] = v`, `xs.append(v)`."""
    out: set[str] = set()
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        base: ast.expr | None = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            base = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
            base = node.func.value
        while isinstance(base, ast.Subscript):
            base = base.value
        if isinstance(base, ast.Name):
            out.add(base.id)
    return out


def _target_ok(target: ast.expr, subscript: bool = False) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_target_ok(t) for t in target.elts)
    if subscript and isinstance(target, ast.Subscript):
        return isinstance(target.value, (ast.Name, ast.Subscript))
    return False


class _Unsupported(Exception):
    """A construct the evaluator does not take (the loop is interpreted instead)."""


class _State:
    """One evaluation: the top loop's items, the iterations counted, the analysis's deadline."""

    __slots__ = ("count", "deadline", "items")

    def __init__(self, items: list[Any], deadline: float) -> None:
        self.items = items
        self.count = 0
        self.deadline = deadline

    def tick(self) -> None:
        self.count += 1
        if self.count > MAX_ITERATIONS:
            raise _TooLong
        if not self.count & 0x3FF and time.monotonic() > self.deadline:
            raise _TooCostly


class _Inner(dict[str, Any]):
    """A comprehension's own names; the others are read from the enclosing names when used."""

    __slots__ = ("outer",)

    def __init__(self, outer: dict[str, Any]) -> None:
        super().__init__()
        self.outer = outer

    def __missing__(self, key: str) -> Any:
        return self.outer[key]


Env = dict[str, Any]
Expr = Callable[[Env, _State], Any]
Stmt = Callable[[Env, _State], object]
Store = Callable[[Env, _State, Any], None]

_BREAK = object()
_CONTINUE = object()

# operators on Python values: the plain one, the in-place one (AugAssign)
_BINOPS: dict[type[ast.operator], tuple[Any, Any]] = {
    ast.Add: (operator.add, operator.iadd), ast.Sub: (operator.sub, operator.isub),
    ast.Mult: (operator.mul, operator.imul), ast.Div: (operator.truediv, operator.itruediv),
    ast.FloorDiv: (operator.floordiv, operator.ifloordiv), ast.Mod: (operator.mod, operator.imod),
    ast.Pow: (operator.pow, operator.ipow), ast.LShift: (operator.lshift, operator.ilshift),
    ast.RShift: (operator.rshift, operator.irshift), ast.BitOr: (operator.or_, operator.ior),
    ast.BitXor: (operator.xor, operator.ixor), ast.BitAnd: (operator.and_, operator.iand),
}
_UNARY: dict[type[ast.unaryop], Any] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_, ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Any] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_SMALL = 1 << costs.MAX_INT_BITS  # an int strictly between -_SMALL and _SMALL has at most MAX_INT_BITS bits
_RECEIVERS = (list, dict, set, frozenset, str, tuple)  # the only values a method is called on
_BUILTINS: dict[str, Any] = {**_FUNCS, "range": _range}
_CALLABLE = frozenset(id(f) for f in _BUILTINS.values())


def _binop(op: ast.operator, inplace: bool, left: Any, right: Any) -> Any:
    if costs.binop_too_costly(op, left, right) or _sequence_too_long(op, left, right):
        raise _TooCostly
    return _BINOPS[type(op)][inplace](left, right)


class _Compiler:
    """Turns the whitelisted statements and expressions into nested Python closures over a
    dict of plain values: each node is evaluated by the closure made for it (operators by
    `operator`, calls only of `_BUILTINS` and of `_METHODS` on plain receivers). Nothing of the
    user's file is compiled or run by Python."""

    def __init__(self, builtins: set[str]) -> None:
        self.builtins = builtins  # builtin names the loop reads and never binds

    # statements

    def block(self, body: list[ast.stmt], depth: int) -> Stmt:
        steps = [self.stmt(s, depth) for s in body]
        if not steps:
            return lambda env, st: None
        if len(steps) == 1:
            return steps[0]

        def run(env: Env, st: _State) -> object:
            for step in steps:
                signal = step(env, st)
                if signal is not None:
                    return signal
            return None
        return run

    def stmt(self, node: ast.stmt, depth: int) -> Stmt:
        if isinstance(node, ast.For):
            return self.for_loop(node, self.expr(node.iter), depth)
        if isinstance(node, ast.If):
            test, body = self.expr(node.test), self.block(node.body, depth)
            if not node.orelse:
                return lambda env, st: body(env, st) if test(env, st) else None
            orelse = self.block(node.orelse, depth)
            return lambda env, st: body(env, st) if test(env, st) else orelse(env, st)
        if isinstance(node, ast.Assign):
            return self.assign(node)
        if isinstance(node, ast.AugAssign):
            return self.aug_assign(node)
        if isinstance(node, ast.Expr):
            expr = self.expr(node.value)

            def discard(env: Env, st: _State) -> None:
                expr(env, st)
            return discard
        if isinstance(node, (ast.Break, ast.Continue)):
            if depth == 0:
                raise _Unsupported  # outside a loop (in the analysed loop's `else`)
            signal = _BREAK if isinstance(node, ast.Break) else _CONTINUE
            return lambda env, st: signal
        if isinstance(node, ast.Pass):
            return lambda env, st: None
        raise _Unsupported

    def for_loop(self, node: ast.For, iterable: Expr, depth: int) -> Stmt:
        store = self.store(node.target)
        body = self.block(node.body, depth + 1)
        orelse = self.block(node.orelse, depth)
        if isinstance(node.target, ast.Name):
            name = node.target.id

            def loop_name(env: Env, st: _State) -> object:
                for item in iterable(env, st):
                    st.count += 1  # `st.tick()`, inlined: the one cost of an iteration
                    if st.count > MAX_ITERATIONS:
                        raise _TooLong
                    if not st.count & 0x3FF and time.monotonic() > st.deadline:
                        raise _TooCostly
                    env[name] = item
                    if body(env, st) is _BREAK:
                        return None
                return orelse(env, st)
            return loop_name

        def loop(env: Env, st: _State) -> object:
            for item in iterable(env, st):
                st.count += 1  # `st.tick()`, inlined: the one cost of an iteration
                if st.count > MAX_ITERATIONS:
                    raise _TooLong
                if not st.count & 0x3FF and time.monotonic() > st.deadline:
                    raise _TooCostly
                store(env, st, item)
                if body(env, st) is _BREAK:
                    return None
            return orelse(env, st)
        return loop

    def assign(self, node: ast.Assign) -> Stmt:
        value = self.expr(node.value)
        stores = [self.store(t) for t in node.targets]
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id

            def assign_name(env: Env, st: _State) -> None:
                env[name] = value(env, st)
            return assign_name
        if len(stores) == 1:
            store = stores[0]

            def assign_one(env: Env, st: _State) -> None:
                store(env, st, value(env, st))
            return assign_one

        def assign_many(env: Env, st: _State) -> None:
            result = value(env, st)
            for one in stores:
                one(env, st, result)
        return assign_many

    def aug_assign(self, node: ast.AugAssign) -> Stmt:
        op, value = node.op, self.expr(node.value)
        if type(op) not in _BINOPS:
            raise _Unsupported
        target = node.target
        if isinstance(target, ast.Name):
            name = target.id

            def aug_name(env: Env, st: _State) -> None:
                env[name] = _binop(op, True, env[name], value(env, st))
            return aug_name
        if isinstance(target, ast.Subscript):
            obj, key = self.expr(target.value), self.expr(target.slice)

            def aug_item(env: Env, st: _State) -> None:
                container, index = obj(env, st), key(env, st)
                container[index] = _binop(op, True, container[index], value(env, st))
            return aug_item
        raise _Unsupported

    def store(self, target: ast.expr) -> Store:
        if isinstance(target, ast.Name):
            name = target.id

            def bind(env: Env, st: _State, value: Any) -> None:
                env[name] = value
            return bind
        if isinstance(target, (ast.Tuple, ast.List)):
            parts = [self.store(t) for t in target.elts]
            size = len(parts)

            def unpack(env: Env, st: _State, value: Any) -> None:
                values = list(itertools.islice(value, size + 1))
                if len(values) != size:
                    raise ValueError(f"{len(values)} values to unpack into {size}")
                for part, one in zip(parts, values, strict=True):
                    part(env, st, one)
            return unpack
        if isinstance(target, ast.Subscript):
            obj, key = self.expr(target.value), self.expr(target.slice)

            def set_item(env: Env, st: _State, value: Any) -> None:
                obj(env, st)[key(env, st)] = value
            return set_item
        raise _Unsupported

    # expressions

    def expr(self, node: ast.expr) -> Expr:  # noqa: C901, PLR0911 - one branch per whitelisted node
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.builtins:
                found = _BUILTINS[name]
                return lambda env, st: found
            return lambda env, st: env[name]
        if isinstance(node, ast.Constant):
            constant = node.value
            return lambda env, st: constant
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise _Unsupported  # `@`
            op, left, right = node.op, self.expr(node.left), self.expr(node.right)
            if isinstance(op, (ast.Add, ast.Sub)):
                function = _BINOPS[type(op)][0]

                def add_or_sub(env: Env, st: _State) -> Any:
                    a, b = left(env, st), right(env, st)
                    # two ints within costs.MAX_INT_BITS: what `_binop` checks, answered at once
                    if type(a) is int and type(b) is int and -_SMALL < a < _SMALL and -_SMALL < b < _SMALL:
                        return function(a, b)
                    return _binop(op, False, a, b)
                return add_or_sub
            return lambda env, st: _binop(op, False, left(env, st), right(env, st))
        if isinstance(node, ast.UnaryOp):
            unary, operand = _UNARY[type(node.op)], self.expr(node.operand)
            return lambda env, st: unary(operand(env, st))
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Subscript):
            if isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Constant) and node.value.id not in self.builtins:
                name, index = node.value.id, node.slice.value
                return lambda env, st: env[name][index]
            obj, key = self.expr(node.value), self.expr(node.slice)
            return lambda env, st: obj(env, st)[key(env, st)]
        if isinstance(node, ast.Slice):
            bounds = [self.expr(p) if p is not None else None for p in (node.lower, node.upper, node.step)]
            return lambda env, st: slice(*(b(env, st) if b is not None else None for b in bounds))
        if isinstance(node, ast.Tuple) and len(node.elts) == 2 and not any(isinstance(e, ast.Starred) for e in node.elts):
            first, second = self.expr(node.elts[0]), self.expr(node.elts[1])
            return lambda env, st: (first(env, st), second(env, st))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items, kind = self.items(node.elts), {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
            return lambda env, st: kind(items(env, st))
        if isinstance(node, ast.Dict):
            return self.dict_display(node)
        if isinstance(node, ast.IfExp):
            test, body, orelse = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
            return lambda env, st: body(env, st) if test(env, st) else orelse(env, st)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self.comprehension(node)
        raise _Unsupported  # Starred outside a display or call, Attribute outside a method call

    def items(self, elts: list[ast.expr]) -> Callable[[Env, _State], list[Any]]:
        """A display's or a call's items as a list, `*xs` spread."""
        parts = [(isinstance(e, ast.Starred), self.expr(e.value if isinstance(e, ast.Starred) else e)) for e in elts]
        if not any(starred for starred, _ in parts):
            plain = [part for _, part in parts]
            return lambda env, st: [part(env, st) for part in plain]

        def spread(env: Env, st: _State) -> list[Any]:
            out: list[Any] = []
            for starred, part in parts:
                if starred:
                    out.extend(part(env, st))
                else:
                    out.append(part(env, st))
            return out
        return spread

    def dict_display(self, node: ast.Dict) -> Expr:
        pairs = [(self.expr(k) if k is not None else None, self.expr(v)) for k, v in zip(node.keys, node.values, strict=True)]

        def build(env: Env, st: _State) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for key, value in pairs:
                if key is None:
                    out.update(value(env, st))  # `**mapping`
                else:
                    out[key(env, st)] = value(env, st)
            return out
        return build

    def bool_op(self, node: ast.BoolOp) -> Expr:
        values = [self.expr(v) for v in node.values]
        stop_on = not isinstance(node.op, ast.And)  # `and` stops on a false value, `or` on a true one

        def evaluate(env: Env, st: _State) -> Any:
            result = None
            for value in values:
                result = value(env, st)
                if bool(result) is stop_on:
                    return result
            return result
        return evaluate

    def compare(self, node: ast.Compare) -> Expr:
        first = self.expr(node.left)
        rest = [(_COMPARE[type(op)], self.expr(c)) for op, c in zip(node.ops, node.comparators, strict=True)]
        if len(rest) == 1:
            test, right = rest[0]
            if isinstance(node.ops[0], ast.In):

                def contains(env: Env, st: _State) -> bool:
                    item = first(env, st)
                    return item in right(env, st)
                return contains
            if isinstance(node.ops[0], ast.NotIn):

                def lacks(env: Env, st: _State) -> bool:
                    item = first(env, st)
                    return item not in right(env, st)
                return lacks
            return lambda env, st: test(first(env, st), right(env, st))

        def chain(env: Env, st: _State) -> Any:
            left = first(env, st)
            result: Any = True
            for test, part in rest:
                right = part(env, st)
                result = test(left, right)
                if not result:
                    return result
                left = right
            return result
        return chain

    def call(self, node: ast.Call) -> Expr:
        args = self.items(node.args)
        if any(k.arg is None for k in node.keywords):
            raise _Unsupported  # `**kwargs`
        keywords = [(str(k.arg), self.expr(k.value)) for k in node.keywords]
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr not in _METHODS:
                raise _Unsupported
            receiver, method = self.expr(func.value), func.attr
            if not keywords and len(node.args) == 1 and not isinstance(node.args[0], ast.Starred):
                only = self.expr(node.args[0])

                def call_method_1(env: Env, st: _State) -> Any:
                    obj = receiver(env, st)
                    if type(obj) not in _RECEIVERS:
                        raise TypeError(f"`{method}` of a {type(obj).__name__}")
                    return getattr(obj, method)(only(env, st))
                return call_method_1

            def call_method(env: Env, st: _State) -> Any:
                obj = receiver(env, st)
                if type(obj) not in _RECEIVERS:
                    raise TypeError(f"`{method}` of a {type(obj).__name__}")
                bound = getattr(obj, method)
                return bound(*args(env, st), **{k: v(env, st) for k, v in keywords})
            return call_method
        if not isinstance(func, ast.Name):
            raise _Unsupported
        if func.id in self.builtins and not keywords and len(node.args) == 1 and not isinstance(node.args[0], ast.Starred):
            builtin, only = _BUILTINS[func.id], self.expr(node.args[0])  # never rebound: the builtin itself
            return lambda env, st: builtin(only(env, st))
        callee = self.expr(func)

        def call_builtin(env: Env, st: _State) -> Any:
            function = callee(env, st)
            if id(function) not in _CALLABLE:
                raise TypeError("not one of the builtins a plain loop may call")
            return function(*args(env, st), **{k: v(env, st) for k, v in keywords})
        return call_builtin

    def comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> Expr:
        generators = node.generators
        if any(g.is_async for g in generators):
            raise _Unsupported
        first = self.expr(generators[0].iter)  # evaluated where the comprehension is
        levels = [(self.expr(g.iter), self.store(g.target), [self.expr(c) for c in g.ifs]) for g in generators]
        element: Expr
        if isinstance(node, ast.DictComp):
            key, value = self.expr(node.key), self.expr(node.value)

            def element(env: Env, st: _State) -> Any:
                return key(env, st), value(env, st)
        else:
            element = self.expr(node.elt)
        last = len(levels) - 1

        def walk(env: Env, st: _State, level: int, iterable: Iterable[Any]) -> Iterator[Any]:
            _, store, conditions = levels[level]
            for item in iterable:
                st.tick()
                store(env, st, item)
                if all(condition(env, st) for condition in conditions):
                    if level == last:
                        yield element(env, st)
                    else:
                        yield from walk(env, st, level + 1, levels[level + 1][0](env, st))

        def produce(env: Env, st: _State) -> Iterator[Any]:
            return walk(_Inner(env), st, 0, iter(first(env, st)))

        if isinstance(node, ast.GeneratorExp):
            return produce
        kind = {ast.ListComp: list, ast.SetComp: set, ast.DictComp: dict}[type(node)]
        return lambda env, st: kind(produce(env, st))


def _build(stmt: ast.For, builtins: set[str]) -> Stmt | None:
    """The loop as closures over its names, iterating the items the interpreter already evaluated."""
    try:
        return _Compiler(builtins).for_loop(stmt, lambda env, st: st.items, 0)
    except (_Unsupported, KeyError):
        return None


def _sequence_too_long(op: ast.operator, left: Any, right: Any) -> bool:
    sequences = (list, tuple, str)
    if isinstance(op, ast.Add) and isinstance(left, sequences) and isinstance(right, sequences):
        return len(left) + len(right) > costs.MAX_ITEMS
    if isinstance(op, ast.Mult):
        seq, count = (left, right) if isinstance(left, sequences) else (right, left)
        if isinstance(seq, sequences) and isinstance(count, int):
            return len(seq) * max(count, 0) > costs.MAX_ITEMS
    if isinstance(op, ast.BitOr) and isinstance(left, (dict, set, frozenset)):
        return len(left) + len(right) > costs.MAX_ITEMS
    return False


def _plain(value: Any, budget: list[int]) -> bool:
    """A plain value (no engine objects), walking at most `budget[0]` items."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            return False
        kind = type(item)
        if kind in _PLAIN_SCALARS:
            continue
        if kind in (tuple, list, set, frozenset):
            stack.extend(item)
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            return False
    return True


def run_native_loop(interp: Interpreter, stmt: ast.For, frame: Frame, items: list[Any]) -> bool:
    """Evaluates the loop on copies of its plain values when it qualifies; True when it ran and
    `frame` holds its effects."""
    if frame.func is None or len(items) < NATIVE_MIN_ITEMS:
        return False
    shape = _shape(stmt)
    if shape is None:
        return False
    for name in shape.funcs:
        found, _ = frame.lookup(name)
        if found:
            return False  # rebound where the loop runs: not the builtin
    originals: dict[str, Any] = {}
    for name in shape.free:
        found, value = frame.lookup(name)
        if not found:
            if name in shape.stored:
                continue  # first bound inside the loop
            return False
        originals[name] = value
    budget = [costs.MAX_ITEMS]
    if not all(_plain(v, budget) for v in originals.values()) or not _plain(items, budget):
        return False
    if any(_iterations(len(items), chain, originals) > MAX_ITERATIONS for chain in shape.nests):
        _give_up(interp, stmt, frame, shape)  # nested loops over known lists: too long, without trying
        return True
    memo: dict[int, Any] = {}
    namespace: dict[str, Any] = copy.deepcopy(originals, memo)
    state = _State(copy.deepcopy(items, memo), interp.deadline)
    try:
        shape.run(namespace, state)  # closures over the whitelisted nodes, on copies of plain values
    except _TooLong:
        interp.steps += MAX_ITERATIONS // STEPS_PER_ITERATIONS
        _give_up(interp, stmt, frame, shape)
        return True
    except Exception:  # noqa: BLE001 - anything unusual: the interpreter runs it as before
        return False
    budget = [costs.MAX_ITEMS * 4]
    results = {name: namespace[name] for name in shape.stored if name in namespace}
    if not all(_plain(v, budget) for v in results.values()):
        return False
    interp.steps += state.count // STEPS_PER_ITERATIONS
    _write_back(frame, originals, results, memo)
    return True


def _iterations(outer: int, chain: list[str], values: dict[str, Any]) -> int:
    total = outer
    for name in chain:
        value = values.get(name)
        if not isinstance(value, (list, tuple, dict, set, str, range)):
            return 0  # not known here: the run counts
        total *= len(value)
    return total


def _give_up(interp: Interpreter, stmt: ast.For, frame: Frame, shape: _Shape) -> None:
    """Interpreted, the loop would spend the analysis's whole budget: only what it computes
    becomes unknown (as a loop of unknown length), the rest of the model is still built."""
    reason = f"the loop over `{_one_line(stmt.iter)}` runs more than {MAX_ITERATIONS:,} iterations"
    interp.assign(stmt.target, Unknown(reason), frame)
    before = {name: frame.locals.get(name) for name in shape.changed}
    interp.run_unknown_loop(frame, stmt.body, reason)
    # a dict or set the loop fills has unknown keys (the merge of "ran once" with "never ran"
    # keeps a key found on one side): unknown as a whole, under every local name bound to it
    changed = {id(v) for v in (*before.values(), *(frame.locals.get(n) for n in shape.changed))
               if isinstance(v, (dict, set, list))}
    for name, value in list(frame.locals.items()):
        if id(value) in changed:
            frame.locals[name] = Unknown(reason)


def _one_line(node: ast.expr) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 60 else text[:59] + "…"


def _write_back(frame: Frame, originals: dict[str, Any], results: dict[str, Any], memo: dict[int, Any]) -> None:
    """The copies' new contents go into the original objects (other references see them), and
    the names the loop binds into the frame."""
    kept = memo.get(id(memo), [])  # deepcopy keeps every original it copied alive here
    by_id = {id(o): o for o in kept}
    back = {id(copied): by_id[key] for key, copied in memo.items() if key != id(memo) and key in by_id}

    def restore(value: Any) -> Any:
        if id(value) in back:
            return back[id(value)]
        kind = type(value)
        if kind is list:
            return [restore(v) for v in value]
        if kind is tuple:
            return tuple(restore(v) for v in value)
        if kind is dict:
            return {restore(k): restore(v) for k, v in value.items()}
        if kind in (set, frozenset):
            return kind(restore(v) for v in value)
        return value

    updates: list[tuple[Any, Any]] = []
    for key, copied in memo.items():
        orig = by_id.get(key)
        if orig is None or type(orig) not in (list, dict, set):
            continue
        if type(orig) is dict:
            updates.append((orig, {restore(k): restore(v) for k, v in copied.items()}))
        elif type(orig) is list:
            updates.append((orig, [restore(v) for v in copied]))
        else:
            updates.append((orig, {restore(v) for v in copied}))
    for orig, new in updates:  # every new content is computed before any original changes
        if type(orig) is list:
            orig[:] = new
        else:
            orig.clear()
            orig.update(new)
    frame.locals.update({name: restore(value) for name, value in results.items()})
