"""What a checkpoint holds, as read without its tensor data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckptlens.checkpoint.weights_only import Safety


class CheckpointError(Exception):
    """The checkpoint cannot be read. `str(err)` is one line meant for the user."""


class LimitExceeded(CheckpointError):
    """The input passes a cap of ours (work, memory, size): refused, not judged corrupt."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle names a global that would execute code on `torch.load`; nothing was run."""

    def __init__(self, message: str, global_name: str) -> None:
        super().__init__(message)
        self.global_name = global_name


def describe_failure(exc: BaseException) -> str:
    """An unexpected failure in words, without Python's exception class names."""
    text = " ".join(str(exc).split())[:200]
    if isinstance(exc, OverflowError):
        return "a number in it is too large to handle"
    if isinstance(exc, ValueError) and "digits" in text:
        return "an integer in it has too many digits"
    if isinstance(exc, (UnicodeError,)):
        return "text in it is not valid UTF-8"
    return f"it is malformed in a way ckptlens does not recognise ({text or 'no detail'})"


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str  # torch's name without the prefix: "float32", "bfloat16", "int64", "bool", ...
    device: str = "cpu"  # the storage location recorded in the file ("cpu", "cuda:0", ...)


@dataclass(frozen=True)
class Opaque:
    """An object in the pickle whose class is not known data (an omegaconf DictConfig, a
    functools.partial, a user's class): kept as its qualified name, never imported."""

    qualname: str

    def __str__(self) -> str:
        return f"<{self.qualname}>"


@dataclass(frozen=True)
class CheckpointIndex:
    path: str  # absolute path of the file or folder that was read
    format: str  # "torch-zip" | "torch-legacy" | "safetensors" | "hf-sharded" | "hf-folder"
    state_dict_path: tuple[str, ...]  # dict keys leading to the chosen state_dict; () = the file
    tensors: dict[str, TensorInfo]  # the chosen state_dict's tensors, in file order
    hyper_parameters: dict[str, Any] | None = None  # Lightning hparams, rendered as plain data
    # other top-level entries that are dicts of plain data (`args`, `config`, ...), rendered
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: tuple[str, ...] = ()  # top-level keys of the file's dict (() when not a dict)
    alternatives: tuple[
        tuple[str, ...], ...
    ] = ()  # other state_dict candidates that were not picked
    versions: dict[str, str] = field(default_factory=dict)  # e.g. {"pytorch-lightning": "2.6.6"}
    config: dict[str, Any] | None = None  # config.json beside the weights (HF layout), if any
    notes: tuple[str, ...] = ()  # one-line remarks worth showing (opaque objects met, ...)
    size: int = 0  # bytes on disk (sum over shards)
    mtime_ns: int = 0  # newest mtime among the files read (cache key)
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors `__metadata__`, if any
    safety: Safety = field(default_factory=Safety)  # would torch.load(weights_only=True) load it?
    bytes_read: int | None = None  # a remote checkpoint: bytes transferred over the network
