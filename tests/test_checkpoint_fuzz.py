"""Fuzzing the three readers against the libraries that define the formats, for a fixed
number of examples each:

* plain-data pickles of every protocol: ckptlens's verdict is `safe` exactly when torch's own
  weights_only unpickler loads the bytes;
* mutated `data.pkl` inside a well-formed torch zip, mutated legacy main pickles: the reader
  returns an index or raises `CheckpointError`, never anything else, and says `safe` only
  when `torch.load(weights_only=True)` loads the file;
* mutated safetensors headers: accepted only when the safetensors library loads the file.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ckpt_factory as f
from ckptlens.checkpoint import CheckpointError, read_checkpoint
from ckptlens.checkpoint.torchfile import StorageTable
from ckptlens.checkpoint.unpickler import Unpickler
from ckptlens.checkpoint.weights_only import WeightsOnlyAudit

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI cannot flake
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(1 << 80), 1 << 80)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=1e6)
)
_keys = st.text(max_size=4) | st.integers(-5, 5)
_plain = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner)
    | st.tuples(inner, inner, inner)
    | st.dictionaries(_keys, inner, max_size=4)
    | st.dictionaries(_keys, inner, max_size=3).map(OrderedDict)
    | st.frozensets(_keys, max_size=3)
    | st.sets(_keys, max_size=3)
    | st.binary(max_size=4).map(bytearray),
    max_leaves=12,
)


def _torch_weights_only_unpickles(data: bytes) -> bool:
    from torch import _weights_only_unpickler as wo

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocols other than 2
            wo.Unpickler(io.BytesIO(data), encoding="utf-8").load()
    except Exception:  # noqa: BLE001 - any refusal or failure
        return False
    return True


def _verdict(data: bytes) -> str:
    audit = WeightsOnlyAudit()
    Unpickler(data, audit=audit).load()
    return audit.safety().verdict


@FUZZ
@given(_plain, st.integers(0, 5))
def test_verdict_agrees_with_torchs_unpickler_on_plain_data(value: Any, protocol: int) -> None:
    data = pickle.dumps(value, protocol=protocol)
    assert (_verdict(data) == "safe") == _torch_weights_only_unpickles(data)


def _mutate(raw: bytes, data: st.DataObject) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]), label="kind")
        at = data.draw(st.integers(0, max(len(out) - 1, 0)), label="at")
        if kind == "flip" and out:
            out[at] = data.draw(st.integers(0, 255), label="byte")
        elif kind == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=4), label="bytes")
        elif kind == "delete" and out:
            del out[at]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


def _read(path: Path) -> Any:
    try:
        return read_checkpoint(path)
    except CheckpointError:
        return None


def _torch_loads(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path, weights_only=True, map_location="cpu")
    except Exception:  # noqa: BLE001
        return False
    return True


_STATE_DICT = f.state_dict_around(b"}(X\x02\x00\x00\x00lrG?\xb9\x99\x99\x99\x99\x99\x9au")


@FUZZ
@given(st.data())
def test_mutated_zip_pickles(tmp_path: Path, data: st.DataObject) -> None:
    pickled = _mutate(_STATE_DICT, data)
    path = f.crafted_zip(tmp_path / "fuzz.pt", pickled, {"0": 16})
    index = _read(path)
    if index is not None and index.safety.verdict == "safe":
        assert _torch_loads(path)


@FUZZ
@given(st.data())
def test_mutated_legacy_pickles(tmp_path: Path, data: st.DataObject) -> None:
    main = _mutate(_STATE_DICT, data)
    legacy = f.legacy_file(main, ["0"]) + bytes(8 + 16)
    path = tmp_path / "fuzz_legacy.pt"
    path.write_bytes(legacy)
    index = _read(path)
    if index is not None and index.safety.verdict == "safe":
        assert _torch_loads(path)


@FUZZ
@given(st.data())
def test_mutated_zip_containers(tmp_path: Path, data: st.DataObject) -> None:
    """Mutations anywhere in the archive (directory, local headers, members)."""
    clean = f.crafted_zip(tmp_path / "clean.pt", _STATE_DICT, {"0": 16}).read_bytes()
    mutated = _mutate(clean, data)
    # Tensor bytes are never read (that is the point of the reader): a file whose only damage
    # is in a storage's bytes fails torch.load's CRC check but not ours, by design.
    storage = clean.rindex(bytes(16), 0, clean.index(b"PK\x01\x02"))
    if len(mutated) == len(clean):
        differs = [i for i, (a, b) in enumerate(zip(clean, mutated, strict=True)) if a != b]
        assume(not all(storage <= i < storage + 16 for i in differs))
    path = tmp_path / "fuzz_zip.pt"
    path.write_bytes(mutated)
    index = _read(path)
    if index is not None and index.safety.verdict == "safe":
        assert _torch_loads(path)


_ST_HEADER = (
    b'{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},'
    b'"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}}'
)


@FUZZ
@given(st.data())
def test_mutated_safetensors(tmp_path: Path, data: st.DataObject) -> None:
    import struct

    from safetensors import safe_open

    header = _mutate(_ST_HEADER, data)
    tail = data.draw(st.sampled_from([22, 21, 23, 0]), label="data bytes")
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(tail))
    index = _read(path)
    if index is None:
        return
    with safe_open(str(path), "pt") as st_file:  # the safetensors library agrees
        names = list(st_file.keys())
        shapes = {name: tuple(st_file.get_tensor(name).shape) for name in names}
    assert shapes == {key: t.shape for key, t in index.tensors.items()}


def test_fuzz_targets_are_torch_loadable_unmutated(tmp_path: Path) -> None:
    """The seeds themselves are valid for torch: the properties above are not vacuous."""
    path = f.crafted_zip(tmp_path / "seed.pt", _STATE_DICT, {"0": 16})
    assert read_checkpoint(path).safety.verdict == "safe" and _torch_loads(path)
    root = Unpickler(_STATE_DICT, persistent_load=StorageTable()).load()
    assert root["hyper_parameters"] == {"lr": pytest.approx(0.1)}
