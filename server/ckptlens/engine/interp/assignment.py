"""Assignment, deletion, and storing into attributes and items (of modules too)."""

from __future__ import annotations

import ast
from typing import Any

from ckptlens.engine import tensors
from ckptlens.engine.class_facts import property_setter
from ckptlens.engine.dtype_names import UNKNOWN_DTYPE
from ckptlens.engine.interp.constants import MODULE_TABLES
from ckptlens.engine.interp.frame import Frame
from ckptlens.engine.interp.host import Host
from ckptlens.engine.interp.signals import Raised, Unfollowable
from ckptlens.engine.interp.syntax import one_line, short
from ckptlens.engine.interp.valueops import hashable, short_value
from ckptlens.engine.objects import AttrDict, ModuleValue, ObjectValue, opaque_module, renumber
from ckptlens.engine.symbolic import SymConfig
from ckptlens.engine.values import TensorValue, UngivenArgument, Unknown, is_unknown
from ckptlens.findings import SourceRange


class Assignment(Host):
    def assign(self, target: ast.expr, value: Any, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            frame.locals[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self._unpack(target, value, frame)
        elif isinstance(target, ast.Attribute):
            if target.attr == "data" and isinstance(target.value, ast.Attribute) and self._set_data(target.value, value, frame):
                return
            obj = self.eval(target.value, frame)
            self.setattr(obj, target.attr, value, frame.scope.source.range_of(target))
        elif isinstance(target, ast.Subscript):
            if isinstance(target.value, ast.Attribute) and target.value.attr in MODULE_TABLES:
                # `model._modules[name] = new_module` (and `_parameters`, `_buffers`): as
                # `setattr(model, name, value)`, on the module that owns the table
                owner = self.eval(target.value.value, frame)
                key = self.eval(target.slice, frame)
                if isinstance(owner, ModuleValue) and isinstance(key, str):
                    self.module_setattr(owner, key, value, frame.scope.source.range_of(target))
                    return
                if isinstance(owner, ModuleValue):
                    owner.opaque = owner.opaque or f"an item of `{target.value.attr}` is stored under an unknown name"
                    return
            obj = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            self.setitem(obj, key, value, frame.scope.source.range_of(target))
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, frame)

    def _set_data(self, tensor: ast.Attribute, value: Any, frame: Frame) -> bool:
        """`module.weight.data = new`: the parameter (or buffer) keeps its key and takes the new
        tensor's shape and dtype."""
        owner = self.eval(tensor.value, frame)
        if not isinstance(owner, ModuleValue):
            return False
        for table in (owner.params, owner.buffers):
            old = table.get(tensor.attr)
            if old is not None:
                if isinstance(value, TensorValue):
                    table[tensor.attr] = TensorValue(value.shape, value.dtype, old.is_parameter)
                else:
                    table[tensor.attr] = TensorValue(None, UNKNOWN_DTYPE, old.is_parameter)
                return True
        return False

    def _unpack(self, target: ast.Tuple | ast.List, value: Any, frame: Frame) -> None:
        items = self.iterate(value)
        star = [i for i, elt in enumerate(target.elts) if isinstance(elt, ast.Starred)]
        if items is None or (not star and len(items) != len(target.elts)):
            for elt in target.elts:
                self.assign(elt, Unknown(f"cannot unpack `{short(target)}`"), frame)
            return
        if star:
            i = star[0]
            after = len(target.elts) - i - 1
            head, middle, tail = items[:i], items[i : len(items) - after], items[len(items) - after :]
            for elt, item in zip(target.elts[:i], head, strict=False):
                self.assign(elt, item, frame)
            self.assign(target.elts[i], list(middle), frame)
            for elt, item in zip(target.elts[i + 1 :], tail, strict=False):
                self.assign(elt, item, frame)
            return
        for elt, item in zip(target.elts, items, strict=True):
            self.assign(elt, item, frame)

    def delete(self, target: ast.expr, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            frame.locals.pop(target.id, None)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, frame)
            if isinstance(obj, ModuleValue):
                obj.remove_member(target.attr)
            elif isinstance(obj, ObjectValue):
                obj.attrs.pop(target.attr, None)
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            if isinstance(obj, ModuleValue) and obj.container:
                names = list(obj.children if obj.children else obj.params)
                if isinstance(key, int) and -len(names) <= key < len(names):
                    obj.remove_member(names[key])
                    if obj.container in ("ModuleList", "Sequential", "ParameterList"):
                        renumber(obj)
                elif isinstance(key, str):
                    obj.remove_member(key)
            elif isinstance(obj, list) and isinstance(key, slice):
                if any(b is not None and not isinstance(b, int) for b in (key.start, key.stop, key.step)):
                    raise Unfollowable("a slice of a list is deleted at unknown bounds")
                del obj[key]
            elif isinstance(obj, (list, dict)):
                if is_unknown(key) or not hashable(key):
                    raise Unfollowable("an item is deleted under an unknown key")
                try:
                    del obj[key]
                except (KeyError, IndexError, TypeError) as exc:
                    raise Raised(None, f"`{type(exc).__name__}` deleting an item") from None

    def setattr(self, obj: Any, name: str, value: Any, where: SourceRange | None) -> None:
        if isinstance(obj, ModuleValue):
            self.module_setattr(obj, name, value, where)
        elif isinstance(obj, ObjectValue):
            setter = property_setter(self, obj.cls, name) if obj.cls is not None else None
            if setter is not None:  # `@name.setter`: it decides what is stored
                self.call_function(setter, [obj, value], {}, None)
                return
            obj.attrs[self.attribute_alias(obj, name) or name] = value
        elif isinstance(obj, AttrDict):
            obj[name] = value
        elif isinstance(obj, SymConfig):  # issue 15: a config nobody gave, set by the code
            obj.set(name, value)
        elif isinstance(obj, TensorValue) and name == "requires_grad":
            pass

    def module_setattr(self, module: ModuleValue, name: str, value: Any, where: SourceRange | None) -> None:
        """torch's `Module.__setattr__`: parameters, submodules and buffers go to their tables."""
        # Re-assigning keeps the original position, as torch's ordered tables do.
        if isinstance(value, TensorValue) and value.is_parameter:
            if name not in module.params:
                module.remove_member(name)
            module.params[name] = value
            if where is not None:
                module.tensor_origins[name] = where
        elif isinstance(value, ModuleValue):
            if name not in module.children:
                module.remove_member(name)
            module.children[name] = value
            if value.origin is None and where is not None:
                value.origin = self.anchors[-1] if self.anchors else where
        elif value is None and name in module.params:
            module.params[name] = None
        elif value is None and name in module.children:
            module.children[name] = None
        elif isinstance(value, tensors.BufferValue):  # `self.x = nn.Buffer(t, persistent=...)`
            if name not in module.buffers:
                module.remove_member(name)
            module.buffers[name] = TensorValue(value.shape, value.dtype)
            if value.persistent:
                module.non_persistent.discard(name)
            else:
                module.non_persistent.add(name)
            if where is not None:
                module.tensor_origins[name] = where
        elif name in module.buffers and (value is None or isinstance(value, TensorValue)):
            module.buffers[name] = value
        elif name in module.params and isinstance(value, TensorValue):
            module.params[name] = value  # torch raises for a plain tensor; keep the slot
        elif is_unknown(value) and value.maybe_module:
            module.remove_member(name)
            module.children[name] = opaque_module("?", value.reason, where)
            module.children[name].quiet = isinstance(value, UngivenArgument)  # type: ignore[union-attr]
        elif name == "hparams" and module.is_lightning:
            module.attrs[name] = value
        else:
            if name in module.children and is_unknown(value):
                module.children[name] = opaque_module("?", value.reason, where)
                return
            module.attrs[name] = value

    def setitem(self, obj: Any, key: Any, value: Any, where: SourceRange | None) -> None:
        if isinstance(obj, ModuleValue) and obj.container:
            if obj.container in ("ModuleList", "Sequential", "ParameterList"):
                names = list(obj.params if obj.container == "ParameterList" else obj.children)
                if is_unknown(key) or not isinstance(key, int) or not -len(names) <= key < len(names):
                    obj.opaque = obj.opaque or f"an item is assigned at an unknown index `{key}`"
                    return
                name = names[key]
            else:
                if not isinstance(key, str):
                    obj.opaque = obj.opaque or "an item is assigned under an unknown key"
                    return
                name = key
            if obj.container in ("ParameterList", "ParameterDict"):
                if isinstance(value, TensorValue):
                    obj.params[name] = TensorValue(value.shape, value.dtype, True)
                    if where is not None:
                        obj.tensor_origins[name] = self.anchors[-1] if self.anchors else where
            else:
                self.module_setattr(obj, name, value, where)
        elif isinstance(obj, list) and isinstance(key, slice):
            items = self.iterate(value)
            bounds = (key.start, key.stop, key.step)
            if items is None or any(b is not None and not isinstance(b, int) for b in bounds):
                raise Unfollowable("a slice of a list is replaced by unknown items")
            try:
                obj[key] = items
            except (ValueError, TypeError) as exc:
                raise Raised(None, f"`{type(exc).__name__}` assigning a slice") from None
        elif isinstance(obj, (dict, list)):
            if is_unknown(key) or not hashable(key):
                why = key.reason if is_unknown(key) else short_value(key)
                raise Unfollowable(f"an item is stored under an unknown key ({one_line(why, 80)})")
            try:
                obj[key] = value
            except (IndexError, TypeError) as exc:
                raise Raised(None, f"`{type(exc).__name__}` storing an item") from None
        elif isinstance(obj, ObjectValue) and isinstance(key, str):
            obj.attrs[key] = value
