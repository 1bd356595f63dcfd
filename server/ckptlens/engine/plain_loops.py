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
from typing import TYPE_CHECKING, Any

from ckptlens.engine import costs
from ckptlens.engine.plain_eval import (
    FUNCS,
    MAX_ITERATIONS,
    METHODS,
    Evaluation,
    Run,
    TooLong,
    build_loop,
)
from ckptlens.engine.values import Unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.host import Host as Interpreter

NATIVE_MIN_ITEMS = 8  # shorter loops are interpreted (nothing to gain)
STEPS_PER_ITERATIONS = 16  # one analysis step is charged per this many native iterations

_PLAIN_SCALARS = (int, float, bool, str, type(None))
_PLAIN_CONTAINERS = (tuple, list, dict, set, frozenset)

_STATEMENTS = (ast.For, ast.If, ast.Assign, ast.AugAssign, ast.Expr, ast.Continue, ast.Break, ast.Pass)
_EXPRESSIONS = (
    ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.Dict, ast.Set, ast.IfExp, ast.Call, ast.Attribute, ast.ListComp, ast.SetComp,
    ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.Starred,
)
_CONTEXT = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)

class _Shape:
    """What a qualifying loop reads and writes, or None when it does not qualify."""

    def __init__(self, free: list[str], stored: list[str], funcs: list[str], run: Run, nests: list[list[str]]) -> None:
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
            continue
        if not isinstance(node, _EXPRESSIONS):
            return None
        if isinstance(node, ast.Call):
            if node.keywords and not all(k.arg is not None for k in node.keywords):
                return None
            if isinstance(node.func, ast.Name):
                if node.func.id not in FUNCS:
                    return None
                funcs.append(node.func.id)
            elif isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
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
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in METHODS
    }
    if any(id(a) not in callees or not isinstance(a.value, (ast.Name, ast.Subscript)) for a in attrs):
        return None
    stored_set = set(stored)
    # a name the loop reads: a value of the function (read before the loop, or bound in it), or
    # one of the builtins, which must then not be rebound where the loop runs
    free = sorted({n for n in loaded if n in stored_set or n not in FUNCS})
    funcs.extend(n for n in loaded if n not in stored_set and n in FUNCS)
    run = build_loop(stmt, {n for n in loaded if n not in stored_set and n in FUNCS})
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
    state = Evaluation(copy.deepcopy(items, memo), interp.deadline)
    try:
        shape.run(namespace, state)  # closures over the whitelisted nodes, on copies of plain values
    except TooLong:
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
