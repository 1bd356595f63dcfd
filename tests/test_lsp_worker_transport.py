"""The language server's processes exchange checkpoint indexes as a few flat buffers
(`ckptlens.lsp.worker.pack_index`): the index that arrives is the index that was sent."""

from __future__ import annotations

import pickle
import pickletools
from dataclasses import replace
from pathlib import Path

import torch

from ckptlens.checkpoint import read_checkpoint
from ckptlens.checkpoint.index import TensorInfo
from ckptlens.lsp.worker import PackedIndex, pack_index, unpack_index


def test_a_read_index_round_trips(tmp_path: Path) -> None:
    state = {"a.weight": torch.zeros(3, 4), "b": torch.zeros((), dtype=torch.int64)}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "x.pt")
    index = read_checkpoint(str(tmp_path / "x.pt"))
    packed = pickle.loads(pickle.dumps(pack_index(index)))
    assert isinstance(packed, PackedIndex)
    assert unpack_index(packed) == index


def test_odd_keys_shapes_and_devices_round_trip(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    base = read_checkpoint(str(tmp_path / "w.pt"))
    tensors = {
        "": TensorInfo((), "float32"),
        "nul\x00key": TensorInfo((0, 1), "bfloat16", "cuda:1"),
        "lone \udc80 surrogate": TensorInfo((2**63 - 1,), "uint8", "meta"),
        "ключ.вес": TensorInfo((1,) * 64, "float32", "cuda:1"),
    }
    index = replace(base, tensors=tensors, entries=tuple(tensors))
    assert unpack_index(pickle.loads(pickle.dumps(pack_index(index)))) == index
    # a dim past int64 (the reader refuses those) still travels, as plain ints
    huge = replace(index, tensors={"big": TensorInfo((2**70,), "float32")})
    assert unpack_index(pickle.loads(pickle.dumps(pack_index(huge)))) == huge


def test_what_is_not_an_index_travels_as_it_is() -> None:
    assert pack_index("x.pt: cannot read") == "x.pt: cannot read"
    assert unpack_index("x.pt: cannot read") == "x.pt: cannot read"


def test_packing_makes_unpickling_cheap(tmp_path: Path) -> None:
    """160,000 tensors: the packed form is a handful of objects, not one per tensor."""
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    base = read_checkpoint(str(tmp_path / "w.pt"))
    tensors = {f"t{i}": TensorInfo((1, i), "uint8") for i in range(160_000)}
    index = replace(base, tensors=tensors, entries=tuple(tensors))
    data = pickle.dumps(pack_index(index))
    one = replace(base, tensors={"t0": TensorInfo((1, 0), "uint8")}, entries=("t0",))

    def operations(data: bytes) -> int:
        return sum(1 for _ in pickletools.genops(data))

    # about as many pickle operations as for one tensor (buffers, in frames), where the index
    # itself takes over a million
    assert operations(data) < operations(pickle.dumps(pack_index(one))) + 20
    assert operations(pickle.dumps(index)) > 1_000_000
    assert unpack_index(pickle.loads(data)) == index
