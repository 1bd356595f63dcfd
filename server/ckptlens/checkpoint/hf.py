"""Hugging Face layouts: sharded folders (`*.index.json` + shards) and `from_pretrained` folders
(`config.json` + one weights file). Each shard is read like a single checkpoint file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ckptlens.checkpoint.files import read_regular
from ckptlens.checkpoint.index import (
    CheckpointError,
    CheckpointIndex,
    TensorInfo,
    UnsafeCheckpointError,
)
from ckptlens.checkpoint.weights_only import Safety

ReadFile = Callable[[Path], CheckpointIndex]

# In the order transformers/diffusers/peft prefer them (safetensors first).
INDEX_FILES = (
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "diffusion_pytorch_model.safetensors.index.json",
    "diffusion_pytorch_model.bin.index.json",
)
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
MAX_JSON_BYTES = 32 * 1024 * 1024  # a shard index of 100,000 tensors is ~8 MB
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # config.json of the largest models is a few KB
_SHOWN_MISSING = 3


def read_folder(folder: Path, read_file: ReadFile) -> CheckpointIndex:
    index = _find_index(folder)
    if index is not None:
        return read_index_file(index, read_file)
    weights = _find_weights(folder)
    if weights is None:
        raise CheckpointError(
            f"{folder} is a folder without Hugging Face weights "
            "(no model.safetensors, pytorch_model.bin or *.index.json in it)"
        )
    inner = _read_shard(weights, read_file)
    notes = [f"weights: {weights.name} ({inner.format})"]
    others = [name for name in WEIGHT_FILES if name != weights.name and (folder / name).is_file()]
    if others:
        notes.append(f"also present, not read: {', '.join(others)}")
    config, config_mtime = _config(folder, notes)
    return replace(
        inner,
        path=str(folder.absolute()),
        format="hf-folder",
        config=config,
        versions={**inner.versions, **config_versions(config)},
        notes=(*notes, *inner.notes),
        mtime_ns=max(inner.mtime_ns, config_mtime),
    )


def with_config_beside(index: CheckpointIndex, path: Path) -> CheckpointIndex:
    """A single checkpoint file with a `config.json` in its folder (SPEC section 3, item 4):
    the config it was saved with, as the `from_pretrained` layout keeps it."""
    notes: list[str] = []
    config, config_mtime = _config(path.parent, notes)
    if config is None and not notes:
        return index
    if config is not None:
        notes.insert(0, "config.json beside the file: read")
    return replace(
        index,
        config=config,
        versions={**index.versions, **config_versions(config)},
        notes=(*index.notes, *notes),
        mtime_ns=max(index.mtime_ns, config_mtime),
    )


def read_index_file(index_path: Path, read_file: ReadFile) -> CheckpointIndex:
    folder = index_path.parent
    weight_map = _weight_map(index_path)
    # One read per file, however the index spells it (`a.bin`, `./a.bin`, a symlink to it).
    shards: dict[tuple[int, int], tuple[str, Path]] = {}
    for name in sorted(set(weight_map.values())):
        path = _shard_path(folder, name, index_path)
        info = path.stat()
        shards.setdefault((info.st_dev, info.st_ino), (os.path.normpath(name), path))
    read = [(name, _read_shard(path, read_file)) for name, path in shards.values()]
    notes: list[str] = []
    config, config_mtime = _config(folder, notes)
    return combine_shards(
        str(folder.absolute()),
        index_path.name,
        weight_map,
        read,
        config,
        notes,
        max(index_path.stat().st_mtime_ns, config_mtime),
    )


def combine_shards(
    path: str,
    index_name: str,
    weight_map: dict[str, str],
    shards: list[tuple[str, CheckpointIndex]],
    config: dict[str, Any] | None,
    config_notes: list[str],
    mtime: int,
) -> CheckpointIndex:
    """One index of a sharded checkpoint from its shards' (local or remote)."""
    tensors: dict[str, TensorInfo] = {}
    metadata: dict[str, str] = {}
    notes: list[str] = []
    size = 0
    formats: set[str] = set()
    safety = Safety()
    for name, shard in shards:
        safety = safety.merged(shard.safety)
        formats.add(shard.format)
        size += shard.size
        mtime = max(mtime, shard.mtime_ns)
        metadata = metadata or shard.metadata
        if shard.state_dict_path:
            notes.append(f"shard {name} wraps its tensors under {'/'.join(shard.state_dict_path)}")
        tensors.update(shard.tensors)
    _note_missing(weight_map, tensors, notes)
    notes.extend(config_notes)
    notes.insert(
        0,
        f"weights: {len(shards)} {'/'.join(sorted(formats))} shard(s) listed in {index_name}",
    )
    return CheckpointIndex(
        path=path,
        format="hf-sharded",
        state_dict_path=(),
        tensors=tensors,
        entries=(),
        versions=config_versions(config),
        config=config,
        notes=tuple(notes),
        size=size,
        mtime_ns=mtime,
        metadata=metadata,
        safety=safety,
    )


def _find_index(folder: Path) -> Path | None:
    for name in INDEX_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.glob("*.index.json") if p.is_file())
    return found[0] if found else None


def _find_weights(folder: Path) -> Path | None:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    return found[0] if len(found) == 1 else None


def _read_json(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    return parse_json(read_regular(path, max_bytes, what), what, path.name)


def parse_json(raw: bytes, what: str, name: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{what} {name} is not valid JSON") from exc


def _weight_map(index_path: Path) -> dict[str, str]:
    return weight_map_of(_read_json(index_path, "shard index"), index_path.name)


def weight_map_of(data: Any, index_name: str) -> dict[str, str]:
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise CheckpointError(
            f"shard index {index_name} has no weight_map of key -> file names"
        )
    if not weight_map:
        raise CheckpointError(f"shard index {index_name} lists no tensors")
    return weight_map


def _shard_path(folder: Path, name: str, index_path: Path) -> Path:
    # A weight map naming files outside the folder is corrupt (or hostile): never follow it.
    path = folder / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise CheckpointError(
            f"shard index {index_path.name} names a file outside its folder: {name}"
        )
    if not path.is_file():
        raise CheckpointError(f"shard {name} listed in {index_path.name} is missing")
    return path


def read_shard_named(name: str, read: Callable[[], CheckpointIndex]) -> CheckpointIndex:
    """`read()`, its errors prefixed with the shard's name."""
    try:
        return read()
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f"{name}: {exc}", exc.global_name) from exc
    except CheckpointError as exc:
        raise CheckpointError(f"{name}: {exc}") from exc


def _read_shard(path: Path, read_file: ReadFile) -> CheckpointIndex:
    try:
        return read_file(path)
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f"{path.name}: {exc}", exc.global_name) from exc
    except CheckpointError as exc:
        raise CheckpointError(f"{path.name}: {exc}") from exc


def _note_missing(
    weight_map: dict[str, str], tensors: dict[str, TensorInfo], notes: list[str]
) -> None:
    missing = [key for key in weight_map if key not in tensors]
    if missing:
        shown = ", ".join(missing[:_SHOWN_MISSING])
        notes.append(f"{len(missing)} key(s) of the weight map are in no shard (e.g. {shown})")


def _config(folder: Path, notes: list[str]) -> tuple[dict[str, Any] | None, int]:
    path = folder / "config.json"
    if not path.is_file():
        return None, 0
    try:
        raw = read_regular(path, MAX_CONFIG_BYTES, "config")
    except CheckpointError as exc:
        notes.append(f"{exc}; ignored")
        return None, 0
    data = config_of(raw, notes)
    return data, (os.stat(path).st_mtime_ns if data is not None else 0)


def config_of(raw: bytes, notes: list[str]) -> dict[str, Any] | None:
    """config.json's content, or None with a note saying why it is ignored."""
    try:
        data = parse_json(raw, "config", "config.json")
    except CheckpointError as exc:
        notes.append(f"{exc}; ignored")
        return None
    if not isinstance(data, dict):
        notes.append("config.json is not a JSON object; ignored")
        return None
    return data


def config_versions(config: dict[str, Any] | None) -> dict[str, str]:
    version = config.get("transformers_version") if config else None
    return {"transformers": version} if isinstance(version, str) else {}
