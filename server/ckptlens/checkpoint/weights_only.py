"""The safety verdict: would `torch.load(weights_only=True)` load this file?

Decided the way torch 2.13's `torch/_weights_only_unpickler.py` decides, by allow-list, never
by deny-list: every global must be on torch's default allow-list (below, copied from
`_get_allowed_globals()`; a test compares it with the installed torch), every opcode one that
unpickler implements, every call / NEWOBJ on an allowed global, BUILD only on an
`OrderedDict`/`Counter`/`Parameter`, APPEND only on a list, SETITEM only on a dict, and
persistent ids only `("storage", ...)` tuples.

* `safe`: nothing outside that; torch's weights_only loader accepts the file as it is.
* `needs-trust`: something outside it (the `globals` not on the allow-list are listed by name,
  each with whether importing its module is known to run code: `import_effect`; other
  departures, such as protocol-4 opcodes, are listed in `reasons`): loading it takes
  `weights_only=False` (or `add_safe_globals`), which runs whatever those globals do.
* `refused`: a global known to run code (policy.py); the reader stops with exit 2.

ckptlens adds no names of its own: plain-data types it can read (`argparse.Namespace`,
`pathlib` paths, numpy scalars, Lightning's `AttributeDict`, ...) stay `needs-trust`, because
`torch.load(weights_only=True)` refuses them until the user registers them.
"""

from __future__ import annotations

from dataclasses import dataclass

SAFE, NEEDS_TRUST, REFUSED = "safe", "needs-trust", "refused"
_RANK = {SAFE: 0, NEEDS_TRUST: 1, REFUSED: 2}

# torch._weights_only_unpickler._get_allowed_globals() of torch 2.13, by qualified name.
TORCH_ALLOWED_GLOBALS = frozenset(
    """
    _codecs.encode builtins.bytearray builtins.complex builtins.set collections.Counter
    collections.OrderedDict torch.BFloat16Storage torch.BFloat16Tensor torch.BoolStorage
    torch.BoolTensor torch.ByteStorage torch.ByteTensor torch.CharStorage torch.CharTensor
    torch.ComplexDoubleStorage torch.ComplexFloatStorage torch.DoubleStorage torch.DoubleTensor
    torch.FloatStorage torch.FloatTensor torch.HalfStorage torch.HalfTensor torch.IntStorage
    torch.IntTensor torch.LongStorage torch.LongTensor torch.QInt32Storage torch.QInt8Storage
    torch.QUInt2x4Storage torch.QUInt4x2Storage torch.QUInt8Storage torch.ShortStorage
    torch.ShortTensor torch.Size torch.Tensor torch._tensor._rebuild_from_type_v2
    torch._utils._rebuild_device_tensor_from_cpu_tensor
    torch._utils._rebuild_device_tensor_from_numpy torch._utils._rebuild_meta_tensor_no_storage
    torch._utils._rebuild_nested_tensor torch._utils._rebuild_parameter
    torch._utils._rebuild_parameter_with_state torch._utils._rebuild_qtensor
    torch._utils._rebuild_sparse_tensor torch._utils._rebuild_tensor torch._utils._rebuild_tensor_v2
    torch._utils._rebuild_tensor_v3 torch._utils._rebuild_wrapper_subclass torch.bfloat16
    torch.bits16 torch.bits1x8 torch.bits2x4 torch.bits4x2 torch.bits8 torch.bool torch.complex128
    torch.complex32 torch.complex64 torch.cuda.BFloat16Storage torch.cuda.BFloat16Tensor
    torch.cuda.BoolStorage torch.cuda.BoolTensor torch.cuda.ByteStorage torch.cuda.ByteTensor
    torch.cuda.CharStorage torch.cuda.CharTensor torch.cuda.ComplexDoubleStorage
    torch.cuda.ComplexFloatStorage torch.cuda.DoubleStorage torch.cuda.DoubleTensor
    torch.cuda.FloatStorage torch.cuda.FloatTensor torch.cuda.HalfStorage torch.cuda.HalfTensor
    torch.cuda.IntStorage torch.cuda.IntTensor torch.cuda.LongStorage torch.cuda.LongTensor
    torch.cuda.ShortStorage torch.cuda.ShortTensor torch.cuda.sparse.BFloat16Tensor
    torch.cuda.sparse.ByteTensor torch.cuda.sparse.CharTensor torch.cuda.sparse.DoubleTensor
    torch.cuda.sparse.FloatTensor torch.cuda.sparse.HalfTensor torch.cuda.sparse.IntTensor
    torch.cuda.sparse.LongTensor torch.cuda.sparse.ShortTensor torch.device torch.float16
    torch.float32 torch.float4_e2m1fn_x2 torch.float64 torch.float8_e4m3fn torch.float8_e4m3fnuz
    torch.float8_e5m2 torch.float8_e5m2fnuz torch.float8_e8m0fnu torch.int1 torch.int16 torch.int2
    torch.int3 torch.int32 torch.int4 torch.int5 torch.int6 torch.int64 torch.int7 torch.int8
    torch.nn.parameter.Parameter torch.per_channel_affine torch.per_channel_affine_float_qparams
    torch.per_channel_symmetric torch.per_tensor_affine torch.per_tensor_symmetric torch.qint32
    torch.qint8 torch.quint2x4 torch.quint4x2 torch.quint8 torch.serialization._get_layout
    torch.sparse.BFloat16Tensor torch.sparse.ByteTensor torch.sparse.CharTensor
    torch.sparse.DoubleTensor torch.sparse.FloatTensor torch.sparse.HalfTensor
    torch.sparse.IntTensor torch.sparse.LongTensor torch.sparse.ShortTensor
    torch.storage.TypedStorage torch.storage.UntypedStorage torch.uint1 torch.uint16 torch.uint2
    torch.uint3 torch.uint32 torch.uint4 torch.uint5 torch.uint6 torch.uint64 torch.uint7
    torch.uint8
    """.split()
)
# The allowed globals that are classes: NEWOBJ (`cls.__new__(cls, *args)`) fails on the rest.
TORCH_ALLOWED_CLASSES = frozenset(
    name
    for name in TORCH_ALLOWED_GLOBALS
    if name.endswith("Tensor")
    or name
    in {
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "collections.OrderedDict",
        "collections.Counter",
        "torch.nn.parameter.Parameter",
        "torch.Size",
        "torch.device",
        "builtins.bytearray",
        "builtins.set",
        "builtins.complex",
    }
)
# Positional arguments torch 2.13's allowed functions take (min, max): torch.load fails on
# any other count, so such a pickle is corrupt, not safe.
TORCH_ARITY = {
    "torch.serialization._get_layout": (1, 1),
    "torch._utils._rebuild_parameter": (3, 3),
    "torch._utils._rebuild_parameter_with_state": (4, 4),
    "torch._utils._rebuild_meta_tensor_no_storage": (4, 4),
    "torch._utils._rebuild_nested_tensor": (4, 4),
    "torch._utils._rebuild_tensor": (4, 4),
    "torch._utils._rebuild_tensor_v2": (6, 7),
    "torch._utils._rebuild_tensor_v3": (7, 8),
    "torch._utils._rebuild_wrapper_subclass": (8, 8),
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": (4, 4),
    "torch._utils._rebuild_device_tensor_from_numpy": (4, 4),
    "torch._utils._rebuild_qtensor": (7, 7),
    "torch._utils._rebuild_sparse_tensor": (2, 2),
    "torch._tensor._rebuild_from_type_v2": (4, 4),
}
# Modules torch refuses even when the user allow-lists one of their names.
TORCH_BLOCKED_MODULES = frozenset({"sys", "os", "posix", "nt"})
# Globals whose results a BUILD may update (OrderedDict's `_metadata`, a Parameter's state).
BUILDABLE = frozenset(
    {
        "collections.OrderedDict",
        "collections.Counter",
        "torch.nn.parameter.Parameter",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
    }
)

# torch._utils.IMPORT_MAPPING / NAME_MAPPING: applied to every GLOBAL, whatever the protocol.
TORCH_IMPORT_MAPPING = {
    "__builtin__": "builtins",
    "copy_reg": "copyreg",
    "Queue": "queue",
    "repr": "reprlib",
    "_abcoll": "collections.abc",
    "UserDict": "collections",
    "UserList": "collections",
    "UserString": "collections",
    "whichdb": "dbm",
    "StringIO": "io",
    "cStringIO": "io",
}
TORCH_NAME_MAPPING = {
    ("__builtin__", "xrange"): ("builtins", "range"),
    ("__builtin__", "reduce"): ("functools", "reduce"),
    ("__builtin__", "intern"): ("sys", "intern"),
    ("__builtin__", "unichr"): ("builtins", "chr"),
    ("__builtin__", "unicode"): ("builtins", "str"),
    ("__builtin__", "long"): ("builtins", "int"),
    ("itertools", "izip"): ("builtins", "zip"),
    ("itertools", "imap"): ("builtins", "map"),
    ("itertools", "ifilter"): ("builtins", "filter"),
    ("itertools", "ifilterfalse"): ("itertools", "filterfalse"),
    ("itertools", "izip_longest"): ("itertools", "zip_longest"),
    ("UserDict", "IterableUserDict"): ("collections", "UserDict"),
    ("UserList", "UserList"): ("collections", "UserList"),
    ("UserString", "UserString"): ("collections", "UserString"),
    ("__builtin__", "basestring"): ("builtins", "str"),
    ("exceptions", "StandardError"): ("builtins", "Exception"),
    ("UserDict", "UserDict"): ("collections", "UserDict"),
}

# The opcodes torch's weights_only Unpickler implements (protocol 2, as torch.save writes).
_TORCH_OPCODES = b"(.GJKMNQRXabehjqrstu})]\x80\x81\x85\x86\x87\x88\x89\x8a\x8fUc"
TORCH_OPCODE_TABLE = tuple(i in _TORCH_OPCODES for i in range(256))

OPCODE_NAMES = {
    0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT",
    0x49: "INT", 0x4A: "BININT", 0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE",
    0x50: "PERSID", 0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING",
    0x55: "SHORT_BINSTRING", 0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD",
    0x63: "GLOBAL", 0x64: "DICT", 0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET",
    0x68: "BINGET", 0x69: "INST", 0x6A: "LONG_BINGET", 0x6C: "LIST", 0x5D: "EMPTY_LIST",
    0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT", 0x73: "SETITEM",
    0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT", 0x80: "PROTO",
    0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
    0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8A: "LONG1", 0x8B: "LONG4",
    0x42: "BINBYTES", 0x43: "SHORT_BINBYTES", 0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8",
    0x8E: "BINBYTES8", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
    0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
    0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}  # fmt: skip

MAX_REASONS = 16

# What importing the module of a global outside the allow-list does (`torch.load(...,
# weights_only=False)` imports it before anything else). Only what is known is said; every
# module not listed here is `unknown`, never guessed.
IMPORT_NONE, IMPORT_RUNS_CODE, IMPORT_UNKNOWN = "none", "runs-code", "unknown"
# Standard-library modules whose import only defines names (no I/O, no process, no state
# outside the module): matched exactly (`collections.abc`, not every `collections.*`).
IMPORT_DEFINES_ONLY = frozenset(
    """
    argparse builtins collections collections.abc copyreg dataclasses datetime decimal enum
    fractions functools ipaddress numbers operator pathlib re string types typing
    """.split()
)
# Modules (and their submodules: importing one imports its package first) whose import is
# known to do more than define names.
IMPORT_KNOWN_TO_RUN = {
    "antigravity": "opens a web browser",
    "this": "prints to standard output",
    "__hello__": "prints to standard output",
    "__phello__": "prints to standard output",
    "idlelib.idle": "starts IDLE",
    "turtledemo.__main__": "starts the turtle demo",
    "site": "processes .pth files, whose `import` lines run code",
    "sitecustomize": "is the site's start-up code",
    "usercustomize": "is the user's start-up code",
    "lightning": "runs the package's initialisation (imports torch, configures logging)",
    "pytorch_lightning": "runs the package's initialisation (imports torch, configures logging)",
    "lightning_fabric": "runs the package's initialisation (imports torch, configures logging)",
}


def import_effect(qualname: str) -> str:
    """`none`, `runs-code` or `unknown`: what importing the module of the global `qualname`
    (`module.Name`) is known to do. A protocol-4 dotted name (`posixpath.os.posix_spawn`) has
    no known module boundary; it is matched as written."""
    module = qualname.rsplit(".", 1)[0] if "." in qualname else qualname
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        if ".".join(parts[:end]) in IMPORT_KNOWN_TO_RUN:
            return IMPORT_RUNS_CODE
    return IMPORT_NONE if module in IMPORT_DEFINES_ONLY else IMPORT_UNKNOWN


def import_effects_text(globals_: tuple[str, ...] | list[str], limit: int = 8) -> str:
    """`argparse.Namespace (import runs no code), foo.Bar (unknown)` for text output."""
    words = {
        IMPORT_NONE: "import runs no code",
        IMPORT_RUNS_CODE: "import runs code",
        IMPORT_UNKNOWN: "unknown whether its import runs code",
    }
    shown = [f"{name} ({words[import_effect(name)]})" for name in globals_[:limit]]
    more = len(globals_) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def torch_global_name(module: str, name: str) -> str:
    """The qualified name torch's weights_only unpickler looks up for `GLOBAL module name`."""
    if (module, name) in TORCH_NAME_MAPPING:
        module, name = TORCH_NAME_MAPPING[(module, name)]
    elif module in TORCH_IMPORT_MAPPING:
        module = TORCH_IMPORT_MAPPING[module]
    return f"{module}.{name}"


def torch_allows(qualname: str) -> bool:
    module = qualname.rsplit(".", 1)[0]
    return qualname in TORCH_ALLOWED_GLOBALS and module not in TORCH_BLOCKED_MODULES


@dataclass(frozen=True)
class Safety:
    """The verdict, the globals outside torch's allow-list, and the other departures."""

    verdict: str = SAFE
    globals: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "globals": list(self.globals),
            "reasons": list(self.reasons),
            # added: for each global, whether importing its module is known to run code
            "imports": {name: import_effect(name) for name in self.globals},
        }

    def merged(self, other: Safety) -> Safety:
        """Several files read as one checkpoint (shards): the worst verdict, all the names."""
        verdict = max(self.verdict, other.verdict, key=_RANK.__getitem__)
        names = dict.fromkeys((*self.globals, *other.globals))
        reasons = dict.fromkeys((*self.reasons, *other.reasons))
        return Safety(verdict, tuple(names), tuple(reasons)[:MAX_REASONS])

    def summary(self) -> str:
        """One line for text output and the `unsafe-checkpoint` finding."""
        if self.verdict == SAFE:
            return "safe: torch.load(weights_only=True) loads it"
        parts = []
        if self.globals:
            shown = ", ".join(self.globals[:8])
            more = len(self.globals) - 8
            parts.append(
                f"globals outside torch's weights_only allow-list: {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        parts.extend(self.reasons[:3])
        return (
            f"{self.verdict}: torch.load(weights_only=True) refuses it ("
            + "; ".join(parts)
            + "); weights_only=False would import and run what it names: "
            "load it so only if you trust where it came from"
        )


class WeightsOnlyAudit:
    """Collects, while a pickle is decoded, what torch's weights_only unpickler would refuse.
    One audit may span several pickles (the legacy format has five)."""

    def __init__(self) -> None:
        self.globals: dict[str, None] = {}
        self.reasons: dict[str, None] = {}

    def outside(self, qualname: str) -> None:
        self.globals[qualname] = None

    def reject(self, reason: str) -> None:
        if len(self.reasons) < MAX_REASONS:
            self.reasons[reason] = None

    def opcode(self, op: int, where: str) -> None:
        name = OPCODE_NAMES.get(op, f"0x{op:02x}")
        self.reject(f"{where} uses pickle opcode {name}, which torch's weights_only unpickler lacks")

    def safety(self) -> Safety:
        if not self.globals and not self.reasons:
            return Safety()
        return Safety(NEEDS_TRUST, tuple(self.globals), tuple(self.reasons))
