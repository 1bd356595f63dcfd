"""torch dtypes by name, as the interpreter writes them (`float32`, `int64`, ...): shared by
the tensor model (tensors.py) and the known tensor values (tensor_data.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_DTYPE = "float32"  # torch.get_default_dtype() unless the program changes it
UNKNOWN_DTYPE = "unknown"

# torch.<alias> -> canonical name (str(torch.<alias>) without the "torch." prefix)
DTYPE_ALIASES: Mapping[str, str] = {
    "float32": "float32", "float": "float32",
    "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16",
    "bfloat16": "bfloat16",
    "complex32": "complex32", "chalf": "complex32",
    "complex64": "complex64", "cfloat": "complex64",
    "complex128": "complex128", "cdouble": "complex128",
    "uint8": "uint8", "int8": "int8",
    "int16": "int16", "short": "int16",
    "int32": "int32", "int": "int32",
    "int64": "int64", "long": "int64",
    "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "bool": "bool",
    "float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2",
    "float8_e4m3fnuz": "float8_e4m3fnuz", "float8_e5m2fnuz": "float8_e5m2fnuz",
    "float8_e8m0fnu": "float8_e8m0fnu",
    "qint8": "qint8", "quint8": "quint8", "qint32": "qint32",
}  # fmt: skip


def dtype_name(value: Any, default: str = DEFAULT_DTYPE) -> str:
    """The canonical name of a dtype argument; `default` for None; UNKNOWN_DTYPE otherwise."""
    if value is None:
        return default
    if isinstance(value, type):  # Python's own types as dtypes: torch.zeros(3, dtype=float)
        return {bool: "bool", int: "int64", float: "float64", complex: "complex128"}.get(
            value, UNKNOWN_DTYPE
        )
    if isinstance(value, str):
        name = value.removeprefix("torch.")
        return DTYPE_ALIASES.get(name, UNKNOWN_DTYPE)
    return UNKNOWN_DTYPE
