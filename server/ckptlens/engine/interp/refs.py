"""References to callables the interpreter makes at run time (builtins, library and value methods)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ckptlens.engine.objects import Shared
from ckptlens.engine.values import TensorValue


@dataclass(eq=False)
class BuiltinRef(Shared):
    """A Python builtin, by name."""

    name: str


@dataclass(eq=False)
class NewInstance(Shared):
    """What `super().__new__(cls)` returns inside a class's own `__new__`: the instance that
    `__init__` then builds."""

    cls: Any


@dataclass(eq=False)
class ExternalMethod(Shared):
    """A method of a library class (or of `nn.Module`) bound to a value: `self.add_module`."""

    receiver: Any
    owner: Any
    name: str


@dataclass(eq=False)
class PyMethod:
    """A method of a plain Python value (`list.append`, `str.format`)."""

    obj: Any
    name: str


@dataclass(eq=False)
class TensorMethod:
    """A method of a tensor value (`t.view`)."""

    tensor: TensorValue
    name: str
