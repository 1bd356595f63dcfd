"""Dtype knowledge as data: names as torch prints them (without "torch."), sizes, and the
spellings other formats use for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ckptlens.checkpoint.index import CheckpointError

# Bytes per element; sub-byte and packed dtypes count their storage unit (torch's
# `element_size()`), so numel * size is what a storage of that dtype holds.
ITEMSIZE: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "complex128": 16,
    "complex64": 8,
    "complex32": 4,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint64": 8,
    "uint32": 4,
    "uint16": 2,
    "uint8": 1,
    "bool": 1,
    "float8_e4m3fn": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2": 1,
    "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1,
    "qint8": 1,
    "quint8": 1,
    "qint32": 4,
    "quint4x2": 1,
    "quint2x4": 1,
    "bits1x8": 1,
    "bits2x4": 1,
    "bits4x2": 1,
    "bits8": 1,
    "bits16": 2,
    # uint1..uint7 / int1..int7 are torch's placeholder sub-byte dtypes, one byte each in storage.
    **{f"uint{n}": 1 for n in range(1, 8)},
    **{f"int{n}": 1 for n in range(1, 8)},
}

# `torch.float` and friends are aliases; a pickle names the canonical spelling (dtype's
# __reduce__ returns its name), but old files and hand-made pickles may use an alias.
ALIASES: dict[str, str] = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "cfloat": "complex64",
    "cdouble": "complex128",
    "chalf": "complex32",
    "long": "int64",
    "int": "int32",
    "short": "int16",
}

# Legacy typed storage classes (`torch.FloatStorage`, ...) carry the dtype in their name.
STORAGE_CLASS_DTYPE: dict[str, str] = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64",
    "QInt8Storage": "qint8",
    "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
}

# safetensors dtype codes -> (torch name, bits per element).
SAFETENSORS_DTYPE: dict[str, tuple[str, int]] = {
    "F64": ("float64", 64),
    "F32": ("float32", 32),
    "F16": ("float16", 16),
    "BF16": ("bfloat16", 16),
    "I64": ("int64", 64),
    "I32": ("int32", 32),
    "I16": ("int16", 16),
    "I8": ("int8", 8),
    "U64": ("uint64", 64),
    "U32": ("uint32", 32),
    "U16": ("uint16", 16),
    "U8": ("uint8", 8),
    "BOOL": ("bool", 8),
    "C64": ("complex64", 64),
    "F8_E4M3": ("float8_e4m3fn", 8),
    "F8_E4M3FNUZ": ("float8_e4m3fnuz", 8),
    "F8_E5M2": ("float8_e5m2", 8),
    "F8_E5M2FNUZ": ("float8_e5m2fnuz", 8),
    "F8_E8M0": ("float8_e8m0fnu", 8),
    "F4": ("float4_e2m1fn_x2", 4),
}

# numpy dtype codes (kind + size) -> (torch-style name, struct format) for decoding scalars.
NUMPY_SCALAR: dict[str, tuple[str, str]] = {
    "f8": ("float64", "d"),
    "f4": ("float32", "f"),
    "f2": ("float16", "e"),
    "i8": ("int64", "q"),
    "i4": ("int32", "i"),
    "i2": ("int16", "h"),
    "i1": ("int8", "b"),
    "u8": ("uint64", "Q"),
    "u4": ("uint32", "I"),
    "u2": ("uint16", "H"),
    "u1": ("uint8", "B"),
    "b1": ("bool", "?"),
}

QSCHEMES = frozenset(
    {
        "per_tensor_affine",
        "per_tensor_symmetric",
        "per_channel_affine",
        "per_channel_symmetric",
        "per_channel_affine_float_qparams",
    }
)

LAYOUTS = frozenset(
    {
        "strided",
        "sparse_coo",
        "sparse_csr",
        "sparse_csc",
        "sparse_bsr",
        "sparse_bsc",
        "_mkldnn",
        "jagged",
    }
)

MEMORY_FORMATS = frozenset(
    {"contiguous_format", "channels_last", "channels_last_3d", "preserve_format"}
)


def canonical_dtype(name: str) -> str | None:
    """torch's name for a dtype global (`float32` for `torch.float`), None if it is no dtype."""
    name = ALIASES.get(name, name)
    return name if name in ITEMSIZE else None


def itemsize(dtype: str) -> int:
    return ITEMSIZE.get(dtype, 1)


MAX_DIM = (1 << 63) - 1  # torch sizes are int64


def check_numel(shape: tuple[int, ...], what: str) -> int:
    """The element count of `shape`, refusing what torch refuses: a dim beyond int64, or a
    product that overflows (torch multiplies in order, so a later zero does not save it).
    Linear in the rank whatever the dims: the product stops growing past 2**64."""
    numel = 1
    for dim in shape:
        if dim > MAX_DIM:
            raise _error()(
                f"{what} has a dimension of about 2**{dim.bit_length() - 1}, "
                "beyond what torch can address"
            )
        numel *= dim
        if numel > 0xFFFFFFFFFFFFFFFF:
            break
    if numel > MAX_DIM:
        raise _error()(
            f"{what} has more elements than torch can address (its shape has {len(shape):,} dims)"
        )
    return numel


def _error() -> type[CheckpointError]:
    """`CheckpointError`, imported on the way to raising it (the size of a predicted model reads
    `itemsize` here without loading the checkpoint index)."""
    from ckptlens.checkpoint.index import CheckpointError

    return CheckpointError
