"""The frame of one interpreted function (or module body, or class body)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ckptlens.engine.objects import ClassRef, FunctionRef

if TYPE_CHECKING:
    from ckptlens.engine.interp.scope import ModuleScope


@dataclass
class Frame:
    """The locals of one interpreted function, module body or class body."""

    scope: ModuleScope
    locals: dict[str, Any] = field(default_factory=dict)
    parent: Frame | None = None  # enclosing function frame (closures, comprehensions)
    func: FunctionRef | None = None
    cls_body: ClassRef | None = None

    def lookup(self, name: str) -> tuple[bool, Any]:
        frame: Frame | None = self
        while frame is not None:
            if name in frame.locals:
                return True, frame.locals[name]
            frame = frame.parent
        return self.scope.lookup(name)
