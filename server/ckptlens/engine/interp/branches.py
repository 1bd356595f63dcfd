"""Branches on unknown values: both sides run on copies of the state, what agrees is kept
(`Merger`)."""

from __future__ import annotations

import ast
import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeGuard, cast

from ckptlens.engine import symbolic
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.signals import Break, Continue, Raised, Return
from ckptlens.engine.interp.syntax import short
from ckptlens.engine.interp.valueops import same_value
from ckptlens.engine.objects import ModuleValue, ObjectValue
from ckptlens.engine.symbolic import SymConfig, SymItems, SymRange, SymSeq
from ckptlens.engine.tensors import BufferValue
from ckptlens.engine.values import TensorValue, Unknown, is_unknown


class Branches(Host):
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
        before = symbolic.members(frame.locals)
        merger.merge_state(frame.locals, dict(frame.locals), branch.locals)
        symbolic.open_grown(before, self.anchor() or frame.scope.source.range_of(stmt), reason)

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
        if not isinstance(value, (list, dict, ModuleValue, ObjectValue, SymConfig)) or id(value) in seen:
            continue
        if isinstance(value, SymConfig):
            if _settable_config(value):
                seen[id(value)] = value
                stack.extend(_values(value).values())
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
            if a.keys() != b.keys():
                # a key only one side added: `len(d)` and `k in d` depend on the branch, so the
                # dict as a whole is unknown (never a key set guessed from one side)
                modules = any(isinstance(v, ModuleValue) for v in (*a.values(), *b.values()))
                self.done[key] = Unknown(self.reason, maybe_module=modules)
                return self.done[key]
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
        if _settable_config(a) and _settable_config(b) and a.name == b.name:
            if a is b and original is None:
                return a
            # a config nobody gave, set on one side (`if flag: config.hidden = 8`): what the sides
            # agree on is kept, the rest is unknown (never one side's value)
            target = original if _settable_config(original) else a.with_known({})
            self.done[key] = target
            merged = self._merge_dict(_values(a), _values(b))
            _values(target).clear()
            _values(target).update(merged)
            return target
        if same_value(a, b) or (a is b and not isinstance(a, (list, dict, ModuleValue, ObjectValue))):
            return a
        maybe = isinstance(a, ModuleValue) or isinstance(b, ModuleValue)
        maybe = maybe or (is_unknown(a) and a.maybe_module) or (is_unknown(b) and b.maybe_module)
        # `nn.Parameter(...) if bias else None`: assigned to `self.bias`, the key may exist, so
        # it is an unknown member (never an attribute that silently drops the key)
        maybe = maybe or any(_registers(v) for v in (a, b))
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


def _registers(value: Any) -> bool:
    """A value that, assigned to a module attribute, registers a state_dict entry."""
    return (isinstance(value, TensorValue) and value.is_parameter) or isinstance(value, BufferValue)


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


def _settable_config(value: Any) -> TypeGuard[SymConfig]:
    """A config nobody gave whose values the code can set (`config.x = ...`)."""
    return isinstance(value, SymConfig) and isinstance(value.known, dict)


def _values(config: SymConfig) -> dict[str, Any]:
    return cast(dict[str, Any], config.known)
