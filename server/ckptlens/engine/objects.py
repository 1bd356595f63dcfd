"""Runtime objects of the abstract interpreter: references to code, modules under construction."""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ckptlens.engine.values import TensorValue
from ckptlens.findings import SourceRange

if TYPE_CHECKING:
    from ckptlens.engine.interp.scope import ModuleScope


class Shared:
    """Immutable references: deep copies of interpreter state share them."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def __copy__(self) -> Any:
        return self


@dataclass(frozen=True, eq=True)
class ExternalRef(Shared):
    """Something from a library we know by name, never by source (`torch.nn.Linear`, `math.sqrt`)."""

    qualname: str

    def child(self, name: str) -> ExternalRef:
        return ExternalRef(f"{self.qualname}.{name}")


@dataclass(eq=False)
class ClassRef(Shared):
    """A class defined in analysed source."""

    node: ast.ClassDef
    scope: ModuleScope
    qualname: str

    @property
    def name(self) -> str:
        return self.node.name

    def __repr__(self) -> str:
        return f"<class {self.qualname}>"


@dataclass(eq=False)
class FunctionRef(Shared):
    """A function (or lambda) defined in analysed source."""

    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    scope: ModuleScope
    closure: Any = None  # the defining Frame, for nested functions and lambdas
    owner: ClassRef | None = None  # the class whose body defines it (for zero-argument super())
    kind: str = "function"  # "function" | "staticmethod" | "classmethod" | "property"

    @property
    def name(self) -> str:
        return getattr(self.node, "name", "<lambda>")


@dataclass(eq=False)
class HookRef(Shared):
    """A method of a library class (read from source) whose behaviour is built in instead:
    `fn(interp, receiver, args, kwargs)`. Used where the source does bookkeeping the analysis
    must not wade through (transformers' `PreTrainedModel.__init__`, config `__post_init__`)."""

    name: str
    fn: Any
    kind: str = "function"


@dataclass(eq=False)
class BoundMethod(Shared):
    """A function bound to its receiver (`obj.method`)."""

    receiver: Any
    func: FunctionRef | HookRef


@dataclass(eq=False)
class ModuleNamespace(Shared):
    """A user module imported as a whole (`import blocks`, `from . import layers`)."""

    scope: ModuleScope


@dataclass(eq=False)
class SuperProxy(Shared):
    """What `super()` returns: the receiver and the classes after the caller's."""

    receiver: Any
    mro: tuple[Any, ...]  # the classes after the one `super()` was called in


@dataclass(eq=False)
class PartialValue(Shared):
    """`functools.partial(func, *args, **kwargs)`."""

    func: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class ObjectValue:
    """An instance of a user class that is not a module (a config object, a dataclass)."""

    cls: ClassRef | None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __copy__(self) -> ObjectValue:
        # `copy.copy(obj)`: a new instance with its own `__dict__` (the values are shared)
        return ObjectValue(self.cls, dict(self.attrs))


class OrderedDictValue(dict):
    """A `collections.OrderedDict` (ParameterDict keeps its order, but sorts a plain dict)."""


class AttrDict(dict):
    """Lightning's `hparams`: a dict readable by attribute too."""


@dataclass(eq=False)
class ModuleValue:
    """An `nn.Module` under construction: what `state_dict()` would walk."""

    type_name: str  # qualified name ("torch.nn.Linear", "model.Net")
    cls: ClassRef | None = None  # user class, for methods and class attributes
    spec: Any = None  # the catalog row for library layers (and user subclasses of them)
    container: str | None = None  # "Sequential" | "ModuleList" | "ModuleDict" | "ParameterList" | "ParameterDict"
    params: dict[str, TensorValue | None] = field(default_factory=dict)
    buffers: dict[str, TensorValue | None] = field(default_factory=dict)
    non_persistent: set[str] = field(default_factory=set)
    children: dict[str, ModuleValue | None] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    opaque: str | None = None  # why its keys are unknown
    uncertain: dict[str, str] = field(default_factory=dict)  # member -> why it may or may not exist
    # why it may hold more members than the analysis saw (a call on it that could not be
    # followed), and the code that made that call
    open: str | None = None
    open_origin: SourceRange | None = None
    origin: SourceRange | None = None
    tensor_origins: dict[str, SourceRange] = field(default_factory=dict)
    unknown_dims: list[str] = field(default_factory=list)  # why some dims are unknown
    is_lightning: bool = False
    # an unknown member that is most likely no module (an argument nobody gave, kept on `self`):
    # checkpoint tensors under it are unverified, but it is not reported as an unknown part
    quiet: bool = False
    # a container of symbolic length (symbolic.SymItems): built by a loop over `range(n_layer)`
    # with n_layer a symbol; only the inference reads it (the container itself stays opaque)
    sym_items: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> ModuleValue:
        # The branch copies of an unknown `if` copy whole model trees: copying field by field,
        # sharing what is immutable, is several times faster than the generic reconstruction.
        new = ModuleValue.__new__(ModuleValue)
        memo[id(self)] = new
        for name, value in self.__dict__.items():
            new.__dict__[name] = value if name in _SHARED_FIELDS else copy.deepcopy(value, memo)
        return new

    def member(self, name: str) -> tuple[bool, Any]:
        """torch's `__getattr__` order: parameters, buffers, submodules."""
        if name in self.params:
            return True, self.params[name]
        if name in self.buffers:
            return True, self.buffers[name]
        if name in self.children:
            return True, self.children[name]
        return False, None

    def remove_member(self, name: str) -> None:
        for table in (self.params, self.buffers, self.children, self.attrs):
            table.pop(name, None)
        self.non_persistent.discard(name)


# ModuleValue fields holding immutable values (strings, references, source ranges)
_SHARED_FIELDS = frozenset(
    {"type_name", "cls", "spec", "container", "opaque", "origin", "open", "open_origin", "is_lightning", "quiet"}
)


def mark_open(module: ModuleValue, reason: str, where: SourceRange | None) -> None:
    """The module may have gained members the analysis could not follow (the first reason wins)."""
    if module.open is None:
        module.open, module.open_origin = reason, where


def mark_arguments_open(values: Iterable[Any], reason: str, where: SourceRange | None) -> None:
    """A call the analysis cannot follow received these values: each module among them (or in
    a list, tuple or dict of them) may have gained members."""
    for value in values:
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, ModuleValue):
                mark_open(item, reason, where)


def renumber(module: ModuleValue) -> None:
    """A list-like container after an item was removed: torch numbers its items anew."""
    if module.container == "ParameterList":
        module.params = {str(i): v for i, v in enumerate(module.params.values())}
    else:
        module.children = {str(i): v for i, v in enumerate(module.children.values())}


def opaque_module(type_name: str, reason: str, origin: SourceRange | None = None) -> ModuleValue:
    return ModuleValue(type_name=type_name, opaque=reason, origin=origin)
