"""Helpers over abstract values: equality, hashability, plain Python values, bounded sizes."""

from __future__ import annotations

from typing import Any

from ckptlens.engine.interp.constants import MAX_SEQUENCE
from ckptlens.engine.interp.syntax import short
from ckptlens.engine.objects import ExternalRef
from ckptlens.engine.symbolic import Sym, SymConfig, SymRange, SymSeq
from ckptlens.engine.values import TensorValue, Unknown


def same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, ExternalRef) and isinstance(b, ExternalRef):
        return a.qualname == b.qualname
    if isinstance(a, Unknown) and isinstance(b, Unknown):
        if isinstance(a, Sym) or isinstance(b, Sym):
            return a == b  # two symbols are the same only with the same expression
        if isinstance(a, (SymConfig, SymRange, SymSeq)) or isinstance(b, (SymConfig, SymRange, SymSeq)):
            return False
        return a.reason == b.reason
    if isinstance(a, (int, float, str, bool, type(None), TensorValue)) and type(a) is type(b):
        return bool(a == b)
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return False


def hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def plain(value: Any) -> bool:
    """A Python value safe to hand to real operators."""
    if isinstance(value, (bool, int, float, str, complex, type(None))):
        return True
    if isinstance(value, (tuple, list)):
        return len(value) <= MAX_SEQUENCE and all(plain(v) for v in value)
    return False


def bounded(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_SEQUENCE:
        return Unknown("value too large")
    return value


def short_value(value: Any) -> str:
    return short(repr(value), 40)


def external_as_data(value: Any) -> Any:
    """Library constants passed to tables (`dtype=torch.long`) as their qualified names."""
    if isinstance(value, ExternalRef):
        return value.qualname
    return value
