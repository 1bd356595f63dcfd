"""Checkpoint reading: keys, shapes, dtypes and layout, without tensor data or code execution."""

from ckptlens.checkpoint.index import (
    CheckpointError,
    CheckpointIndex,
    Opaque,
    TensorInfo,
    UnsafeCheckpointError,
)

__all__ = [
    "CheckpointError",
    "CheckpointIndex",
    "Opaque",
    "TensorInfo",
    "UnsafeCheckpointError",
    "read_checkpoint",
]


def read_checkpoint(path: str) -> CheckpointIndex:
    from ckptlens.checkpoint.reader import read_checkpoint as _read

    return _read(path)
