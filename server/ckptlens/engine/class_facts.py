"""What can be said about a class read from source without running it: whether it has an
attribute (`hasattr(self.__class__, "model_type")`, as transformers' `PreTrainedConfig.to_dict`
asks).

An answer is only given where Python's would be the same for every run: a name found in the
class body (or a base's) is there; a name found nowhere is absent only when every class of the
MRO is read from source, none has a metaclass, and no class decorator could add it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ckptlens.engine.objects import ClassRef, FunctionRef

if TYPE_CHECKING:
    from ckptlens.engine.interp.runtime import Runtime

# Class decorators that add no attribute a program would ask for with `hasattr` (dunders
# aside): the dataclass machinery and documentation helpers. `strict` (huggingface_hub's
# validating dataclass) adds `validate`.
_QUIET_DECORATORS = {"dataclass": (), "auto_docstring": (), "strict": ("validate",), "total_ordering": (),
                     "add_start_docstrings": (), "final": (), "runtime_checkable": ()}


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def class_has(interp: Runtime, cls: ClassRef, name: str) -> bool | None:
    """`hasattr(cls, name)` for a class read from source: True, False, or None (unknown)."""
    found, _ = interp.class_attr(cls, name)
    if found:
        return True
    if name.startswith("__") and name.endswith("__"):
        return None  # `object` and the interpreter provide many
    for klass in interp.mro(cls):
        if not isinstance(klass, ClassRef) or klass.node.keywords:
            return None  # a library base or a metaclass may provide it
        for deco in klass.node.decorator_list:
            added = _QUIET_DECORATORS.get(_decorator_name(deco))
            if added is None or name in added:
                return None
        if _set_from_outside(klass, name):
            return None
    return False


def _set_from_outside(klass: ClassRef, name: str) -> bool:
    """`Name.attr = ...` or `setattr(Name, ...)` at the top level of the class's module."""
    for stmt in klass.scope.source.tree.body:
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr == name and isinstance(target.value, ast.Name)
                        and target.value.id == klass.name):
                    return True
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            if (isinstance(call.func, ast.Name) and call.func.id == "setattr" and call.args
                    and isinstance(call.args[0], ast.Name) and call.args[0].id == klass.name):
                return True
    return False



# library bases that define no behaviour of their own an instance would use (abstract
# collection types, typing helpers): a method found in a source class after them is still it
_ABSTRACT_ROOTS = ("typing.", "typing_extensions.", "collections.abc.", "abc.")
_CONCRETE_LEAVES = frozenset({"OrderedDict", "dict", "list", "tuple", "set", "UserDict", "UserList", "defaultdict",
                              "Counter", "deque", "ChainMap", "NamedTuple", "Dict", "List", "Tuple", "Set"})


def own_method(interp: Runtime, cls: ClassRef, name: str) -> FunctionRef | None:
    """The method `name` an instance of `cls` resolves to when it is read from source and no
    library base before it in the MRO could define it (`_PerLayerConfigView.__getitem__` over
    `collections.abc.Sequence`); None otherwise."""
    for klass in interp.mro(cls):
        if isinstance(klass, ClassRef):
            for stmt in klass.node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                    if stmt.decorator_list:
                        return None  # a property, a static or class method: not a plain method
                    return FunctionRef(stmt, klass.scope, owner=klass)
            continue
        qual = getattr(klass, "qualname", None)
        if not isinstance(qual, str) or not qual.startswith(_ABSTRACT_ROOTS) or qual.split(".")[-1] in _CONCRETE_LEAVES:
            return None
    return None


def property_setter(interp: Runtime, cls: ClassRef, name: str) -> FunctionRef | None:
    """The setter of property `name` (`@name.setter def name(self, value)`) when the class that
    defines `name` first in the MRO is read from source and defines one; None otherwise."""
    for klass in interp.mro(cls):
        if not isinstance(klass, ClassRef):
            return None
        defines = False
        for stmt in klass.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                defines = True
                for deco in stmt.decorator_list:
                    if (isinstance(deco, ast.Attribute) and deco.attr == "setter" and isinstance(deco.value, ast.Name)
                            and deco.value.id == name):
                        return FunctionRef(stmt, klass.scope, owner=klass)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and name in _assigned(stmt):
                defines = True
        if defines:
            return None
    return None


def _assigned(stmt: ast.Assign | ast.AnnAssign) -> list[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]
