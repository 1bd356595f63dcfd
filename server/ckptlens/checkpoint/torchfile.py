"""What both torch formats share: the storage persistent ids and the decoded result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.pickled import OpaqueClass, StorageRef, StorageType
from ckptlens.checkpoint.weights_only import Safety


@dataclass(frozen=True)
class TorchPickle:
    """The main pickle of a torch file, decoded into inert data."""

    root: Any
    storages: dict[str, StorageRef]  # every storage the pickle named, by key
    opaque: tuple[str, ...] = ()  # qualified names of the unknown globals it named
    notes: tuple[str, ...] = ()
    safety: Safety = field(default_factory=Safety)


@dataclass
class StorageTable:
    """`persistent_load` for torch pickles: `('storage', storage_type, key, location, numel)`
    (the legacy format appends view metadata; old legacy files also pickle `('module', ...)`)."""

    storages: dict[str, StorageRef] = field(default_factory=dict)
    views: bool = False  # legacy storage views: their extents cannot be checked against the file
    legacy: bool = False  # legacy ids have 6 fields (view metadata), zip ones exactly 5

    def __call__(self, pid: Any) -> Any:
        if type(pid) is tuple and len(pid) == 5 and not self.legacy:  # torch.save's: inline
            kind, storage_type, key, location, numel = pid
            if (
                kind == "storage"
                and type(storage_type) is StorageType
                and type(key) is str
                and type(location) is str
                and type(numel) is int
                and numel >= 0
            ):
                ref = self.storages.get(key)
                if ref is None:
                    ref = StorageRef(key, storage_type.dtype, storage_type.untyped, location, numel)
                    self.storages[key] = ref
                return ref
        if not isinstance(pid, tuple) or not pid:
            raise _bad("a persistent id is not a tuple")
        if pid[0] == "module" and len(pid) >= 2:
            return pid[1]  # legacy torch.save(model): the class record, kept as it was pickled
        if pid[0] != "storage":
            raise _bad(f"unknown persistent id kind {str(pid[0])[:40]!r}")
        expected = 6 if self.legacy else 5
        if len(pid) != expected:  # torch.load unpacks exactly that many
            raise _bad(f"a storage id has {len(pid)} fields, torch.load expects {expected}")
        return self._storage(*pid[1:6])

    def _storage(
        self, storage_type: Any, key: Any, location: Any, numel: Any, view: Any = None
    ) -> StorageRef:
        if isinstance(storage_type, OpaqueClass):
            raise _bad(f"storage of unknown type {storage_type.qualname}")
        if not isinstance(storage_type, StorageType):
            raise _bad("a storage type is not a torch storage class")
        if not isinstance(key, (str, int)) or not isinstance(location, str):
            raise _bad("a storage key or location is not a string")
        if isinstance(numel, bool) or not isinstance(numel, int) or numel < 0:
            raise _bad("a storage size is not a non-negative integer")
        key = str(key)
        ref = self.storages.get(key)
        if ref is None:
            ref = StorageRef(key, storage_type.dtype, storage_type.untyped, location, numel)
            self.storages[key] = ref
        if view is not None:
            return self._view(ref, view)
        return ref

    def _view(self, root: StorageRef, view: Any) -> StorageRef:
        # Pre-1.0 legacy files: (view_key, offset, size) inside the root storage, in elements.
        if not isinstance(view, tuple) or len(view) != 3 or not isinstance(view[2], int):
            raise _bad("a storage view record is malformed")
        self.views = True
        return StorageRef(f"{root.key}:{view[0]}", root.dtype, root.untyped, root.location, view[2])


def _bad(what: str) -> CheckpointError:
    return CheckpointError(f"corrupt torch pickle: {what}")


def check_extents(tensors: dict[str, Any]) -> None:
    """A view reaching past its storage fails `torch.load`; say so before anyone tries."""
    for key, tensor in tensors.items():
        extent = tensor.extent_bytes()
        if extent is not None and tensor.storage is not None and extent > tensor.storage.nbytes:
            raise CheckpointError(
                f"corrupt checkpoint: tensor {key!r} needs {extent:,} bytes of its storage, "
                f"which holds only {tensor.storage.nbytes:,}"
            )
