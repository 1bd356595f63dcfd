"""`read_checkpoint`: detect the format, decode it without tensor data or code execution, find
the state_dict and describe it as a `CheckpointIndex`. Every failure is a `CheckpointError`."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import Any

from ckptlens.checkpoint.container import (
    PlainLimits,
    PlainRenderer,
    entries,
    select_state_dict,
    versions,
)
from ckptlens.checkpoint.files import kind_of, open_regular
from ckptlens.checkpoint.index import (
    CheckpointError,
    CheckpointIndex,
    TensorInfo,
    describe_failure,
)
from ckptlens.checkpoint.legacy import looks_legacy, probe_pickle, read_torch_legacy
from ckptlens.checkpoint.pickled import OpaqueObject, TensorRef
from ckptlens.checkpoint.remote import is_remote, safe_reference
from ckptlens.checkpoint.safetensors_fmt import (
    SafetensorsHeader,
    looks_safetensors,
    read_safetensors,
)
from ckptlens.checkpoint.torchfile import TorchPickle, check_extents
from ckptlens.checkpoint.torchzip import read_torch_zip

_HEAD = 512  # to describe what else the file is (tar's magic sits at byte 257)
_MAX_OPAQUE_NAMED = 8

# Signatures of files people mistake for checkpoints, for a useful refusal.
_OTHER_FORMATS = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x89HDF", "an HDF5 file (Keras/TensorFlow weights?)"),
    (b"GGUF", "a GGUF file (llama.cpp weights)"),
    (b"\x93NUMPY", "a numpy .npy array"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x7fELF", "an executable"),
)


def read_checkpoint(path: str | os.PathLike[str]) -> CheckpointIndex:
    """Index the checkpoint at `path` (a file or a Hugging Face folder)."""
    written = os.fspath(path)
    shown = safe_reference(written) if is_remote(written) else written
    try:
        if is_remote(written):
            from ckptlens.checkpoint.remote.read import read_remote

            return read_remote(written)
        return _read_path(Path(written))
    except CheckpointError:
        raise
    except PermissionError:
        raise CheckpointError(f"cannot read {shown}: permission denied") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {shown}: {exc.strerror or exc}") from exc
    except MemoryError:
        raise CheckpointError(f"cannot read {shown}: it needs more memory than there is") from None
    except RecursionError:
        raise CheckpointError(f"cannot read {shown}: structure nested too deeply") from None
    except Exception as exc:  # a bug of ours must still reach the user as one line, exit 2
        raise CheckpointError(f"cannot read {shown}: {describe_failure(exc)}") from exc


def _read_path(path: Path) -> CheckpointIndex:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"no such file or folder: {path}") from None
    if stat.S_ISDIR(info.st_mode):
        from ckptlens.checkpoint.hf import read_folder

        return read_folder(path, read_file)
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path} is {kind_of(info.st_mode)}, not a checkpoint file")
    if path.name.endswith(".index.json"):
        from ckptlens.checkpoint.hf import read_index_file

        return read_index_file(path, read_file)
    from ckptlens.checkpoint.hf import with_config_beside

    return with_config_beside(read_file(path), path)


def read_file(path: Path) -> CheckpointIndex:
    """One checkpoint file, whatever its extension says."""
    # Unbuffered: a buffered reader would pull 8 KiB ahead, past a small safetensors header.
    with open_regular(path, "checkpoint") as fh:
        info = os.fstat(fh.fileno())
        return read_stream(fh, info.st_size, str(path.absolute()), info.st_mtime_ns, shown=path)


def read_stream(
    fh: Any, size: int, absolute: str, mtime_ns: int = 0, *, shown: Any = None
) -> CheckpointIndex:
    """One checkpoint file open (unbuffered, seekable) in `fh`, `size` bytes long: a local file
    or a remote one read by ranges (`checkpoint.remote.rangefile.RangeFile`)."""
    shown = absolute if shown is None else shown
    if size == 0:
        raise CheckpointError(f"empty file: {shown}")
    head = _read_head(fh, _HEAD)
    # Every format's signature is checked before one is chosen: a file two readers would
    # read differently (torch.load one way, safetensors another) is refused.
    safetensors = looks_safetensors(head, size)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        if safetensors:
            raise _ambiguous("a torch zip archive", "a safetensors file")
        decoded = read_torch_zip(fh, size)
        return _torch_index(absolute, "torch-zip", decoded, size, mtime_ns)
    if _is_tar(head):  # torch.load tries tar before anything else but zip
        raise CheckpointError(
            "a tar-based torch checkpoint (PyTorch < 0.4): load and re-save it with a recent torch"
        )
    if absolute.endswith(".safetensors") or safetensors:
        if probe_pickle(fh, size) != "no":
            raise _ambiguous("a safetensors file", "a pickle torch.load would run")
        fh.seek(len(head))
        return _safetensors_index(absolute, read_safetensors(fh, size, head), mtime_ns)
    if looks_legacy(head) or probe_pickle(fh, size) == "complete":  # a pickle without the magic
        decoded = read_torch_legacy(fh, size)
        return _torch_index(absolute, "torch-legacy", decoded, size, mtime_ns)
    raise CheckpointError(f"not a checkpoint: {shown} is {_describe(head)}")


def _ambiguous(one: str, other: str) -> CheckpointError:
    return CheckpointError(
        f"ambiguous file: it is both {one} and {other}, and torch.load would not read what "
        "the other reader reads: refusing it"
    )


def _is_tar(head: bytes) -> bool:
    """Whether torch.load's tar attempt (`tarfile.open`) would accept the first block."""
    if len(head) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(head[: tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def _read_head(fh: Any, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = fh.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _describe(head: bytes) -> str:
    for magic, what in _OTHER_FORMATS:
        if head.startswith(magic):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text[:-4]):
        return "a text file"
    return "in no known format (not a torch.save archive, a legacy torch file or safetensors)"


def _safetensors_index(path: str, header: SafetensorsHeader, mtime_ns: int) -> CheckpointIndex:
    if not header.tensors:
        raise CheckpointError("the safetensors file holds no tensors")
    return CheckpointIndex(
        path=path,
        format="safetensors",
        state_dict_path=(),
        tensors=header.tensors,
        notes=header.notes,
        size=header.file_size,
        mtime_ns=mtime_ns,
        metadata=header.metadata,
    )  # safe: the safetensors loader runs no code, whatever the header says


def _torch_index(
    path: str, fmt: str, decoded: TorchPickle, size: int, mtime_ns: int
) -> CheckpointIndex:
    root = decoded.root
    selection = select_state_dict(root)
    if selection.chosen is None:
        raise CheckpointError(_no_tensors(root))
    chosen = selection.chosen
    check_extents(chosen.tensors)
    notes = list(decoded.notes)
    if chosen.module is not None:
        where = "/".join(chosen.path) or "the file"
        notes.append(
            f"{where} is a pickled {chosen.module} (a whole nn.Module): its state_dict was "
            "rebuilt from its parameters and buffers"
        )
    if selection.skipped:
        notes.append(f"{selection.skipped} non-tensor value(s) in the state_dict were skipped")
    hyper_parameters = _hyper_parameters(root, notes)
    if decoded.opaque:
        named = ", ".join(decoded.opaque[:_MAX_OPAQUE_NAMED])
        more = len(decoded.opaque) - _MAX_OPAQUE_NAMED
        notes.append(
            f"opaque objects kept by name, never imported: {named}"
            + (f" and {more} more" if more > 0 else "")
        )
    return CheckpointIndex(
        path=path,
        format=fmt,
        state_dict_path=chosen.path,
        tensors={key: TensorInfo(t.shape, t.dtype, t.device) for key, t in chosen.tensors.items()},
        hyper_parameters=hyper_parameters,
        records=_records(root, chosen.path),
        entries=entries(root),
        alternatives=tuple(c.path for c in selection.alternatives),
        versions=versions(root),
        notes=tuple(notes),
        size=size,
        mtime_ns=mtime_ns,
        safety=decoded.safety,
    )


def _records(root: Any, state_dict_path: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Top-level entries that are small dicts of plain data (`args`, `config`, `model_args`, ...):
    the training script's record of how the model was built, usable as constructor arguments."""
    if not isinstance(root, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, value in root.items():
        if not isinstance(key, str) or key == "hyper_parameters" or (state_dict_path and key == state_dict_path[0]):
            continue
        if not isinstance(value, (dict, OpaqueObject)):
            continue
        renderer = PlainRenderer(PlainLimits(max_depth=4, max_nodes=2_000))
        rendered = renderer.render(value)
        if isinstance(rendered, dict) and rendered and not renderer.truncated and all(isinstance(k, str) for k in rendered):
            out[key] = rendered
    return out


def _hyper_parameters(root: Any, notes: list[str]) -> dict[str, Any] | None:
    if not isinstance(root, dict) or "hyper_parameters" not in root:
        return None
    renderer = PlainRenderer()
    value = renderer.render(root["hyper_parameters"])
    if renderer.truncated:
        notes.append("hyper_parameters were cut short (too large or too deep to show in full)")
    if isinstance(value, dict):
        return value
    notes.append(f"hyper_parameters is not a dict but {_kind(root['hyper_parameters'])}")
    return None


def _no_tensors(root: Any) -> str:
    if isinstance(root, dict):
        keys = ", ".join(str(k)[:40] for k in list(root)[:8])
        return f"the checkpoint holds no tensors (a dict with entries: {keys or 'none'})"
    return f"the checkpoint holds no tensors (its top-level object is {_kind(root)})"


def _kind(obj: Any) -> str:
    if isinstance(obj, TensorRef):
        return "a single tensor, not a state_dict"
    if isinstance(obj, OpaqueObject):
        return f"a {obj.qualname}"
    return f"a {type(obj).__name__}"
