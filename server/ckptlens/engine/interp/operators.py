"""Truth, iteration, indexing, binary operators and comparisons over abstract values."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from ckptlens.engine import costs, stdlib, symbolic, tensor_data
from ckptlens.engine.class_facts import own_method
from ckptlens.engine.interp.builtins import LibraryNames
from ckptlens.engine.interp.constants import MAX_SEQUENCE
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.library_hooks import ActivationTable, ConfigMappingTable
from ckptlens.engine.interp.valueops import bounded, plain, same_value
from ckptlens.engine.objects import (
    BoundMethod,
    ClassRef,
    ExternalRef,
    FunctionRef,
    ModuleNamespace,
    ModuleValue,
    ObjectValue,
)
from ckptlens.engine.symbolic import Sym, SymConfig, SymList, SymSeq
from ckptlens.engine.values import TensorValue, Unknown, is_unknown


class Operators(Host):
    def truth(self, value: Any) -> bool | None:
        if is_unknown(value):
            if isinstance(value, Sym):
                if symbolic.truth_of(value):
                    return True
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
            return symbolic.items_of(value)
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
                if value.children:
                    return None  # parameters and modules interleaved by index
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
        if isinstance(obj, ActivationTable):
            return obj.build(self, key)
        if is_unknown(key):
            if isinstance(obj, (list, tuple)) and obj and all(same_value(obj[0], o) for o in obj):
                return obj[0]
            # one of several modules, unknown which: it may own tensors
            items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
            holds_module = any(isinstance(item, ModuleValue) for item in items)
            return Unknown(f"unknown index `{key.reason}`", maybe_module=holds_module)
        if isinstance(obj, ObjectValue):
            method = own_method(self, obj.cls, "__getitem__") if obj.cls is not None else None
            if method is not None:  # a class of the source defines `obj[key]`
                return self.call_function(method, [obj, key], {}, None)
            return obj.attrs.get(key, Unknown(f"unknown item `{key}`")) if isinstance(key, str) else Unknown("unknown item")
        if isinstance(obj, ExternalRef):
            leaf = obj.qualname.split(".")[-1]
            if obj.qualname.split(".")[0] in ("typing", "typing_extensions", "collections") or leaf[:1].isupper():
                return obj  # typing subscripts (List[int], Optional[nn.Module])
            return Unknown(f"`{obj.qualname}[...]` is not known to the analysis")  # `os.environ["X"]`
        if isinstance(obj, ClassRef) and self.is_enum(obj) and isinstance(key, str):
            member = self.enum_member(obj, key)  # `Color["RED"]`
            return member if member is not None else Unknown(f"`{obj.name}` has no member `{key}`")
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
        if module.container == "ParameterList" and module.children:
            return Unknown("an item of a ParameterList holding modules", maybe_module=True)
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
            return tensor_arithmetic(op, left, right)
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
            if right is None and isinstance(left, (Sym, SymConfig)):  # issue 15: assumed present
                present = symbolic.is_none(left)
                return None if present is None else present if isinstance(op, ast.Is) else not present
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
            if isinstance(right, ConfigMappingTable):
                scope = self.scopes.get(self.config_auto_path())
                found_name = right.contains(scope, left) if scope is not None else None
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


def _clone_container(module: ModuleValue) -> ModuleValue:
    """`a + b` on ModuleLists: a new container holding the same submodules."""
    clone = ModuleValue(type_name=module.type_name, container=module.container, origin=module.origin)
    clone.children = {str(i): c for i, c in enumerate(module.children.values())}
    clone.opaque = module.opaque
    return clone


_DATA_OPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow",
}  # fmt: skip


ELEMENTWISE_COMPARE = (ast.Lt, ast.Gt, ast.LtE, ast.GtE, ast.Eq, ast.NotEq)


def tensor_arithmetic(op: ast.operator, left: Any, right: Any) -> Any:
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
