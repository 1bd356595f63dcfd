"""The builtins the library tables reuse: `list()` / `dict()` (and friends) and `setattr()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ckptlens.engine.objects import ModuleValue, mark_open
from ckptlens.engine.values import Unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.runtime import Runtime


Builtin = Callable[["Runtime", list[Any], dict[str, Any], "Frame | None"], Any]


def b_list(kind: type) -> Builtin:
    def run(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        if not args:
            return kind()
        items = interp.iterate(args[0])
        if items is None:
            return Unknown(f"`{kind.__name__}()` of an unknown iterable")
        if kind is dict:
            mapping = interp.as_mapping(args[0])
            if mapping is not None:
                return {**mapping, **kwargs}
            try:
                return {**dict(items), **kwargs}
            except (TypeError, ValueError):
                return Unknown("`dict()` of unknown pairs")
        if kind in (set, frozenset):
            try:
                return kind(items)
            except TypeError:
                return Unknown("unhashable set items")
        return kind(items)

    return run


def b_dict(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if not args:
        return dict(kwargs)
    return b_list(dict)(interp, args, kwargs, frame)


def b_setattr(interp: Runtime, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if len(args) != 3:
        return None
    obj, name, value = args
    if not isinstance(name, str):
        if isinstance(obj, ModuleValue):
            mark_open(obj, "an attribute with an unknown name is set on it", interp.anchor())
        return None
    interp.setattr(obj, name, value, interp.anchor())
    return None
