"""What the restricted unpickler builds instead of the objects a pickle describes.

Nothing here is imported from, or calls into, the modules a pickle names: torch tensors become
`TensorRef` (shape, dtype, device, storage), unknown classes `OpaqueClass` / `OpaqueObject`
(the qualified name, plus whatever arguments and state the pickle handed them, kept as inert
data so later stages can look inside, e.g. a pickled `nn.Module`'s `_parameters`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ckptlens.checkpoint.dtypes import itemsize


@dataclass(frozen=True)
class TorchDType:
    name: str  # "float32", ...


@dataclass(frozen=True)
class TorchEnum:
    """A torch singleton named by a global: a layout, a memory format, a qscheme."""

    kind: str  # "layout" | "memory_format" | "qscheme"
    name: str


@dataclass(frozen=True)
class TorchDevice:
    name: str  # "cpu", "cuda:0", ...


@dataclass(frozen=True)
class StorageType:
    """`torch.FloatStorage`, `torch.storage.UntypedStorage`, `torch.cuda.HalfStorage`, ..."""

    qualname: str
    dtype: str  # element dtype; "uint8" for UntypedStorage (its numel counts bytes)
    untyped: bool = False


# StorageRef and TensorRef are built once per tensor on the indexing hot path, where a frozen
# dataclass's __init__ costs three times a slotted one: they are slotted and never mutated.


@dataclass(eq=False, slots=True)
class StorageRef:
    """A storage named by a persistent id; its bytes are never read."""

    key: str
    dtype: str
    untyped: bool
    location: str  # "cpu", "cuda:0", ... as recorded when the file was saved
    numel: int  # in elements of `dtype` (bytes for an untyped storage)

    @property
    def nbytes(self) -> int:
        return self.numel if self.untyped else self.numel * itemsize(self.dtype)


@dataclass(eq=False, slots=True)
class TensorRef:
    shape: tuple[int, ...]
    dtype: str
    device: str
    storage: StorageRef | None = None
    offset: int = 0
    stride: tuple[int, ...] | None = None
    layout: str = "strided"  # "sparse_coo", "quantized", ... when not a plain dense tensor

    def extent_bytes(self) -> int | None:
        """Bytes of its storage this view needs, or None when that cannot be told statically."""
        if self.storage is None or self.stride is None or self.layout != "strided":
            return None
        last = self.offset
        for dim, step in zip(self.shape, self.stride, strict=False):
            if dim == 0:
                return 0
            last += (dim - 1) * step
        return (last + 1) * itemsize(self.dtype)


class OpaqueClass:
    """A global the reader does not know: kept as its name, never imported."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def __repr__(self) -> str:
        return f"OpaqueClass({self.qualname!r})"


class OpaqueObject:
    """An object built from an `OpaqueClass` (or a call on one): nothing was constructed; the
    arguments, the BUILD state and any items pickled into it are kept as data."""

    __slots__ = ("qualname", "args", "state", "dict_items", "list_items")

    def __init__(self, qualname: str, args: tuple[Any, ...] = ()) -> None:
        self.qualname = qualname
        self.args = args
        self.state: Any = None
        self.dict_items: dict[Any, Any] | None = None
        self.list_items: list[Any] | None = None

    def __repr__(self) -> str:
        return f"OpaqueObject({self.qualname!r})"


class Record(dict[Any, Any]):
    """An object whose attributes are its data (`argparse.Namespace`, Lightning's
    `AttributeDict`): BUILD merges its state into the items instead of ignoring it."""


class NumpyDType:
    """`numpy.dtype(code)`; mutable because the byte order arrives later, by BUILD."""

    __slots__ = ("code", "byteorder")

    def __init__(self, code: str, byteorder: str = "<") -> None:
        self.code = code  # "f8", "i4", "b1", ...
        self.byteorder = byteorder


class NumpyArray:
    """A numpy array met in the pickle (hyper-parameters sometimes hold small ones)."""

    __slots__ = ("shape", "dtype", "data")

    def __init__(self) -> None:
        self.shape: tuple[int, ...] = ()
        self.dtype: NumpyDType | None = None
        self.data: bytes | None = None
