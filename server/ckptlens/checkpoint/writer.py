"""Write a checkpoint's state_dict, remapped, as safetensors: without torch, streaming each
tensor's bytes from the source file into the output.

Where each tensor's bytes sit is found the way the reader finds its keys (the restricted
unpickler, `select_state_dict`), plus what the reader does not need: the storage members' data
offsets in a torch zip (stored or deflated), the storage layout after the pickles of a legacy
file, the `data_offsets` of a safetensors header. Memory: a contiguous tensor is copied in
bounded chunks (by `copy_file_range` when the source is stored uncompressed); a strided view is
gathered from the span of storage it covers, so at most one tensor's bytes are held at a time.
"""

from __future__ import annotations

import itertools
import json
import mmap
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckptlens.checkpoint.container import select_state_dict
from ckptlens.checkpoint.dtypes import SAFETENSORS_DTYPE, itemsize
from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.pickled import TensorRef
from ckptlens.checkpoint.torchfile import StorageTable, check_extents

CHUNK = 8 << 20  # bytes copied per step; a multiple of every itemsize
_COMPRESSED_READ = 256 << 10  # deflated bytes read per step
_LENGTH = struct.Struct("<Q")

# torch dtype name -> safetensors code. float4 is left out: safetensors counts its elements in
# nibbles, torch's float4_e2m1fn_x2 in packed bytes.
SAFETENSORS_CODE: dict[str, str] = {
    name: code for code, (name, bits) in SAFETENSORS_DTYPE.items() if bits % 8 == 0
}


class WriteError(CheckpointError):
    """The checkpoint cannot be written as asked. `str(err)` is one line meant for the user."""


# --------------------------------------------------------------------------- where bytes sit


@dataclass(frozen=True)
class Extent:
    """A storage's bytes in a file: `size` bytes from `start` (stored), or a deflated zip member
    whose `compressed` bytes start at `start`."""

    file: str
    start: int
    size: int
    compressed: int = -1  # -1: stored as is

    @property
    def deflated(self) -> bool:
        return self.compressed >= 0


@dataclass(frozen=True)
class SourceTensor:
    key: str
    dtype: str
    shape: tuple[int, ...]
    storage: Extent
    offset: int = 0  # in elements of `dtype`
    stride: tuple[int, ...] | None = None  # None: contiguous
    swap: int = 0  # byte-swap unit for a big-endian source (0: none)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * itemsize(self.dtype)

    def alias_key(self) -> tuple[Any, ...]:
        """Equal for two tensors that are the same bytes (tied weights saved once)."""
        return (self.storage, self.offset, self.shape, self.stride or _contiguous(self.shape), self.dtype)


@dataclass
class SourcePlan:
    path: str
    state_dict_path: tuple[str, ...]
    tensors: dict[str, SourceTensor]  # in the file's state_dict order
    files: list[str] = field(default_factory=list)  # every file read, absolute


def plan_source(path: str | os.PathLike[str]) -> SourcePlan:
    """Where each tensor of the checkpoint's state_dict sits (as `read_checkpoint` picks it)."""
    from ckptlens.checkpoint import hf

    p = Path(path)
    try:
        if p.is_dir():
            index = hf._find_index(p)
            if index is None:
                weights = hf._find_weights(p)
                if weights is None:
                    raise CheckpointError(f"{p} is a folder without Hugging Face weights")
                plan = _plan_file(weights)
                plan.path = str(p.absolute())
                return plan
            return _plan_sharded(index)
        if p.name.endswith(".index.json"):
            return _plan_sharded(p)
        if not p.is_file():
            raise CheckpointError(f"no such file or folder: {p}")
        return _plan_file(p)
    except CheckpointError:
        raise
    except OSError as exc:
        raise CheckpointError(f"cannot read {p}: {exc.strerror or exc}") from exc


def _plan_sharded(index_path: Path) -> SourcePlan:
    from ckptlens.checkpoint import hf

    folder = index_path.parent
    weight_map = hf._weight_map(index_path)
    tensors: dict[str, SourceTensor] = {}
    files = [str(index_path.absolute())]
    for name in sorted(set(weight_map.values())):
        shard = _plan_file(hf._shard_path(folder, name, index_path))
        tensors.update(shard.tensors)
        files.extend(shard.files)
    return SourcePlan(str(folder.absolute()), (), tensors, files)


def _plan_file(path: Path) -> SourcePlan:
    absolute = str(path.absolute())
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(9)
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            sd_path, tensors = _plan_zip(fh, size, absolute)
        elif path.suffix == ".safetensors" or _looks_safetensors(head, size):
            sd_path, tensors = (), _plan_safetensors(fh, size, absolute)
        else:
            from ckptlens.checkpoint.legacy import looks_legacy

            if not looks_legacy(head):
                raise CheckpointError(f"not a checkpoint ckptlens can write from: {path}")
            sd_path, tensors = _plan_legacy(fh, size, absolute)
    return SourcePlan(absolute, sd_path, tensors, [absolute])


def _looks_safetensors(head: bytes, size: int) -> bool:
    from ckptlens.checkpoint.safetensors_fmt import looks_safetensors

    return looks_safetensors(head, size)


def _chosen(root: Any) -> tuple[tuple[str, ...], dict[str, TensorRef]]:
    selection = select_state_dict(root)
    if selection.chosen is None:
        raise CheckpointError("the checkpoint holds no tensors")
    check_extents(selection.chosen.tensors)
    return selection.chosen.path, selection.chosen.tensors


def _plan_zip(fh: Any, size: int, file: str) -> tuple[tuple[str, ...], dict[str, SourceTensor]]:
    from ckptlens.checkpoint.torchzip import archive_prefix, read_torch_zip
    from ckptlens.checkpoint.ziparchive import ZipArchive, check_sizes

    decoded = read_torch_zip(fh, size)
    archive = ZipArchive(fh, size)
    prefix = archive_prefix(archive.names)
    swap_big = False
    if prefix + b"byteorder" in archive.entries:
        swap_big = archive.read(prefix + b"byteorder", 16, "byteorder").strip() == b"big"
    sd_path, refs = _chosen(decoded.root)
    extents: dict[str, Extent] = {}
    out: dict[str, SourceTensor] = {}
    for key, ref in refs.items():
        storage = _dense(key, ref)
        extent = extents.get(storage.key)
        if extent is None:
            name = prefix + b"data/" + storage.key.encode()
            entry = archive.entry(name)
            if entry is None:
                raise CheckpointError(f"corrupt torch archive: storage data/{storage.key} is missing")
            what = f"data/{storage.key}"
            check_sizes(entry, 1 << 62, what)
            start = archive._data_start(name, entry, what)
            extent = Extent(file, start, entry.size, -1 if entry.method == 0 else entry.compressed)
            extents[storage.key] = extent
        out[key] = _source_tensor(key, ref, extent, swap_big)
    return sd_path, out


def _plan_legacy(fh: Any, size: int, file: str) -> tuple[tuple[str, ...], dict[str, SourceTensor]]:
    from ckptlens.checkpoint.legacy import MAGIC_NUMBER, STORAGE_HEADER, small_pickle
    from ckptlens.checkpoint.unpickler import Unpickler
    from ckptlens.checkpoint.weights_only import WeightsOnlyAudit

    audit = WeightsOnlyAudit()  # the reader already judged the file; the writer only re-reads it
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        magic, pos = small_pickle(view, 0, "magic number", audit)
        if magic != MAGIC_NUMBER:
            raise CheckpointError("a plain pickle, not a torch.save file")
        _version, pos = small_pickle(view, pos, "protocol version", audit)
        sys_info, pos = small_pickle(view, pos, "sys_info", audit)
        big = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
        table = StorageTable(legacy=True)
        main = Unpickler(view, start=pos, persistent_load=table, name="main pickle", audit=audit)
        root = main.load()
        keys, pos = small_pickle(view, main.pos, "storage key list", audit)
        if table.views:
            raise WriteError("a pre-1.0 legacy file with storage views: re-save it with a recent torch first")
        if not isinstance(keys, list):
            raise CheckpointError("corrupt legacy torch file: the storage key list is malformed")
        extents: dict[str, Extent] = {}
        for key in keys:
            ref = table.storages.get(str(key))
            if ref is None:
                raise CheckpointError(f"corrupt legacy torch file: storage {key} is listed but never used")
            if pos + STORAGE_HEADER + ref.nbytes > size:
                raise CheckpointError("truncated legacy torch file")
            extents[str(key)] = Extent(file, pos + STORAGE_HEADER, ref.nbytes)
            pos += STORAGE_HEADER + ref.nbytes
    sd_path, refs = _chosen(root)
    out: dict[str, SourceTensor] = {}
    for key, tensor in refs.items():
        storage = _dense(key, tensor)
        extent = extents.get(storage.key)
        if extent is None:
            raise CheckpointError(f"corrupt legacy torch file: storage {storage.key} has no data")
        out[key] = _source_tensor(key, tensor, extent, big)
    return sd_path, out


def _dense(key: str, ref: TensorRef) -> Any:
    if ref.layout != "strided" or ref.storage is None:
        raise WriteError(
            f"tensor {key!r} is {ref.layout}, not a dense tensor: safetensors holds dense tensors only"
        )
    return ref.storage


def _source_tensor(key: str, ref: TensorRef, extent: Extent, big: bool) -> SourceTensor:
    stride = tuple(ref.stride) if ref.stride is not None else None
    if stride is not None and stride == _contiguous(ref.shape):
        stride = None
    return SourceTensor(key, ref.dtype, tuple(ref.shape), extent, ref.offset, stride, _swap_unit(ref.dtype) if big else 0)


def _swap_unit(dtype: str) -> int:
    size = itemsize(dtype)
    if dtype.startswith("complex"):
        size //= 2  # torch swaps the real and imaginary parts each
    return size if size > 1 else 0


def _plan_safetensors(fh: Any, size: int, file: str) -> dict[str, SourceTensor]:
    from ckptlens.checkpoint.safetensors_fmt import read_safetensors

    fh.seek(0)
    header = read_safetensors(fh, size)  # validates the header, offsets and sizes
    fh.seek(_LENGTH.size)
    raw = json.loads(_read_exactly(fh, header.header_end - _LENGTH.size))
    out: dict[str, SourceTensor] = {}
    for key, info in header.tensors.items():
        begin, end = raw[key]["data_offsets"]
        extent = Extent(file, header.header_end + begin, end - begin)
        out[key] = SourceTensor(key, info.dtype, tuple(info.shape), extent)
    return out


def _read_exactly(fh: Any, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = fh.read(n)
        if not chunk:
            raise CheckpointError("the file ends early")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride, step = [], 1
    for d in reversed(shape):
        stride.append(step)
        step *= max(d, 1)
    return tuple(reversed(stride))


# --------------------------------------------------------------------------- reading bytes


class _Files:
    """Open source files (read-only fds), shared by the tensors that live in them."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}

    def fd(self, file: str) -> int:
        fd = self.fds.get(file)
        if fd is None:
            fd = self.fds[file] = os.open(file, os.O_RDONLY)
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _pread(fd: int, n: int, pos: int) -> bytes:
    data = os.pread(fd, n, pos)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, pos + got)
        if not more:
            raise CheckpointError("the checkpoint file ends early (truncated while writing?)")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _storage_range(files: _Files, extent: Extent, lo: int, hi: int) -> Iterator[bytes | memoryview]:
    """Bytes lo..hi of a storage, in chunks of at most CHUNK."""
    if hi > extent.size:
        raise CheckpointError("corrupt checkpoint: a tensor reaches past its storage")
    fd = files.fd(extent.file)
    if not extent.deflated:
        pos = lo
        while pos < hi:
            n = min(CHUNK, hi - pos)
            yield _pread(fd, n, extent.start + pos)
            pos += n
        return
    inflater = zlib.decompressobj(-15)
    cpos, cleft = extent.start, extent.compressed
    tail = b""
    produced = 0
    while produced < hi:
        if not tail:
            if cleft <= 0:
                raise CheckpointError("corrupt zip archive: a storage inflates short")
            tail = _pread(fd, min(_COMPRESSED_READ, cleft), cpos)
            cpos += len(tail)
            cleft -= len(tail)
        try:
            piece = inflater.decompress(tail, CHUNK)
        except zlib.error as exc:
            raise CheckpointError("corrupt zip archive: cannot inflate a storage") from exc
        tail = inflater.unconsumed_tail
        if not piece:
            if inflater.eof:
                raise CheckpointError("corrupt zip archive: a storage inflates short")
            continue
        a, b = max(lo - produced, 0), min(hi - produced, len(piece))
        if a < b:
            yield piece if (a, b) == (0, len(piece)) else memoryview(piece)[a:b]
        produced += len(piece)


def _collapse(shape: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[int, int]]:
    """(size, stride) per dim, size-1 dims dropped and dims that step as one merged."""
    merged: list[tuple[int, int]] = []
    for n, s in zip(shape, stride, strict=False):
        if n == 1:
            continue
        if merged and merged[-1][1] == n * s:
            prev_n, _ = merged.pop()
            merged.append((prev_n * n, s))
        else:
            merged.append((n, s))
    return merged


def tensor_chunks(files: _Files, t: SourceTensor) -> Iterator[bytes | memoryview]:
    """The tensor's bytes in C order, little-endian, in chunks."""
    size = itemsize(t.dtype)
    if t.numel == 0:
        return
    dims = _collapse(t.shape, t.stride or _contiguous(t.shape))
    start = t.offset * size
    if not dims or (len(dims) == 1 and dims[0][1] == 1):
        chunks = _storage_range(files, t.storage, start, start + t.nbytes)
    else:
        chunks = _gather(files, t, dims, size)
    if t.swap:
        chunks = _swapped(chunks, t.swap)
    yield from chunks


def _gather(
    files: _Files, t: SourceTensor, dims: list[tuple[int, int]], size: int
) -> Iterator[bytes | memoryview]:
    """A strided view: read the span of storage it covers, then pick its elements in C order,
    yielded in runs of rows of at most CHUNK bytes."""
    last = sum((n - 1) * s for n, s in dims)
    lo, hi = t.offset * size, (t.offset + last + 1) * size
    span = _read_span(files, t.storage, lo, hi)
    inner_n, inner_s = dims[-1]
    row = inner_n * size
    step = inner_s * size
    ranges = [range(0, n * s, s) for n, s in dims[:-1]]
    rows_per_chunk = max(1, CHUNK // max(row, 1))
    out = bytearray(min(rows_per_chunk * row, t.nbytes))
    o = 0
    for offsets in itertools.product(*ranges):
        at = sum(offsets) * size
        if inner_s == 1:
            out[o : o + row] = span[at : at + row]
        elif inner_s == 0:
            out[o : o + row] = bytes(span[at : at + size]) * inner_n
        else:
            end = at + (inner_n - 1) * step + size
            for j in range(size):
                out[o + j : o + row : size] = span[at + j : end : step]
        o += row
        if o == len(out):
            yield memoryview(out)  # consumed before the generator resumes: the buffer is reused
            o = 0
    if o:
        yield memoryview(out)[:o]


def _read_span(files: _Files, extent: Extent, lo: int, hi: int) -> memoryview:
    if hi > extent.size:
        raise CheckpointError("corrupt checkpoint: a tensor reaches past its storage")
    buffer = bytearray(hi - lo)
    view = memoryview(buffer)
    at = 0
    if not extent.deflated:
        fd = files.fd(extent.file)
        while at < len(buffer):
            n = os.preadv(fd, [view[at:]], extent.start + lo + at)
            if n <= 0:
                raise CheckpointError("the checkpoint file ends early (truncated while writing?)")
            at += n
        return view
    for chunk in _storage_range(files, extent, lo, hi):
        view[at : at + len(chunk)] = chunk
        at += len(chunk)
    return view


def _swapped(chunks: Iterator[bytes | memoryview], unit: int) -> Iterator[bytes | memoryview]:
    rest = b""
    for chunk in chunks:
        data = rest + bytes(chunk) if rest else bytes(chunk)
        cut = len(data) - len(data) % unit
        rest = data[cut:]
        if cut:
            yield _swap(data[:cut], unit)
    if rest:
        raise CheckpointError("corrupt checkpoint: a storage is not a whole number of elements")


def _swap(data: bytes, unit: int) -> bytes:
    out = bytearray(len(data))
    for j in range(unit):
        out[j::unit] = data[unit - 1 - j :: unit]
    return bytes(out)


# --------------------------------------------------------------------------- writing


@dataclass
class WriteResult:
    files: list[str]  # the safetensors file(s) written, absolute
    index_file: str | None  # model.safetensors.index.json when sharded
    tensors: int
    bytes: int  # tensor bytes written
    renamed: int
    dropped: list[str]
    # output key -> the output key it shares its bytes with in the source (tied weights, saved
    # once by torch): safetensors cannot alias, so each is written as its own copy
    shared: dict[str, str] = field(default_factory=dict)
    retied: list[str] = field(default_factory=list)  # keys of `shared` the model re-ties itself

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "index": self.index_file,
            "tensors": self.tensors,
            "bytes": self.bytes,
            "renamed": self.renamed,
            "dropped": self.dropped,
            "shared": self.shared,
            "retied": self.retied,
        }


def parse_size(text: str) -> int:
    """`5GB`, `500MB`, `10KB` (powers of 10, as transformers reads them), `2GiB`, `4096`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", text, re.IGNORECASE)
    if not match or (match.group(3) and not match.group(2)):
        raise WriteError(f"--max-shard-size expects a size like 5GB, 500MB or 2GiB, got {text!r}")
    number, unit, binary = float(match.group(1)), match.group(2).upper(), bool(match.group(3))
    power = "KMGT".index(unit) + 1 if unit else 0
    value = int(number * (1024 if binary else 1000) ** power)
    if value <= 0:
        raise WriteError(f"--max-shard-size must be positive, got {text!r}")
    return value


def write_safetensors(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    mapping: Mapping[str, str] | None = None,
    dropped: list[str] | tuple[str, ...] = (),
    max_shard_size: int | None = None,
    tied: Mapping[str, str] | None = None,
    plan: SourcePlan | None = None,
    metadata: Mapping[str, str] | None = None,
) -> WriteResult:
    """Write the source checkpoint's state_dict as safetensors at `out`: keys renamed by
    `mapping` (checkpoint key -> model key; keys it lacks keep their name), `dropped` left out.
    With `max_shard_size`, shards `NAME-0000i-of-0000n.safetensors` and `NAME.safetensors.
    index.json` beside `out` when the tensors do not fit one file."""
    plan = plan or plan_source(source)
    mapping = mapping or {}
    drop = set(dropped)
    entries: list[tuple[str, SourceTensor]] = []
    taken: dict[str, str] = {}
    for key, t in plan.tensors.items():
        if key in drop:
            continue
        new = mapping.get(key, key)
        if new in taken:
            raise WriteError(f"the mapping sends both {taken[new]!r} and {key!r} to {new!r}")
        taken[new] = key
        if t.dtype not in SAFETENSORS_CODE:
            raise WriteError(f"tensor {key!r} is {t.dtype}, which safetensors cannot hold")
        entries.append((new, t))
    shared = _shared(entries)
    tied = tied or {}
    retied = sorted(k for k, partner in shared.items() if tied.get(k) == partner or tied.get(partner) == k)
    out_path = Path(out).absolute()
    groups = _shards(entries, max_shard_size)
    targets = _targets(out_path, len(groups))
    _refuse_overwrite(plan, [*targets, out_path.with_name(_index_name(out_path))] if len(groups) > 1 else targets)
    meta = {
        "format": "pt",
        "ckptlens.source": plan.path,
        "ckptlens.state_dict_path": json.dumps(list(plan.state_dict_path)),
        "ckptlens.mapping": json.dumps({k: v for k, v in mapping.items() if k != v and k not in drop}),
        "ckptlens.dropped": json.dumps([k for k in plan.tensors if k in drop]),
        **({"ckptlens.shared": json.dumps(shared)} if shared else {}),
        **(metadata or {}),
    }
    files = _Files()
    temps: list[Path] = []
    try:
        for group, target in zip(groups, targets, strict=True):
            temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            temps.append(temp)
            _write_file(files, temp, group, meta)
        index_file = None
        if len(groups) > 1:
            index_path = out_path.with_name(_index_name(out_path))
            weight_map = {k: target.name for group, target in zip(groups, targets, strict=True) for k, _ in group}
            total = sum(t.nbytes for _, t in entries)
            temp = index_path.with_name(f".{index_path.name}.{os.getpid()}.tmp")
            temps.append(temp)
            body = {"metadata": {"total_size": total, **meta}, "weight_map": weight_map}
            temp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
            targets_all = [*targets, index_path]
            index_file = str(index_path)
        else:
            targets_all = list(targets)
        for temp, target in zip(temps, targets_all, strict=True):
            os.replace(temp, target)
        temps = []
    finally:
        files.close()
        for temp in temps:
            try:
                temp.unlink()
            except FileNotFoundError:
                pass
    return WriteResult(
        files=[str(t) for t in targets],
        index_file=index_file,
        tensors=len(entries),
        bytes=sum(t.nbytes for _, t in entries),
        renamed=sum(1 for k in plan.tensors if k not in drop and mapping.get(k, k) != k),
        dropped=[k for k in plan.tensors if k in drop],
        shared=shared,
        retied=retied,
    )


def _shared(entries: list[tuple[str, SourceTensor]]) -> dict[str, str]:
    first: dict[tuple[Any, ...], str] = {}
    shared: dict[str, str] = {}
    for key, t in entries:
        alias = t.alias_key()
        if alias in first:
            shared[key] = first[alias]
        else:
            first[alias] = key
    return shared


def _shards(
    entries: list[tuple[str, SourceTensor]], max_size: int | None
) -> list[list[tuple[str, SourceTensor]]]:
    if max_size is None:
        return [entries]
    groups: list[list[tuple[str, SourceTensor]]] = [[]]
    size = 0
    for key, t in entries:
        if groups[-1] and size + t.nbytes > max_size:
            groups.append([])
            size = 0
        groups[-1].append((key, t))
        size += t.nbytes
    return groups


def _targets(out: Path, count: int) -> list[Path]:
    if count == 1:
        return [out]
    stem = out.name.removesuffix(".safetensors")
    return [out.with_name(f"{stem}-{i:05d}-of-{count:05d}.safetensors") for i in range(1, count + 1)]


def _index_name(out: Path) -> str:
    return out.name.removesuffix(".safetensors") + ".safetensors.index.json"


def _refuse_overwrite(plan: SourcePlan, targets: list[Path]) -> None:
    sources = {os.path.realpath(f) for f in plan.files} | {os.path.realpath(plan.path)}
    for target in targets:
        if target.is_dir():
            raise WriteError(f"cannot write {target}: it is a folder")
        if os.path.realpath(target) in sources:
            raise WriteError(f"refusing to overwrite the source checkpoint {target}: write elsewhere")
        if not target.parent.is_dir():
            raise WriteError(f"cannot write {target}: no such folder {target.parent}")


def _header(group: list[tuple[str, SourceTensor]], meta: Mapping[str, str]) -> tuple[bytes, list[tuple[str, SourceTensor]]]:
    # largest itemsize first (stable), so that every tensor starts aligned to its element size
    ordered = sorted(group, key=lambda item: -itemsize(item[1].dtype))
    header: dict[str, Any] = {"__metadata__": dict(meta)}
    offset = 0
    for key, t in ordered:
        header[key] = {
            "dtype": SAFETENSORS_CODE[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return _LENGTH.pack(len(raw)) + raw, ordered


def _write_file(
    files: _Files, temp: Path, group: list[tuple[str, SourceTensor]], meta: Mapping[str, str]
) -> None:
    header, ordered = _header(group, meta)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, header)
        pos = len(header)
        for key, t in ordered:
            written = _copy_tensor(files, fd, pos, t)
            if written != t.nbytes:
                raise CheckpointError(f"tensor {key!r}: read {written:,} bytes, expected {t.nbytes:,}")
            pos += written
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


_copy_file_range: Callable[..., int] | None = getattr(os, "copy_file_range", None)


def _copy_tensor(files: _Files, fd: int, pos: int, t: SourceTensor) -> int:
    """Append the tensor's bytes at `pos` of the output; returns how many were written."""
    global _copy_file_range
    simple = (
        t.stride is None and not t.swap and not t.storage.deflated and _copy_file_range is not None and t.nbytes
    )
    if simple:
        src = files.fd(t.storage.file)
        start = t.storage.start + t.offset * itemsize(t.dtype)
        if t.offset * itemsize(t.dtype) + t.nbytes > t.storage.size:
            raise CheckpointError(f"corrupt checkpoint: tensor {t.key!r} reaches past its storage")
        done = 0
        try:
            while done < t.nbytes:
                assert _copy_file_range is not None
                n = _copy_file_range(src, fd, t.nbytes - done, start + done, pos + done)
                if n <= 0:
                    raise CheckpointError("the checkpoint file ends early (truncated while writing?)")
                done += n
            return done
        except OSError:  # a file system or kernel without it: copy through user space
            if done:
                raise
            _copy_file_range = None
    os.lseek(fd, pos, os.SEEK_SET)
    written = 0
    for chunk in tensor_chunks(files, t):
        _write_all(fd, chunk)
        written += len(chunk)
    return written
