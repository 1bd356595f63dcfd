"""The restricted pickle machine's globals, calls and objects: GLOBAL / STACK_GLOBAL through
`policy.resolve_global` (with torch's weights_only audit beside), REDUCE through our inert
builders, NEWOBJ / INST / OBJ through `policy.instantiate`, BUILD into our containers only,
persistent ids to the format's loader. Nothing here imports a module or calls an object the
pickle names. `GlobalsAndObjects` is a part of `Unpickler` (`unpickler.py`), which owns the
stack, the memo, the reading and the caps.
"""

from __future__ import annotations

import _compat_pickle
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.pickled import (
    NumpyArray,
    NumpyDType,
    OpaqueClass,
    OpaqueObject,
    Record,
    StorageType,
)
from ckptlens.checkpoint.policy import (
    SafeGlobal,
    check_key,
    instantiate,
    refusal_reason,
    refuse,
    resolve_global,
)
from ckptlens.checkpoint.weights_only import (
    TORCH_ALLOWED_CLASSES,
    WeightsOnlyAudit,
    torch_allows,
    torch_global_name,
)

PersistentLoad = Callable[[Any], Any]


class GlobalsAndObjects:
    """`Unpickler`'s opcodes that name globals, call them and build objects."""

    name: str
    proto: int
    stack: list[Any]
    mem: int
    globals_seen: int
    opaque: dict[str, None]
    audit: WeightsOnlyAudit
    persistent_load: PersistentLoad | None
    _buildable: dict[int, Any]

    if TYPE_CHECKING:

        def _corrupt(self, what: str) -> CheckpointError: ...
        def _readline(self, limit: int | None = None) -> bytes: ...
        def _pop(self) -> Any: ...
        def _top(self) -> Any: ...
        def _pop_mark(self) -> list[Any]: ...

    def _global(self, module: str, name: str, opcode: bool = True) -> Any:
        # What torch's weights_only unpickler would look up (it maps Python 2 names always).
        self.globals_seen += 1
        audited = torch_global_name(module, name) if opcode else f"{module}.{name}"
        if not torch_allows(audited):
            self.audit.outside(audited)
        if self.proto < 3:
            # Python 2 names (`__builtin__`, `copy_reg`), mapped as pickle's fix_imports does.
            # Refusals name the Python 3 spelling; the original is checked too, so a mapping
            # never launders a refusal.
            original = (module, name)
            if original in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[original]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
            reason = refusal_reason(*original)
            if reason is not None and refusal_reason(module, name) is None:
                raise refuse(".".join(original), reason)
        found = resolve_global(module, name)
        if isinstance(found, OpaqueClass):
            self.opaque[found.qualname] = None
        return found

    def _global_name(self) -> tuple[str, str]:
        module = self._readline(1024).decode("utf-8", "replace")
        name = self._readline(1024).decode("utf-8", "replace")
        return module, name

    def op_global(self) -> None:
        self.stack.append(self._global(*self._global_name()))

    def op_stack_global(self) -> None:
        name = self._pop()
        module = self._pop()
        if not isinstance(module, str) or not isinstance(name, str):
            raise self._corrupt("STACK_GLOBAL names are not strings")
        self.stack.append(self._global(module, name, opcode=False))

    def _call(self, func: Any, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise self._corrupt("REDUCE arguments are not a tuple")
        self.mem += 100
        if isinstance(func, SafeGlobal):
            if func.arity is not None:
                self._check_arity(func, args)
            try:
                result = func.call(*args)
            except TypeError as exc:  # wrong arity: our builders never raise it otherwise
                raise self._corrupt(f"{func.qualname} gets arguments it does not take") from exc
            if func.buildable:
                self._buildable[id(result)] = result
            self.mem += _cost(result)
            return result
        if isinstance(func, OpaqueClass):
            return OpaqueObject(func.qualname, args)
        if isinstance(func, OpaqueObject):
            self.audit.reject(f"{self.name} calls an object that is not a global")
            return OpaqueObject(f"{func.qualname}()", args)
        raise self._corrupt(f"calls a {type(func).__name__}")

    def _check_arity(self, func: SafeGlobal, args: tuple[Any, ...]) -> None:
        low, high = func.arity or (0, 0)
        if not low <= len(args) <= high:
            takes = f"{low}" if low == high else f"{low} to {high}"
            raise self._corrupt(
                f"{func.qualname} gets {len(args)} arguments, torch's takes {takes}"
            )

    def _new(self, cls: Any, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise self._corrupt("NEWOBJ arguments are not a tuple")
        if not isinstance(cls, (SafeGlobal, OpaqueClass, StorageType)):  # globals: by name
            self.audit.reject(f"{self.name} instantiates an object that is not a global")
        elif torch_allows(cls.qualname) and cls.qualname not in TORCH_ALLOWED_CLASSES:
            self.audit.reject(f"{self.name} instantiates {cls.qualname}, which is not a class")
        try:
            result = instantiate(cls, args)
        except TypeError as exc:
            raise self._corrupt("an object gets arguments its class does not take") from exc
        if isinstance(cls, SafeGlobal) and cls.buildable:
            self._buildable[id(result)] = result
        self.mem += 100 + _cost(result)
        return result

    def op_newobj(self) -> None:
        args = self._pop()
        cls = self._pop()
        self.stack.append(self._new(cls, args))

    def op_newobj_ex(self) -> None:
        self._pop()  # kwargs: our builders take none, and opaque objects keep only args
        args = self._pop()
        cls = self._pop()
        self.stack.append(self._new(cls, args))

    def op_inst(self) -> None:
        cls = self._global(*self._global_name(), opcode=False)
        obj = self._new(cls, tuple(self._pop_mark()))
        self.stack.append(obj)

    def op_obj(self) -> None:
        items = self._pop_mark()
        if not items:
            raise self._corrupt("OBJ without a class")
        self.stack.append(self._new(items[0], tuple(items[1:])))

    def op_build(self) -> None:
        state = self._pop()
        target = self._top()
        if id(target) not in self._buildable:
            self.audit.reject(
                f"{self.name} sets the state of an object torch's weights_only BUILD refuses"
            )
        before = _cost(target)
        _apply_state(target, state)
        self.mem += max(0, _cost(target) - before)

    def op_persid(self) -> None:
        pid = self._readline().decode("ascii", "replace")
        self.stack.append(self._persistent(pid))

    def _persistent(self, pid: Any) -> Any:
        # torch's weights_only unpickler takes only ("storage", ...) tuples (or ints).
        if not (
            (type(pid) is tuple and pid and pid[0] == "storage") or type(pid) is int
        ):
            self.audit.reject(f"{self.name} refers to persistent objects other than storages")
        if self.persistent_load is None:
            raise self._corrupt(
                "it refers to external objects (persistent ids) this format has none of"
            )
        return self.persistent_load(pid)

    def op_ext(self) -> None:
        raise self._corrupt("it uses the copyreg extension registry, which checkpoints never do")


def _apply_state(target: Any, state: Any) -> None:
    """BUILD: only inert containers of ours take state; everything else ignores it (a state
    dict's `_metadata`, a Parameter's attributes) because it does not change what is read."""
    if isinstance(target, OpaqueObject):
        target.state = state
    elif isinstance(target, Record):
        for part in state if isinstance(state, tuple) else (state,):
            if isinstance(part, dict):
                for key, value in part.items():
                    target[check_key(key)] = value
    elif isinstance(target, NumpyArray):
        _numpy_array_state(target, state)
    elif isinstance(target, NumpyDType):
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str):
            target.byteorder = state[1]


def _numpy_array_state(array: NumpyArray, state: Any) -> None:
    # ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
    if not isinstance(state, tuple) or len(state) < 5:
        return
    shape, dtype, raw = state[1], state[2], state[4]
    if isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape):
        array.shape = shape
    if isinstance(dtype, NumpyDType):
        array.dtype = dtype
    if isinstance(raw, (bytes, bytearray)):
        array.data = bytes(raw)
    elif isinstance(raw, str):
        array.data = raw.encode("latin1", "replace")


def _cost(obj: Any) -> int:
    """Bytes an object built by a call holds beyond what is already counted."""
    size = sys.getsizeof(obj)
    if type(obj) is NumpyArray and obj.data is not None:
        size += len(obj.data)
    return size
