"""Abstract values the interpreter computes with, shared with the layer catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckptlens.engine.model import Shape


@dataclass(frozen=True)
class Unknown:
    """A value the static analysis cannot know. `reason` says why, for the information finding."""

    reason: str = "unknown value"
    # True when the value came from something that may have built a module (an unresolved call
    # or import): assigned to `self.x`, it makes an unknown submodule rather than an attribute.
    maybe_module: bool = False

    def __bool__(self) -> bool:  # guard: truth of an unknown must be asked with is_unknown()
        raise TypeError("the truth of an Unknown value is unknown; test is_unknown() first")

    def __deepcopy__(self, memo: dict[int, Any]) -> Unknown:
        return self  # immutable: branch copies of the interpreter state share it


@dataclass(frozen=True)
class UngivenArgument(Unknown):
    """A constructor argument nobody gave. It may be a module (`DETR(backbone, ...)`): kept on
    `self`, checkpoint tensors under it are unverified, never unexpected -- but, as it is most
    often a number or a name, it is no unknown part of the model."""


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


@dataclass(frozen=True)
class TensorValue:
    """A tensor (or nn.Parameter) built in the source: its shape and dtype, never its data."""

    shape: Shape
    dtype: str = "float32"
    is_parameter: bool = False
    requires_grad: bool = True
    # the values of a 1-D tensor, only where they are exact whatever the floating point
    # (`torch.linspace(0, 0.0, n)`, the default drop-path rates of most models)
    data: tuple[Any, ...] | None = field(default=None, kw_only=True)

    def __deepcopy__(self, memo: dict[int, Any]) -> TensorValue:
        # a copy is a distinct tensor (identity is what ties weights: `copy.deepcopy(layer)`
        # clones are not tied); built directly, several times faster than the generic copy
        new = TensorValue(self.shape, self.dtype, self.is_parameter, self.requires_grad)
        memo[id(self)] = new
        return new


def as_dim(value: Any) -> int | None:
    """An int dim, or None when the value is unknown or not an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


class Unresolvable(Exception):
    """Raised while building when the structure (which keys exist) depends on an unknown value.
    The caller turns the module into an unknown part, with `str(err)` as the reason."""


def truth(value: Any, what: str) -> bool:
    """The truth of `value`, or Unresolvable when it is unknown (`what` names it for the user)."""
    if is_unknown(value):
        note = getattr(value, "note_truth", None)
        if note is not None:  # a symbol (the inference): its truth decides structure
            note()
        raise Unresolvable(f"{what} is unknown ({value.reason})")
    return bool(value)


def known_int(value: Any, what: str) -> int:
    """An int needed for structure (a layer count), or Unresolvable."""
    if is_unknown(value):
        raise Unresolvable(f"{what} is unknown ({value.reason})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unresolvable(f"{what} is not an int ({value!r})")
    return value
