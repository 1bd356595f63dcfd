"""`.safetensors`: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.

Only the length and the header are read (from an unbuffered file, so not a byte more), and the
length is checked against the file size first: a length that lies is an error, not a huge read.
What the safetensors library refuses is refused here too: unknown dtypes, non-string metadata,
gaps or bytes left over in the data section, element counts torch cannot address.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import IO, Any

from ckptlens.checkpoint.dtypes import SAFETENSORS_DTYPE, check_numel
from ckptlens.checkpoint.index import CheckpointError, LimitExceeded, TensorInfo

# The safetensors library allows 100 MB; parsed and reported, a header takes ~25x its size
# in Python objects (inspect reports every tensor). 100,000 tensors with real names need ~10 MB.
MAX_HEADER_BYTES = 10 * 1024 * 1024
_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, TensorInfo]  # in header order, which is the file's data order
    metadata: dict[str, str]
    notes: tuple[str, ...]
    header_end: int  # bytes 0..header_end are all that was read
    file_size: int


def looks_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (length,) = _LENGTH.unpack_from(head)
    return 2 <= length <= size - 8


def read_safetensors(fh: IO[bytes], size: int, head: bytes = b"") -> SafetensorsHeader:
    """The header of the file open (unbuffered) in `fh`, whose first bytes `head` were read."""
    if size < _LENGTH.size:
        raise CheckpointError(f"truncated safetensors file: {size} bytes, not even a header length")
    head += _read_exactly(fh, max(0, _LENGTH.size - len(head)))
    (length,) = _LENGTH.unpack_from(head)
    if length > size - _LENGTH.size:
        raise CheckpointError(
            f"corrupt safetensors file: its header claims {length:,} bytes but only "
            f"{size - _LENGTH.size:,} follow (truncated, or not a safetensors file)"
        )
    if length > MAX_HEADER_BYTES:
        raise LimitExceeded(
            f"safetensors header of {length:,} bytes exceeds the {MAX_HEADER_BYTES >> 20} MiB limit"
        )
    raw = head[_LENGTH.size : _LENGTH.size + length]
    raw += _read_exactly(fh, length - len(raw))
    header = _parse(raw)
    data_size = size - _LENGTH.size - length
    tensors, notes = _tensors(header, data_size)
    metadata = _metadata(header.get("__metadata__"))
    return SafetensorsHeader(tensors, metadata, notes, _LENGTH.size + length, size)


def _read_exactly(fh: Any, n: int) -> bytes:
    chunks = []
    left = n
    while left:
        chunk = fh.read(left)
        if not chunk:
            raise CheckpointError("truncated safetensors file: the header ends early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: 4300+ digits
        raise CheckpointError("corrupt safetensors header: not valid JSON") from exc
    if not isinstance(header, dict):
        raise CheckpointError("corrupt safetensors header: not a JSON object")
    return header


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CheckpointError(
            "corrupt safetensors header: __metadata__ must map names to strings "
            "(the safetensors library refuses it)"
        )
    return dict(value)


def _tensors(
    header: dict[str, Any], data_size: int
) -> tuple[dict[str, TensorInfo], tuple[str, ...]]:
    tensors: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, begin, end = _entry(name, entry)
        known = SAFETENSORS_DTYPE.get(dtype)
        if known is None:
            raise CheckpointError(
                f"corrupt safetensors header: tensor {name!r:.80} has dtype {dtype!r:.40}, "
                "which torch cannot load"
            )
        _check_size(name, shape, known[1], end - begin)
        tensors[name] = TensorInfo(shape, known[0], "cpu")
        spans.append((begin, end, name))
    _check_spans(spans, data_size)
    return tensors, ()


def _entry(name: str, entry: Any) -> tuple[str, tuple[int, ...], int, int]:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"corrupt safetensors header: tensor {name!r:.80} {what}")

    if not isinstance(entry, dict):
        raise bad("is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise bad("has no dtype")
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        raise bad("has a malformed shape")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets):
        raise bad("has malformed data_offsets")
    begin, end = offsets
    if end < begin:
        raise bad("ends before it begins")
    return dtype, tuple(shape), begin, end


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_size(name: str, shape: tuple[int, ...], bits: int, span: int) -> None:
    numel = check_numel(shape, f"tensor {name!r:.80}")
    needed = (numel * bits + 7) // 8
    if needed != span:
        raise CheckpointError(
            f"corrupt safetensors header: tensor {name!r:.80} needs {needed:,} bytes, "
            f"its data_offsets span {span:,}"
        )


def _check_spans(spans: list[tuple[int, int, str]], data_size: int) -> None:
    """Tensors must tile the data section from 0 without gaps or overlaps, as the safetensors
    library demands; one reaching past the end means the file was cut off."""
    cursor = 0
    for begin, end, name in sorted(spans):
        if begin != cursor:
            raise CheckpointError(
                f"corrupt safetensors header: tensor {name!r:.80} starts at byte {begin:,}, expected {cursor:,}"
            )
        cursor = end
    if cursor > data_size:
        raise CheckpointError(
            f"truncated safetensors file: its tensors need {cursor:,} bytes of data, the file holds {data_size:,}"
        )
    if cursor < data_size:
        raise CheckpointError(
            f"corrupt safetensors file: {data_size - cursor:,} bytes after its last tensor "
            "(the safetensors library refuses a data section its tensors do not cover)"
        )
