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

from ckptlens.engine.objects import ClassRef

if TYPE_CHECKING:
    from ckptlens.engine.interp import Interpreter

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


def class_has(interp: Interpreter, cls: ClassRef, name: str) -> bool | None:
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
    return False

