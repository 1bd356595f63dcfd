"""Checkpoints of swept architectures without their data: a `.safetensors` file whose header
lists torch's keys, shapes and dtypes, and whose data section is a hole in a sparse file
(ckptlens reads headers only). A 7B-parameter model costs a few kilobytes of disk."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path

DTYPES = {
    "float32": ("F32", 4), "float16": ("F16", 2), "bfloat16": ("BF16", 2), "float64": ("F64", 8),
    "int64": ("I64", 8), "int32": ("I32", 4), "int16": ("I16", 2), "int8": ("I8", 1), "uint8": ("U8", 1),
    "bool": ("BOOL", 1), "complex64": ("C64", 8),
}


def write_sparse_safetensors(path: Path, tensors: Sequence[tuple[str, Sequence[int], str]]) -> None:
    """`tensors`: (key, shape, torch dtype name) in order."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for key, shape, dtype in tensors:
        code, size = DTYPES[dtype]
        nbytes = math.prod(shape) * size
        header[key] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        handle.truncate(8 + len(raw) + offset)


def with_prefix(tensors: Sequence[tuple[str, Sequence[int], str]], prefix: str) -> list[tuple[str, Sequence[int], str]]:
    return [(f"{prefix}{k}", s, d) for k, s, d in tensors]


def without(tensors: Sequence[tuple[str, Sequence[int], str]], key: str) -> list[tuple[str, Sequence[int], str]]:
    return [t for t in tensors if t[0] != key]


def with_dim_changed(tensors: Sequence[tuple[str, Sequence[int], str]], key: str) -> list[tuple[str, Sequence[int], str]]:
    """The first dim of `key` one larger."""
    return [(k, (s[0] + 1, *s[1:]) if k == key else s, d) for k, s, d in tensors]
