"""The checkpoint reader against torch's own view of real checkpoints (ground truth from
torch.load / safetensors), plus container selection, hyper-parameters and error cases."""

from __future__ import annotations

import json
import pickle
import pickletools
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ckpt_factory as f
from ckptlens.checkpoint import CheckpointError, Opaque, read_checkpoint, reader
from ckptlens.checkpoint.unpickler import unpickle


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> f.Corpus:
    return f.shared_corpus(tmp_path_factory)["corpus"]


TORCH_FILES = [
    ("net.pt", "torch-zip"),
    ("net_legacy.pt", "torch-legacy"),
    ("net_proto4.pth", "torch-zip"),
    ("net_legacy_proto4.pth", "torch-legacy"),
    ("zoo.pt", "torch-zip"),
    ("zoo_legacy.pt", "torch-legacy"),
    ("sparse_quant.pt", "torch-zip"),
    ("wrapped_state_dict.pth", "torch-zip"),
    ("wrapped_model.bin", "torch-zip"),
    ("wrapped_model_state_dict.ckpt", "torch-zip"),
    ("ema_first.pt", "torch-zip"),
    ("nested.pt", "torch-zip"),
    ("opaque_hparams.ckpt", "torch-zip"),
    ("lightning.ckpt", "torch-zip"),
    ("cuda.pt", "torch-zip"),
    ("cuda_legacy.pt", "torch-legacy"),
]


@pytest.mark.parametrize(("name", "fmt"), TORCH_FILES)
def test_torch_checkpoints_match_torch_load(corpus: f.Corpus, name: str, fmt: str) -> None:
    path = corpus.files[name]
    index = read_checkpoint(str(path))
    assert index.format == fmt
    assert index.state_dict_path == corpus.state_dict_paths[name]
    assert f.index_rows(index) == f.torch_truth(path, corpus.state_dict_paths[name])
    assert index.path == str(path.absolute())
    assert index.size == path.stat().st_size and index.mtime_ns == path.stat().st_mtime_ns
    if not name.startswith("cuda"):
        assert {t.device for t in index.tensors.values()} == {"cpu"}


@pytest.mark.parametrize("name", ["cuda.pt", "cuda_legacy.pt"])
def test_storage_location_is_the_device(corpus: f.Corpus, name: str) -> None:
    path = corpus.files[name]
    if name == "cuda.pt":
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
        strings = {arg for op, arg, _ in pickletools.genops(raw) if op.name == "BINUNICODE"}
        assert "cuda:0" in strings and "cpu" not in strings  # still a valid pickle, now on cuda
    index = read_checkpoint(path)
    assert {t.device for t in index.tensors.values()} == {"cuda:0"}
    assert f.index_rows(index) == f.torch_truth(path)


def test_dtype_zoo_names_views_and_scalars(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["zoo.pt"])
    dtypes = {key: t.dtype for key, t in index.tensors.items()}
    assert dtypes["f8"] == "float8_e4m3fn" and dtypes["f8e5"] == "float8_e5m2"
    assert (
        dtypes["bf16"] == "bfloat16" and dtypes["u16"] == "uint16" and dtypes["c64"] == "complex64"
    )
    assert index.tensors["offset_view"].shape == (10,)
    assert index.tensors["strided_view"].shape == (4,)
    assert index.tensors["transposed"].shape == (3, 2)
    assert index.tensors["scalar"].shape == ()
    assert index.tensors["empty"].shape == (0, 3)


def test_sparse_and_quantized(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["sparse_quant.pt"])
    assert index.tensors["sparse"].shape == (4, 5)
    assert index.tensors["csr"].shape == (4, 5)
    assert index.tensors["quantized"].dtype == "qint8"


def test_tied_weights_and_buffers(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["net.pt"])
    assert index.tensors["head.weight"] == index.tensors["emb.weight"]
    assert index.tensors["mask"].dtype == "bool"
    assert index.tensors["steps"].shape == () and index.tensors["steps"].dtype == "int64"
    assert "scratch" not in index.tensors  # non-persistent buffer
    assert index.entries == tuple(corpus.net.state_dict())


@pytest.mark.parametrize("name", ["whole_module.pt", "whole_module_legacy.pt"])
def test_whole_pickled_module(corpus: f.Corpus, name: str) -> None:
    index = read_checkpoint(corpus.files[name])
    assert index.state_dict_path == ()
    assert f.index_rows(index) == f.describe(corpus.net.state_dict())
    assert any("ckpt_factory.Net" in note and "nn.Module" in note for note in index.notes)


def test_wrapped_checkpoint_record(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["wrapped_state_dict.pth"])
    assert index.entries == ("state_dict", "optimizer", "epoch", "args")
    assert index.alternatives == ()  # optimizer moments are never a candidate
    assert index.hyper_parameters is None


def test_ema_loses_against_the_model(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["ema_first.pt"])
    assert index.state_dict_path == ("model",)
    assert index.alternatives == (("ema",),)


def test_scalar_counters_are_no_alternative(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["wrapped_model.bin"])
    assert index.state_dict_path == ("model",)
    assert index.alternatives == ()


def test_lightning_record(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["lightning.ckpt"])
    assert index.versions == {"pytorch-lightning": "2.6.6"}
    assert {"epoch", "global_step", "state_dict", "optimizer_states", "hyper_parameters"} <= set(
        index.entries
    )
    assert index.hyper_parameters == {
        "hidden": 8,
        "lr": 0.1,
        "layers": [2, 3],
        "out_dir": "/tmp/out",
        "extra": {"a": 1, "b": [1, 2]},
    }
    assert not any("opaque" in note for note in index.notes)


def test_opaque_hyper_parameters(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["opaque_hparams.ckpt"])
    assert index.hyper_parameters is not None
    assert index.hyper_parameters["act"] == Opaque("functools.partial")
    assert index.hyper_parameters["cfg"] == Opaque("ckpt_factory.UserConfig")
    assert index.hyper_parameters["dtype"] == "torch.float16"
    assert index.hyper_parameters["layers"] == [2, 2]
    note = next(n for n in index.notes if "opaque" in n)
    assert "functools.partial" in note and "ckpt_factory.UserConfig" in note


def test_reading_imports_nothing_it_names(corpus: f.Corpus) -> None:
    """Reading imports no module at all beyond ckptlens' own: not torch, not numpy, not the
    user's module the pickle names (ckpt_factory), not functools."""
    paths = [
        str(corpus.files[n])
        for n in ("opaque_hparams.ckpt", "whole_module.pt", "lightning.ckpt", "zoo_legacy.pt")
    ]
    code = (
        "import sys\nfrom ckptlens.checkpoint.reader import read_checkpoint\n"
        "before = set(sys.modules)\n"
        f"for p in {paths!r}: read_checkpoint(p)\n"
        "print(sorted(m for m in set(sys.modules) - before if not m.startswith('ckptlens')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- safetensors --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["net.safetensors", "zoo.safetensors"])
def test_safetensors_matches_library(corpus: f.Corpus, name: str) -> None:
    path = corpus.files[name]
    index = read_checkpoint(path)
    assert index.format == "safetensors"
    assert f.index_rows(index) == f.safetensors_truth(path)


def test_safetensors_reads_nothing_past_the_header(
    corpus: f.Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = corpus.files["net.safetensors"]
    read_bytes: list[int] = []
    real_open = reader.open_regular

    class Counting:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def read(self, n: int = -1) -> bytes:
            data = self.fh.read(n)
            read_bytes.append(len(data))
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self.fh, name)

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    monkeypatch.setattr(reader, "open_regular", lambda *a, **k: Counting(real_open(*a, **k)))
    index = read_checkpoint(path)
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    # The header, or the 512-byte block torch.load checks for a tar archive if that is longer.
    assert sum(read_bytes) == max(8 + header_len, 512)
    assert index.metadata == {"format": "pt"}


# --- Hugging Face layouts -----------------------------------------------------------------


def _shards_truth(folder: Path, suffix: str) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for shard in sorted(folder.glob(f"*{suffix}")):
        rows += f.safetensors_truth(shard) if suffix == ".safetensors" else f.torch_truth(shard)
    return rows


def test_hf_sharded_safetensors(corpus: f.Corpus) -> None:
    folder = corpus.files["hf_sharded"]
    index = read_checkpoint(folder)
    assert index.format == "hf-sharded"
    assert f.index_rows(index) == _shards_truth(folder, ".safetensors")
    weight_map = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(index.tensors) == set(weight_map)
    assert index.config is not None and index.config["model_type"] == "bert"
    assert index.versions == {"transformers": index.config["transformers_version"]}
    assert index.size == sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert read_checkpoint(folder / "model.safetensors.index.json").tensors == index.tensors


def test_hf_sharded_bin(corpus: f.Corpus) -> None:
    folder = corpus.files["hf_bin_sharded"]
    index = read_checkpoint(folder)
    assert index.format == "hf-sharded"
    assert f.index_rows(index) == _shards_truth(folder, ".bin")
    assert index.config == {"model_type": "net", "hidden": 4}


@pytest.mark.parametrize(
    ("name", "weights"),
    [("hf_folder", "model.safetensors"), ("hf_bin_folder", "pytorch_model.bin")],
)
def test_hf_from_pretrained_folder(corpus: f.Corpus, name: str, weights: str) -> None:
    folder = corpus.files[name]
    index = read_checkpoint(folder)
    assert index.format == "hf-folder"
    truth = (
        f.safetensors_truth(folder / weights)
        if weights.endswith(".safetensors")
        else f.torch_truth(folder / weights)
    )
    assert f.index_rows(index) == truth
    assert index.config is not None and index.config["model_type"] == "bert"
    assert any(weights in note for note in index.notes)


def test_shard_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "../x.safetensors"}})
    )
    with pytest.raises(CheckpointError, match="outside its folder"):
        read_checkpoint(tmp_path)


def test_missing_shard(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "s1.safetensors"}})
    )
    with pytest.raises(CheckpointError, match="s1.safetensors .*missing"):
        read_checkpoint(tmp_path)


# --- errors -----------------------------------------------------------------------------------


def _error(path: Path | str) -> str:
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_missing_path(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nope.pt")


def test_plain_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    assert "without Hugging Face weights" in _error(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "empty file" in _error(tmp_path / "empty.pt")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("model.py", b"import torch\nclass Net: pass\n", "text file"),
        ("notes.txt", "weights \u00e9t\u00e9\n".encode(), "text file"),
        ("pic.ckpt", b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
        ("junk.pt", bytes(range(256)) * 4, "no known format"),
        ("fake.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{}", "corrupt safetensors"),
    ],
)
def test_not_a_checkpoint(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    assert expected in _error(tmp_path / name)


def test_plain_pickle_is_not_torch(tmp_path: Path) -> None:
    (tmp_path / "x.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert "plain pickle" in _error(tmp_path / "x.pkl")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no_tensors.pt", "holds no tensors (a dict with entries: epoch, note)"),
        ("single_tensor.pt", "single tensor"),
    ],
)
def test_no_tensors(corpus: f.Corpus, name: str, expected: str) -> None:
    assert expected in _error(corpus.files[name])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    assert "TorchScript" in _error(path)


def test_permission_denied(corpus: f.Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(args[0]))

    monkeypatch.setattr(os, "open", denied)  # how every user-named file is opened
    for name in ("net.pt", "net.safetensors", "hf_sharded"):
        assert "permission denied" in _error(corpus.files[name])


def test_truncated_files(corpus: f.Corpus, tmp_path: Path) -> None:
    for name, expected in [
        ("net.pt", "zip archive"),
        ("net_legacy.pt", "truncated"),
        ("net.safetensors", "safetensors"),
    ]:
        data = corpus.files[name].read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        assert expected in _error(cut)


def test_storage_member_missing(corpus: f.Corpus, tmp_path: Path) -> None:
    dst = tmp_path / "no_storage.pt"
    with zipfile.ZipFile(corpus.files["net.pt"]) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("/data/0"):
                zout.writestr(info.filename, zin.read(info))
    assert "data/0 is missing" in _error(dst)


def test_view_past_its_storage(corpus: f.Corpus, tmp_path: Path) -> None:
    """A size record larger than the storage: torch.load would fail, so do we."""

    def grow(raw: bytes) -> bytes:
        # conv.weight comes first, [8, 3, 3, 3]: its leading BININT1 8 becomes 99
        size_pos = next(
            pos for op, arg, pos in pickletools.genops(raw) if op.name == "BININT1" and arg == 8
        )
        assert size_pos is not None
        return raw[: size_pos + 1] + b"\x63" + raw[size_pos + 2 :]

    dst = tmp_path / "grown.pt"
    f.rewrite_zip_pickle(corpus.files["net.pt"], dst, grow)
    with pytest.raises(RuntimeError):
        torch.load(dst, weights_only=True)
    assert "needs" in _error(dst)


# --- the pickle machine against CPython's, on plain data --------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**200), 2**200)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
_keys = (
    st.text(max_size=8)
    | st.integers(-1000, 1000)
    | st.tuples(st.integers(0, 9), st.text(max_size=3))
)
_data = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.tuples(inner, inner)
        | st.dictionaries(_keys, inner, max_size=6)
        | st.frozensets(st.integers(0, 50), max_size=5)
        | st.sets(st.text(max_size=4), max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_data, st.integers(0, 5))
def test_unpickler_matches_cpython_on_plain_data(value: Any, protocol: int) -> None:
    data = pickle.dumps(value, protocol=protocol)
    assert unpickle(data) == pickle.loads(data)


def test_unpickler_handles_shared_and_recursive_structures() -> None:
    shared = [1, 2]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for protocol in range(6):
        out = unpickle(pickle.dumps({"a": shared, "b": shared, "c": cyclic}, protocol=protocol))
        assert out["a"] is out["b"] and out["c"][0] is out["c"]
