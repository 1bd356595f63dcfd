"""Checkpoint reading: keys, shapes, dtypes and layout, without tensor data or code execution."""

import os

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


def read_checkpoint(path: str | os.PathLike[str]) -> CheckpointIndex:
    """Index the checkpoint at `path`: a local file or folder, or a remote reference
    (`hf://`, `s3://`, `https://`, ...) read by byte ranges."""
    from ckptlens.checkpoint.remote.ref import is_remote

    written = os.fspath(path)
    if is_remote(written):
        from ckptlens.checkpoint.reader import guarded
        from ckptlens.checkpoint.remote.read import read_remote

        return guarded(written, lambda: read_remote(written))
    from ckptlens.checkpoint.reader import read_checkpoint as _read

    return _read(written)
