"""Which globals a pickle may name, and what the reader makes of them.

Three outcomes, decided from the name alone (nothing is ever imported):

* refused: the global would execute code (or touch files, processes, the network) when
  `torch.load` opens the file -> `UnsafeCheckpointError` naming it;
* known data: torch's tensor machinery, containers, paths, numpy scalars, ... -> our own
  placeholder constructors (`SafeGlobal`), which only build inert data;
* anything else (a user's class, omegaconf, functools.partial) -> `OpaqueClass`, kept by name.

Refusal is a diagnosis, not the safety mechanism: nothing named in a pickle is ever called,
so a dangerous global that slips past the deny-list only ends up opaque.
"""

from __future__ import annotations

import datetime as _dt
import ntpath
import posixpath
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ckptlens.checkpoint.dtypes import (
    LAYOUTS,
    MAX_DIM,
    MEMORY_FORMATS,
    NUMPY_SCALAR,
    QSCHEMES,
    STORAGE_CLASS_DTYPE,
    canonical_dtype,
    check_numel,
)
from ckptlens.checkpoint.index import CheckpointError, UnsafeCheckpointError
from ckptlens.checkpoint.pickled import (
    NumpyArray,
    NumpyDType,
    OpaqueClass,
    OpaqueObject,
    Record,
    StorageRef,
    StorageType,
    TensorRef,
    TorchDevice,
    TorchDType,
    TorchEnum,
)
from ckptlens.checkpoint.weights_only import BUILDABLE, TORCH_ARITY, torch_allows


@dataclass(frozen=True)
class SafeGlobal:
    """A known global: REDUCE runs `call`, NEWOBJ runs `new` (both our own inert builders)."""

    qualname: str
    call: Callable[..., Any]
    new: Callable[..., Any] | None = None
    torch_ok: bool = False  # on torch's weights_only allow-list
    buildable: bool = False  # torch's weights_only BUILD accepts what it returns
    arity: tuple[int, int] | None = None  # arguments torch's own function takes (min, max)

    def instantiate(self, args: tuple[Any, ...]) -> Any:
        return (self.new or self.call)(*args)


# --- refusal -------------------------------------------------------------------------------

# Whole modules (and their submodules) whose globals run code, spawn processes, open files or
# sockets, or load further pickles.
_DENIED_MODULES = frozenset(
    """
    os posix nt sys subprocess _posixsubprocess pty runpy importlib imp pkgutil zipimport
    shutil code codeop webbrowser socket _socket ssl ctypes _ctypes marshal pickle _pickle
    cPickle dill cloudpickle joblib types operator _operator pdb bdb timeit trace profile
    cProfile multiprocessing _multiprocessing _thread thread threading concurrent asyncio
    signal atexit gc pydoc doctest idlelib distutils setuptools pip ensurepip venv tempfile
    shelve dbm sqlite3 io _io fileinput platform urllib urllib2 urllib3 http httplib ftplib
    smtplib telnetlib xmlrpc requests commands popen2 yaml ruamel IPython
    torch.hub torch.utils.cpp_extension torch.utils.collect_env torch.package torch.jit
    torch._dynamo torch._inductor torch.fx imaplib
    numpy.testing numpy.f2py numpy.distutils numpy.ctypeslib logging.config
    """.split()
)

# Function names that execute or load something whatever module they come from.
_DENIED_NAMES = frozenset(
    """
    system popen popen2 popen3 popen4 spawn spawnl spawnle spawnlp spawnlpe spawnv spawnve
    spawnvp spawnvpe execl execle execlp execlpe execv execve execvp execvpe eval exec
    execfile compile __import__ import_module load loads load_module getattr setattr delattr
    open check_call check_output getoutput getstatusoutput run_path run_module fork forkpty
    kill remove unlink rmtree rmdir chmod chown rename write_text write_bytes mkdir makedirs
    __getattribute__ __getattr__ __globals__ __builtins__ __subclasses__ __code__ __class__
    __dict__ __reduce__ __reduce_ex__ __setstate__ __init__ __new__ __call__ __bases__ __mro__
    _load_from_bytes read_pickle posix_spawn posix_spawnp Popen IMAP4_stream
    _get_command_stdout run_command reduce_graph_module _deserialize_graph_module
    """.split()
)

# Builtins that reach code, files, the interpreter's namespaces or the terminal. Other
# builtins (`max`, `print`, exception classes) are merely opaque.
_DENIED_BUILTINS = frozenset(
    """globals locals vars input breakpoint help exit quit apply reload __build_class__
    __loader__ __spec__""".split()
)


def refusal_reason(module: str, name: str) -> str | None:
    """Why naming `module.name` would be dangerous on `torch.load`, or None."""
    parts = name.split(".")
    if any(part in _DENIED_NAMES for part in parts):
        return "run code"
    # A dotted name (protocol 4) walks attributes: `posixpath.os.system`, `imaplib.subprocess.Popen`.
    for depth in range(1, len(parts)):
        if ".".join(parts[:depth]) in _DENIED_MODULES or parts[depth - 1] in _DENIED_MODULES:
            return "run code"
    pieces = module.split(".")
    for depth in range(1, len(pieces) + 1):
        if ".".join(pieces[:depth]) in _DENIED_MODULES:
            return "run code"
    if module in ("builtins", "__builtin__") and name in _DENIED_BUILTINS:
        return "run code"
    if module == "copyreg" and name not in _COPYREG:
        return "run code"
    return None


def refuse(qualname: str, reason: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"refusing checkpoint: it names {qualname}, which would {reason} when torch.load opens it",
        qualname,
    )


MAX_KEY_DEPTH = 32

_HASHABLE_LEAVES = (
    str,
    int,
    float,
    bool,
    bytes,
    complex,
    type(None),
    type(Ellipsis),
    TorchDType,
    TorchEnum,
    TorchDevice,
    StorageType,
    StorageRef,
    TensorRef,
    OpaqueClass,
    OpaqueObject,
    NumpyDType,
    range,
)


def check_key(key: Any, depth: int = 0) -> Any:
    """A dict key or set member the reader accepts. Hashing a deeply nested tuple recurses in
    C without a guard, so only shallow tuples of plain values are let through."""
    if type(key) is str or isinstance(key, _HASHABLE_LEAVES):
        return key
    if isinstance(key, frozenset):  # its members were checked when it was built
        return key
    if isinstance(key, tuple) and depth < MAX_KEY_DEPTH:
        for item in key:
            check_key(item, depth + 1)
        return key
    raise CheckpointError(
        f"corrupt pickle: a {type(key).__name__} used as a dict key or set member"
    )


# --- validation helpers -------------------------------------------------------------------


def _corrupt(what: str) -> CheckpointError:
    return CheckpointError(f"corrupt pickle: {what}")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _corrupt(f"{what} is not an integer")
    return value


def _dims(value: Any, what: str) -> tuple[int, ...]:
    if type(value) is tuple:  # the common case, checked without building anything
        for v in value:
            if type(v) is not int or v < 0 or v > MAX_DIM:
                break
        else:
            return value
    if not isinstance(value, (tuple, list)):
        raise _corrupt(f"{what} is not a tuple")
    dims = tuple(_int(v, what) for v in value)
    if any(d < 0 for d in dims):
        raise _corrupt(f"{what} has a negative entry")
    if any(d > MAX_DIM for d in dims):
        raise _corrupt(f"{what} has an entry beyond what torch can address")
    return dims


def _dtype(value: Any) -> str:
    if isinstance(value, TorchDType):
        return value.name
    raise _corrupt("tensor dtype is not a torch dtype")


def _storage(value: Any) -> StorageRef:
    if isinstance(value, StorageRef):
        return value
    raise _corrupt("tensor storage is not a storage record")


def _device(value: Any) -> str:
    if isinstance(value, TorchDevice):
        return value.name
    if isinstance(value, str):
        return value
    raise _corrupt("device is neither a torch.device nor a string")


# --- torch tensor rebuilders ----------------------------------------------------------------


def _strided(
    storage: Any, offset: Any, size: Any, stride: Any, dtype: str | None = None
) -> TensorRef:
    ref = storage if type(storage) is StorageRef else _storage(storage)
    shape = _dims(size, "tensor size")
    strides = _dims(stride, "tensor stride")
    if len(strides) != len(shape):
        raise _corrupt("tensor size and stride differ in length")
    if type(offset) is not int or offset < 0 or offset > MAX_DIM:
        raise _corrupt("storage offset is not a non-negative integer")
    check_numel(shape, "a tensor")
    return TensorRef(shape, dtype or ref.dtype, ref.location, ref, offset, strides)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> TensorRef:
    """`_rebuild_tensor` / `_rebuild_tensor_v2`: the dtype is the (typed) storage's."""
    return _strided(storage, offset, size, stride, None)


def _rebuild_tensor_v3(
    storage: Any, offset: Any, size: Any, stride: Any, _rg: Any, _hooks: Any, dtype: Any, *_: Any
) -> TensorRef:
    return _strided(storage, offset, size, stride, _dtype(dtype))


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    # A Parameter is its data for a state_dict; requires_grad and hooks do not change shapes.
    return data


def _rebuild_qtensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> TensorRef:
    ref = _strided(storage, offset, size, stride)
    return TensorRef(
        ref.shape, ref.dtype, ref.device, ref.storage, ref.offset, ref.stride, "quantized"
    )


def _rebuild_sparse_tensor(layout: Any, data: Any, *_: Any) -> TensorRef:
    name = layout.name if isinstance(layout, TorchEnum) else "sparse"
    if not isinstance(data, tuple) or len(data) < 3:
        raise _corrupt("sparse tensor record")
    # coo: (indices, values, size[, coalesced]); compressed: (compressed, plain, values, size)
    values, size = (
        (data[1], data[2])
        if name == "sparse_coo"
        else (data[2], data[3] if len(data) > 3 else None)
    )
    if not isinstance(values, TensorRef):
        raise _corrupt("sparse tensor values are not a tensor")
    shape = _dims(size, "sparse tensor size")
    check_numel(shape, "a sparse tensor")
    return TensorRef(shape, values.dtype, values.device, layout=name)


def _rebuild_meta_tensor_no_storage(dtype: Any, size: Any, stride: Any, *_: Any) -> TensorRef:
    shape = _dims(size, "tensor size")
    check_numel(shape, "a tensor")
    return TensorRef(shape, _dtype(dtype), "meta", stride=_dims(stride, "stride"))


def _rebuild_wrapper_subclass(
    _cls: Any, dtype: Any, size: Any, stride: Any, _offset: Any, _layout: Any, device: Any, *_: Any
) -> TensorRef:
    shape = _dims(size, "tensor size")
    check_numel(shape, "a tensor")
    return TensorRef(shape, _dtype(dtype), _device(device))


def _rebuild_device_tensor(data: Any, dtype: Any, device: Any, *_: Any) -> TensorRef:
    if isinstance(data, TensorRef):
        shape = data.shape
    elif isinstance(data, NumpyArray):
        shape = data.shape
    else:
        raise _corrupt("device tensor data is neither a tensor nor an array")
    return TensorRef(shape, _dtype(dtype), _device(device))


def _rebuild_nested_tensor(*_: Any) -> OpaqueObject:
    # Nested tensors keep their sizes in another tensor's data, which is never read.
    return OpaqueObject("torch.nested.NestedTensor")


def _rebuild_from_type_v2(func: Any, _new_type: Any, args: Any, _state: Any = None) -> Any:
    if not isinstance(args, tuple):
        raise _corrupt("tensor subclass arguments are not a tuple")
    if isinstance(func, SafeGlobal):
        return func.call(*args)
    qualname = func.qualname if isinstance(func, OpaqueClass) else "unknown"
    return OpaqueObject(qualname, args)


def _make_device(kind: Any, index: Any = None) -> TorchDevice:
    if isinstance(kind, TorchDevice):
        return kind
    if not isinstance(kind, str):
        raise _corrupt("torch.device type is not a string")
    return TorchDevice(kind if index is None else f"{kind}:{_int(index, 'device index')}")


def _make_layout(name: Any) -> TorchEnum:
    if not isinstance(name, str):
        raise _corrupt("layout name is not a string")
    if not name.startswith("torch.") or name[6:] not in LAYOUTS:
        raise _corrupt(f"unknown tensor layout {name[:40]!r}")  # torch.load fails on it too
    return TorchEnum("layout", name[6:])


def _torch_tensor_type(*args: Any) -> OpaqueObject:
    return OpaqueObject("torch.Tensor", args)


# --- containers and common data ---------------------------------------------------------


def _pairs(items: Any) -> list[tuple[Any, Any]]:
    if isinstance(items, dict):
        return list(items.items())
    if not isinstance(items, (list, tuple)):
        raise _corrupt("dict contents are not a sequence of pairs")
    pairs = []
    for pair in items:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise _corrupt("dict contents are not pairs")
        pairs.append((pair[0], pair[1]))
    return pairs


def _make_dict(items: Any = None, *_: Any) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    if items is not None and not isinstance(items, (OpaqueClass, OpaqueObject)):
        for key, value in _pairs(items):
            result[check_key(key)] = value
    return result


def _make_record(items: Any = None, *_: Any) -> Record:
    return Record(_make_dict(items))


def _make_sequence(kind: type) -> Callable[..., Any]:
    def build(items: Any = (), *_: Any) -> Any:
        # Not from a string: each non-latin-1 character would become an object of its own.
        if not isinstance(items, (list, tuple, set, frozenset, dict)):
            raise _corrupt(f"{kind.__name__} contents are not a sequence")
        if kind in (set, frozenset):
            return kind(check_key(item) for item in items)
        return kind(items)

    return build


def _make_bytes(kind: type) -> Callable[..., Any]:
    def build(value: Any = b"", encoding: Any = None, *_: Any) -> Any:
        # bytes(int) / bytearray(int) would allocate that many bytes: refuse anything but data.
        if isinstance(value, (bytes, bytearray)):
            return kind(value)
        if isinstance(value, str):
            return kind(_encode(value, encoding or "latin1"))
        if isinstance(value, list) and all(isinstance(v, int) and 0 <= v < 256 for v in value):
            return kind(value)
        raise _corrupt(f"{kind.__name__} built from {type(value).__name__}")

    return build


def _make_scalar(kind: type) -> Callable[..., Any]:
    def build(value: Any = 0, *rest: Any) -> Any:
        if isinstance(value, (int, float, str, bool)) and not rest:
            try:
                return kind(value)
            except ValueError as exc:
                raise _corrupt(f"{kind.__name__}({value!r:.40}) fails") from exc
        return OpaqueObject(f"builtins.{kind.__name__}", (value, *rest))

    return build


def _make_complex(real: Any = 0, imag: Any = 0) -> complex:
    if isinstance(real, (int, float)) and isinstance(imag, (int, float)):
        return complex(real, imag)
    raise _corrupt("complex() of non-numbers")


def _make_slice(*args: Any) -> slice:
    return slice(*args)


def _make_range(*args: Any) -> Any:
    if all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
        return range(*args)
    raise _corrupt("range() of non-integers")


_SAFE_ENCODINGS = frozenset({"latin1", "latin-1", "iso-8859-1", "utf-8", "utf8", "ascii"})


def _encode(value: Any, encoding: Any = "utf-8", *_: Any) -> bytes:
    """`_codecs.encode`, which protocol-2 pickles use for bytes: only plain text codecs."""
    if not isinstance(value, str) or not isinstance(encoding, str):
        raise _corrupt("_codecs.encode of non-text")
    if encoding.lower() not in _SAFE_ENCODINGS:
        raise _corrupt(f"_codecs.encode with codec {encoding!r}")
    try:
        return value.encode(encoding)
    except UnicodeError as exc:
        raise _corrupt("_codecs.encode fails") from exc


def _path(flavour: Any) -> Callable[..., str]:
    def build(*parts: Any) -> str:
        if not all(isinstance(p, str) for p in parts):
            raise _corrupt("path parts are not strings")
        return flavour.join(*parts) if parts else "."

    return build


def _reconstructor(cls: Any, _base: Any = None, state: Any = None) -> Any:
    """`copyreg._reconstructor`: how protocols 0/1 create objects (`object.__new__(cls)`)."""
    obj = instantiate(cls, ())
    if state is not None and isinstance(obj, OpaqueObject):
        obj.args = (state,)
    return obj


def _newobj(cls: Any, *args: Any) -> Any:
    return instantiate(cls, args)


def _newobj_ex(cls: Any, args: Any = (), _kwargs: Any = None) -> Any:
    return instantiate(cls, tuple(args) if isinstance(args, (tuple, list)) else ())


def instantiate(cls: Any, args: tuple[Any, ...]) -> Any:
    """What NEWOBJ (`cls.__new__(cls, *args)`) gives: a known builder's result, else opaque."""
    if isinstance(cls, SafeGlobal):
        return cls.instantiate(args)
    if isinstance(cls, OpaqueClass):
        return OpaqueObject(cls.qualname, args)
    if isinstance(cls, OpaqueObject):
        return OpaqueObject(f"{cls.qualname}()", args)
    raise _corrupt(f"cannot instantiate a {type(cls).__name__}")


# --- datetime and numpy: decoded from the bytes the pickle holds ---------------------------


def _date_bytes(value: Any, size: int, what: str) -> bytes:
    if isinstance(value, str):  # protocol 2 stores them as latin-1 text
        value = value.encode("latin1")
    if not isinstance(value, (bytes, bytearray)) or len(value) < size:
        raise _corrupt(f"{what} state")
    return bytes(value)


def _make_datetime(state: Any, *_: Any) -> Any:
    if not isinstance(state, (bytes, bytearray, str)):
        return OpaqueObject("datetime.datetime", (state,))
    b = _date_bytes(state, 10, "datetime")
    try:
        value = _dt.datetime(
            b[0] * 256 + b[1],
            b[2] & 0x7F,
            b[3],
            b[4],
            b[5],
            b[6],
            (b[7] << 16) | (b[8] << 8) | b[9],
        )
    except ValueError as exc:
        raise _corrupt("datetime state") from exc
    return value.isoformat()


def _make_date(state: Any, *_: Any) -> Any:
    if not isinstance(state, (bytes, bytearray, str)):
        return OpaqueObject("datetime.date", (state,))
    b = _date_bytes(state, 4, "date")
    try:
        return _dt.date(b[0] * 256 + b[1], b[2], b[3]).isoformat()
    except ValueError as exc:
        raise _corrupt("date state") from exc


def _make_time(state: Any, *_: Any) -> Any:
    if not isinstance(state, (bytes, bytearray, str)):
        return OpaqueObject("datetime.time", (state,))
    b = _date_bytes(state, 6, "time")
    try:
        return _dt.time(b[0] & 0x7F, b[1], b[2], (b[3] << 16) | (b[4] << 8) | b[5]).isoformat()
    except ValueError as exc:
        raise _corrupt("time state") from exc


def _make_timedelta(days: Any = 0, seconds: Any = 0, microseconds: Any = 0) -> Any:
    if all(isinstance(v, int) for v in (days, seconds, microseconds)):
        try:
            return _dt.timedelta(days, seconds, microseconds).total_seconds()
        except OverflowError as exc:
            raise _corrupt("timedelta state") from exc
    return OpaqueObject("datetime.timedelta", (days, seconds, microseconds))


def _make_numpy_dtype(code: Any, *_: Any) -> Any:
    if isinstance(code, str):
        return NumpyDType(code)
    return OpaqueObject("numpy.dtype", (code,))


def _numpy_scalar(dtype: Any, data: Any = None, *_: Any) -> Any:
    """A numpy scalar as a Python number, when its dtype is a plain numeric one."""
    if isinstance(dtype, NumpyDType) and isinstance(data, (bytes, bytearray)):
        known = NUMPY_SCALAR.get(dtype.code)
        if known is not None and len(data) == struct.calcsize(known[1]):
            order = ">" if dtype.byteorder == ">" else "<"
            return struct.unpack(order + known[1], data)[0]
    return OpaqueObject("numpy.generic", (dtype,))


def _numpy_reconstruct(*_: Any) -> NumpyArray:
    return NumpyArray()


def _numpy_frombuffer(buf: Any, dtype: Any, shape: Any, *_: Any) -> NumpyArray:
    array = NumpyArray()
    array.shape = _dims(shape, "array shape")
    array.dtype = dtype if isinstance(dtype, NumpyDType) else None
    array.data = bytes(buf) if isinstance(buf, (bytes, bytearray)) else None
    return array


# --- the table ------------------------------------------------------------------------------


def _table() -> dict[str, Any]:
    table: dict[str, Any] = {}

    def add(qualname: str, call: Callable[..., Any], new: Callable[..., Any] | None = None) -> None:
        table[qualname] = SafeGlobal(
            qualname, call, new, torch_allows(qualname), qualname in BUILDABLE, TORCH_ARITY.get(qualname)
        )

    for name in ("OrderedDict", "Counter"):
        add(f"collections.{name}", _make_dict)
    # defaultdict's argument is its factory; the items follow as SETITEMS.
    add("collections.defaultdict", lambda *a: {})
    add("collections.deque", _make_sequence(list))
    for sequence in (set, frozenset, list, tuple):
        add(f"builtins.{sequence.__name__}", _make_sequence(sequence))
    add("builtins.dict", _make_dict)
    add("builtins.bytes", _make_bytes(bytes))
    add("builtins.bytearray", _make_bytes(bytearray))
    for scalar in (int, float, str, bool):
        add(f"builtins.{scalar.__name__}", _make_scalar(scalar))
    add("builtins.complex", _make_complex)
    add("builtins.slice", _make_slice)
    add("builtins.range", _make_range)
    add("builtins.object", lambda *a: OpaqueObject("builtins.object", a))
    table["builtins.Ellipsis"] = Ellipsis
    table["builtins.NotImplemented"] = NotImplemented
    add("copyreg._reconstructor", _reconstructor)
    add("copyreg.__newobj__", _newobj)
    add("copyreg.__newobj_ex__", _newobj_ex)
    add("_codecs.encode", _encode)

    add("argparse.Namespace", lambda *a: Record(), lambda *a: Record())
    add("types.SimpleNamespace", lambda *a: Record(), lambda *a: Record())
    for qualname in (
        "lightning.fabric.utilities.data.AttributeDict",
        "lightning_fabric.utilities.data.AttributeDict",
        "lightning.pytorch.utilities.parsing.AttributeDict",
        "pytorch_lightning.utilities.parsing.AttributeDict",
    ):
        add(qualname, _make_record, lambda *a: Record())
    for module in ("pathlib", "pathlib._local"):
        for name in ("Path", "PosixPath", "PurePath", "PurePosixPath"):
            add(f"{module}.{name}", _path(posixpath))
        for name in ("WindowsPath", "PureWindowsPath"):
            add(f"{module}.{name}", _path(ntpath))

    add("datetime.datetime", _make_datetime)
    add("datetime.date", _make_date)
    add("datetime.time", _make_time)
    add("datetime.timedelta", _make_timedelta)

    add("numpy.dtype", _make_numpy_dtype)
    add("numpy.ndarray", _numpy_reconstruct)
    for core in ("numpy.core", "numpy._core"):
        add(f"{core}.multiarray.scalar", _numpy_scalar)
        add(f"{core}.multiarray._reconstruct", _numpy_reconstruct)
        add(f"{core}.numeric._frombuffer", _numpy_frombuffer)

    _add_torch(table, add)
    return table


def _add_torch(table: dict[str, Any], add: Callable[..., None]) -> None:
    rebuilders: dict[str, Callable[..., Any]] = {
        "_rebuild_tensor": _rebuild_tensor,
        "_rebuild_tensor_v2": _rebuild_tensor,
        "_rebuild_tensor_v3": _rebuild_tensor_v3,
        "_rebuild_parameter": _rebuild_parameter,
        "_rebuild_parameter_with_state": _rebuild_parameter,
        "_rebuild_qtensor": _rebuild_qtensor,
        "_rebuild_sparse_tensor": _rebuild_sparse_tensor,
        "_rebuild_meta_tensor_no_storage": _rebuild_meta_tensor_no_storage,
        "_rebuild_wrapper_subclass": _rebuild_wrapper_subclass,
        "_rebuild_device_tensor_from_numpy": _rebuild_device_tensor,
        "_rebuild_device_tensor_from_cpu_tensor": _rebuild_device_tensor,
        "_rebuild_xla_tensor": _rebuild_device_tensor,
        "_rebuild_mtia_tensor": _rebuild_device_tensor,
        "_rebuild_nested_tensor": _rebuild_nested_tensor,
    }
    for name, fn in rebuilders.items():
        add(f"torch._utils.{name}", fn)
    add("torch._tensor._rebuild_from_type_v2", _rebuild_from_type_v2)
    add("torch._tensor._rebuild_from_type", _rebuild_from_type_v2)
    add("torch.nn.parameter.Parameter", _rebuild_parameter)
    add("torch.nn.parameter.Buffer", _rebuild_parameter)
    add("torch.Tensor", _torch_tensor_type)
    add("torch._tensor.Tensor", _torch_tensor_type)
    add("torch.Size", _make_sequence(tuple))
    add("torch.device", _make_device)
    add("torch.serialization._get_layout", _make_layout)

    from ckptlens.checkpoint.dtypes import ALIASES, ITEMSIZE

    for name in (*ITEMSIZE, *ALIASES):
        table[f"torch.{name}"] = TorchDType(canonical_dtype(name) or name)
    for kind, names in (
        ("layout", LAYOUTS),
        ("memory_format", MEMORY_FORMATS),
        ("qscheme", QSCHEMES),
    ):
        for name in names:
            table[f"torch.{name}"] = TorchEnum(kind, name)
    for cls, dtype in STORAGE_CLASS_DTYPE.items():
        for module in ("torch", "torch.cuda"):
            table[f"{module}.{cls}"] = StorageType(f"{module}.{cls}", dtype)
    for qualname in (
        "torch.storage.UntypedStorage",
        "torch.UntypedStorage",
        "torch.storage._UntypedStorage",
        "torch.cuda.UntypedStorage",
        "torch.ByteStorage.untyped",
    ):
        table[qualname] = StorageType(qualname, "uint8", untyped=True)


_COPYREG = frozenset({"_reconstructor", "__newobj__", "__newobj_ex__"})

KNOWN_GLOBALS: dict[str, Any] = _table()


def resolve_global(module: str, name: str) -> Any:
    """What a GLOBAL / STACK_GLOBAL / INST opcode pushes; raises if the global is refused."""
    qualname = f"{module}.{name}"
    # The allow-list is exact and audited, so it wins over the broader deny rules
    # (`types.SimpleNamespace` is data although `types` is denied).
    known = KNOWN_GLOBALS.get(qualname)
    if known is not None:
        return known
    reason = refusal_reason(module, name)
    if reason is not None:
        raise refuse(qualname, reason)
    return OpaqueClass(qualname)
