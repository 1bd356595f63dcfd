"""The evaluator of plain loops (plain_loops.py): a `for` loop's whitelisted statements and
expressions turned once into nested Python closures, one per AST node, that evaluate them on a
dict of plain values. Operators go through `operator`, calls only to the builtins of `FUNCS`,
methods only of the names in `METHODS` on lists, dicts, sets, strings and tuples; nothing of the
user's file is compiled or run by Python. Every iteration of every loop and comprehension is
counted (`MAX_ITERATIONS`, the analysis's deadline) and every operation that could build a huge
value is checked first (costs.py). A construct outside the subset makes `build_loop` give None."""

from __future__ import annotations

import ast
import itertools
import operator
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ckptlens.engine import costs

MAX_ITERATIONS = 250_000  # iterations of all loops and comprehensions in one evaluation (~0.5 s)

# builtins the loop may call (their names must not be rebound where the loop runs)
FUNCS: dict[str, Any] = {
    "abs": abs, "len": len, "min": min, "max": max, "int": int, "float": float, "round": round,
    "range": range, "enumerate": enumerate, "zip": zip, "tuple": tuple, "list": list, "sorted": sorted,
    "reversed": reversed, "sum": sum, "divmod": divmod, "bool": bool, "set": set, "dict": dict,
    "any": any, "all": all,
}
# methods of plain values that neither run user code nor build values beyond one item each call
METHODS = frozenset({
    "append", "get", "index", "count", "keys", "values", "items", "add", "setdefault", "insert", "pop",
    "copy", "remove", "discard", "startswith", "endswith",
})


class TooCostly(Exception):
    """Over a size cap or past the analysis's deadline: the loop is interpreted instead."""


class TooLong(TooCostly):
    """More iterations than an evaluation may take: interpreting it would exhaust the budget."""


def _range(*args: Any) -> range:
    """`range`, the one lazily huge value a builtin here can walk (`list(range(10**12))`)."""
    made = range(*args)
    if len(made) > costs.MAX_ITEMS:
        raise TooCostly
    return made


class _Unsupported(Exception):
    """A construct the evaluator does not take (the loop is interpreted instead)."""


class Evaluation:
    """One evaluation: the top loop's items, the iterations counted, the analysis's deadline."""

    __slots__ = ("count", "deadline", "items")

    def __init__(self, items: list[Any], deadline: float) -> None:
        self.items = items
        self.count = 0
        self.deadline = deadline

    def tick(self) -> None:
        self.count += 1
        if self.count > MAX_ITERATIONS:
            raise TooLong
        if not self.count & 0x3FF and time.monotonic() > self.deadline:
            raise TooCostly


class _Inner(dict[str, Any]):
    """A comprehension's own names; the others are read from the enclosing names when used."""

    __slots__ = ("outer",)

    def __init__(self, outer: dict[str, Any]) -> None:
        super().__init__()
        self.outer = outer

    def __missing__(self, key: str) -> Any:
        return self.outer[key]


Env = dict[str, Any]
Expr = Callable[[Env, Evaluation], Any]
Stmt = Callable[[Env, Evaluation], object]
Run = Stmt  # a loop built by `build_loop`: run(names, evaluation)
Store = Callable[[Env, Evaluation, Any], None]

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
_BUILTINS: dict[str, Any] = {**FUNCS, "range": _range}
_CALLABLE = frozenset(id(f) for f in _BUILTINS.values())


def _binop(op: ast.operator, inplace: bool, left: Any, right: Any) -> Any:
    if costs.binop_too_costly(op, left, right) or _sequence_too_long(op, left, right):
        raise TooCostly
    return _BINOPS[type(op)][inplace](left, right)


class _Compiler:
    """Turns the whitelisted statements and expressions into nested Python closures over a
    dict of plain values: each node is evaluated by the closure made for it (operators by
    `operator`, calls only of `_BUILTINS` and of `METHODS` on plain receivers). Nothing of the
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

        def run(env: Env, st: Evaluation) -> object:
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

            def discard(env: Env, st: Evaluation) -> None:
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

            def loop_name(env: Env, st: Evaluation) -> object:
                for item in iterable(env, st):
                    st.count += 1  # `st.tick()`, inlined: the one cost of an iteration
                    if st.count > MAX_ITERATIONS:
                        raise TooLong
                    if not st.count & 0x3FF and time.monotonic() > st.deadline:
                        raise TooCostly
                    env[name] = item
                    if body(env, st) is _BREAK:
                        return None
                return orelse(env, st)
            return loop_name

        def loop(env: Env, st: Evaluation) -> object:
            for item in iterable(env, st):
                st.count += 1  # `st.tick()`, inlined: the one cost of an iteration
                if st.count > MAX_ITERATIONS:
                    raise TooLong
                if not st.count & 0x3FF and time.monotonic() > st.deadline:
                    raise TooCostly
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

            def assign_name(env: Env, st: Evaluation) -> None:
                env[name] = value(env, st)
            return assign_name
        if len(stores) == 1:
            store = stores[0]

            def assign_one(env: Env, st: Evaluation) -> None:
                store(env, st, value(env, st))
            return assign_one

        def assign_many(env: Env, st: Evaluation) -> None:
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

            def aug_name(env: Env, st: Evaluation) -> None:
                env[name] = _binop(op, True, env[name], value(env, st))
            return aug_name
        if isinstance(target, ast.Subscript):
            obj, key = self.expr(target.value), self.expr(target.slice)

            def aug_item(env: Env, st: Evaluation) -> None:
                container, index = obj(env, st), key(env, st)
                container[index] = _binop(op, True, container[index], value(env, st))
            return aug_item
        raise _Unsupported

    def store(self, target: ast.expr) -> Store:
        if isinstance(target, ast.Name):
            name = target.id

            def bind(env: Env, st: Evaluation, value: Any) -> None:
                env[name] = value
            return bind
        if isinstance(target, (ast.Tuple, ast.List)):
            parts = [self.store(t) for t in target.elts]
            size = len(parts)

            def unpack(env: Env, st: Evaluation, value: Any) -> None:
                values = list(itertools.islice(value, size + 1))
                if len(values) != size:
                    raise ValueError(f"{len(values)} values to unpack into {size}")
                for part, one in zip(parts, values, strict=True):
                    part(env, st, one)
            return unpack
        if isinstance(target, ast.Subscript):
            obj, key = self.expr(target.value), self.expr(target.slice)

            def set_item(env: Env, st: Evaluation, value: Any) -> None:
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

                def add_or_sub(env: Env, st: Evaluation) -> Any:
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

    def items(self, elts: list[ast.expr]) -> Callable[[Env, Evaluation], list[Any]]:
        """A display's or a call's items as a list, `*xs` spread."""
        parts = [(isinstance(e, ast.Starred), self.expr(e.value if isinstance(e, ast.Starred) else e)) for e in elts]
        if not any(starred for starred, _ in parts):
            plain = [part for _, part in parts]
            return lambda env, st: [part(env, st) for part in plain]

        def spread(env: Env, st: Evaluation) -> list[Any]:
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

        def build(env: Env, st: Evaluation) -> dict[Any, Any]:
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

        def evaluate(env: Env, st: Evaluation) -> Any:
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

                def contains(env: Env, st: Evaluation) -> bool:
                    item = first(env, st)
                    return item in right(env, st)
                return contains
            if isinstance(node.ops[0], ast.NotIn):

                def lacks(env: Env, st: Evaluation) -> bool:
                    item = first(env, st)
                    return item not in right(env, st)
                return lacks
            return lambda env, st: test(first(env, st), right(env, st))

        def chain(env: Env, st: Evaluation) -> Any:
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
            if func.attr not in METHODS:
                raise _Unsupported
            receiver, method = self.expr(func.value), func.attr
            if not keywords and len(node.args) == 1 and not isinstance(node.args[0], ast.Starred):
                only = self.expr(node.args[0])

                def call_method_1(env: Env, st: Evaluation) -> Any:
                    obj = receiver(env, st)
                    if type(obj) not in _RECEIVERS:
                        raise TypeError(f"`{method}` of a {type(obj).__name__}")
                    return getattr(obj, method)(only(env, st))
                return call_method_1

            def call_method(env: Env, st: Evaluation) -> Any:
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

        def call_builtin(env: Env, st: Evaluation) -> Any:
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

            def element(env: Env, st: Evaluation) -> Any:
                return key(env, st), value(env, st)
        else:
            element = self.expr(node.elt)
        last = len(levels) - 1

        def walk(env: Env, st: Evaluation, level: int, iterable: Iterable[Any]) -> Iterator[Any]:
            _, store, conditions = levels[level]
            for item in iterable:
                st.tick()
                store(env, st, item)
                if all(condition(env, st) for condition in conditions):
                    if level == last:
                        yield element(env, st)
                    else:
                        yield from walk(env, st, level + 1, levels[level + 1][0](env, st))

        def produce(env: Env, st: Evaluation) -> Iterator[Any]:
            return walk(_Inner(env), st, 0, iter(first(env, st)))

        if isinstance(node, ast.GeneratorExp):
            return produce
        kind = {ast.ListComp: list, ast.SetComp: set, ast.DictComp: dict}[type(node)]
        return lambda env, st: kind(produce(env, st))


def build_loop(stmt: ast.For, builtins: set[str]) -> Stmt | None:
    """The loop as closures over its names, iterating the items the interpreter already evaluated."""
    try:
        return _Compiler(builtins).for_loop(stmt, lambda env, st: st.items, 0)
    except (_Unsupported, KeyError, RecursionError):
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
