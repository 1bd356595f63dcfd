"""Checkpoint reading: keys, shapes, dtypes and layout, without tensor data or code execution."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """The index's names, imported when first asked for: a module that only needs
    `checkpoint.dtypes` (the size of a predicted model) does not load the index."""
    if name in ("CheckpointError", "CheckpointIndex", "Opaque", "TensorInfo", "UnsafeCheckpointError"):
        from ckptlens.checkpoint import index

        value = getattr(index, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
