"""Real checkpoints for the reader tests, written by torch / safetensors / Lightning /
transformers into a temporary folder, with the ground truth torch itself reports.

Built once per test process (several test modules share it), never committed."""

from __future__ import annotations

import argparse
import functools
import io
import json
import pathlib
import pickle
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
NEW_DTYPE_KEYS = ("f8", "f8e5", "u16")
# weights_only=True cannot read pickle protocol 4 (FRAME): torch's own limitation.
NEEDS_FULL_UNPICKLER = ("net_proto4.pth", "net_legacy_proto4.pth")


class Net(nn.Module):
    """Linear, conv, batch norm, embedding, tied weights, 0-dim parameter and buffers, a
    bool buffer and a non-persistent one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.emb = nn.Embedding(10, 4)
        self.blocks = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 4))
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight  # tied
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("mask", torch.ones(3, dtype=torch.bool))
        self.register_buffer("steps", torch.tensor(7, dtype=torch.int64))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


class UserConfig:
    """A user's class in hyper-parameters: must stay opaque, never imported."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def dtype_zoo() -> dict[str, torch.Tensor]:
    """Every dtype family, views with storage offsets and transposes, 0-dim tensors."""
    base = torch.arange(12, dtype=torch.float32)
    grid = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    param = nn.Parameter(torch.ones(2, 2))
    param.note = "attribute"  # type: ignore[attr-defined]  # pickled via _rebuild_parameter_with_state
    zoo = {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(2, 5).half(),
        "bf16": torch.randn(4).bfloat16(),
        "f64": grid,
        "i64": torch.arange(5),
        "i32": torch.arange(3, dtype=torch.int32),
        "i16": torch.arange(3, dtype=torch.int16),
        "i8": torch.arange(3, dtype=torch.int8),
        "u8": torch.arange(3, dtype=torch.uint8),
        "u16": torch.zeros(3, dtype=torch.uint16),
        "bool": torch.tensor([True, False]),
        "c64": torch.randn(2, dtype=torch.complex64),
        "f8": torch.zeros(4, dtype=torch.float8_e4m3fn),
        "f8e5": torch.zeros(2, 2, dtype=torch.float8_e5m2),
        "scalar": torch.tensor(3.5),
        "offset_view": base[2:],
        "strided_view": base[1::3],
        "transposed": grid.T,
        "base": base,
        "param_with_state": param,
        "empty": torch.zeros(0, 3),
    }
    return zoo


@dataclass
class Corpus:
    root: Path
    net: Net
    files: dict[str, Path] = field(default_factory=dict)
    # name -> the dict keys torch.load's result must be walked to reach the state_dict
    state_dict_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)


def write(
    corpus: Corpus, name: str, obj: Any, path_in_file: tuple[str, ...] = (), **save: Any
) -> Path:
    path = corpus.root / name
    torch.save(obj, path, **save)
    corpus.files[name] = path
    corpus.state_dict_paths[name] = path_in_file
    return path


def build(root: Path) -> Corpus:
    torch.manual_seed(0)
    net = Net()
    corpus = Corpus(root, net)
    sd = net.state_dict()
    zoo = dtype_zoo()
    write(corpus, "net.pt", sd)
    write(corpus, "net_legacy.pt", sd, _use_new_zipfile_serialization=False)
    write(corpus, "net_proto4.pth", sd, pickle_protocol=4)
    write(
        corpus, "net_legacy_proto4.pth", sd, _use_new_zipfile_serialization=False, pickle_protocol=4
    )
    write(corpus, "zoo.pt", zoo)
    # torch cannot load float8 / uint16 back from the legacy format, so those stay zip-only.
    legacy_zoo = {k: v for k, v in zoo.items() if k not in NEW_DTYPE_KEYS}
    write(corpus, "zoo_legacy.pt", legacy_zoo, _use_new_zipfile_serialization=False)
    write(corpus, "sparse_quant.pt", _exotic())
    _wrapped(corpus, sd)
    write(corpus, "whole_module.pt", net)
    with warnings.catch_warnings():  # torch warns that it cannot save module source
        warnings.simplefilter("ignore")
        write(corpus, "whole_module_legacy.pt", net, _use_new_zipfile_serialization=False)
    _safetensors(corpus, sd, zoo)
    _cuda(corpus, sd)
    _hf_bin_sharded(corpus, sd)
    return corpus


def _exotic() -> dict[str, torch.Tensor]:
    dense = torch.zeros(4, 5)
    dense[1, 2] = 1.0
    with warnings.catch_warnings():  # beta / deprecated, still what old checkpoints hold
        warnings.simplefilter("ignore")
        return {
            "sparse": dense.to_sparse(),
            "csr": dense.to_sparse_csr(),
            "quantized": torch.quantize_per_tensor(torch.randn(3, 2), 0.1, 0, torch.qint8),
            "dense": dense,
        }


def _optimizer_state(net: Net) -> dict[str, Any]:
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net.train()
    out = net.blocks(net.emb(torch.tensor([1, 2]))).sum() + net.scale
    out.backward()
    opt.step()
    return opt.state_dict()


def _wrapped(corpus: Corpus, sd: dict[str, torch.Tensor]) -> None:
    ema = {k: v.clone() for k, v in sd.items()}
    args = argparse.Namespace(lr=0.1, out=pathlib.PurePosixPath("/runs/a"), sizes=(2, 3))
    write(
        corpus,
        "wrapped_state_dict.pth",
        {"state_dict": sd, "optimizer": _optimizer_state(corpus.net), "epoch": 3, "args": args},
        ("state_dict",),
    )
    write(corpus, "wrapped_model.bin", {"model": sd, "step": torch.tensor(10)}, ("model",))
    write(
        corpus,
        "wrapped_model_state_dict.ckpt",
        {"model_state_dict": sd, "epoch": 1},
        ("model_state_dict",),
    )
    write(corpus, "ema_first.pt", {"ema": ema, "model": sd, "epoch": 2}, ("model",))
    write(
        corpus,
        "nested.pt",
        {"model": {"state_dict": sd, "meta": {"v": 1}}},
        ("model", "state_dict"),
    )
    hparams = {
        "hyper_parameters": {
            "width": 4,
            "layers": [2, 2],
            "act": functools.partial(max, 0),
            "cfg": UserConfig(3),
            "dtype": torch.float16,
        },
        "state_dict": sd,
    }
    write(corpus, "opaque_hparams.ckpt", hparams, ("state_dict",))
    write(corpus, "no_tensors.pt", {"epoch": 3, "note": "nothing here"})
    write(corpus, "single_tensor.pt", torch.zeros(3))


def _safetensors(corpus: Corpus, sd: dict[str, torch.Tensor], zoo: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    plain = {k: v.detach().contiguous().clone() for k, v in sd.items() if k != "head.weight"}
    path = corpus.root / "net.safetensors"
    save_file(plain, str(path), metadata={"format": "pt"})
    corpus.files["net.safetensors"] = path
    supported = {k: v.detach().contiguous().clone() for k, v in zoo.items()}
    path = corpus.root / "zoo.safetensors"
    save_file(supported, str(path))
    corpus.files["zoo.safetensors"] = path


def rewrite_zip_pickle(src: Path, dst: Path, transform: Any) -> None:
    """Copy a torch zip archive, passing data.pkl through `transform` (bytes -> bytes)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data.pkl"):
                data = transform(data)
            zout.writestr(info.filename, data)


def to_cuda(pickle_bytes: bytes) -> bytes:
    """Turn the memoized 'cpu' location string into 'cuda:0': the pickle has no offsets, so
    changing a BINUNICODE's length keeps it valid."""
    old = b"X\x03\x00\x00\x00cpu"
    assert old in pickle_bytes
    return pickle_bytes.replace(old, b"X\x06\x00\x00\x00cuda:0")


def _cuda(corpus: Corpus, sd: dict[str, torch.Tensor]) -> None:
    src = corpus.files["net.pt"]
    dst = corpus.root / "cuda.pt"
    rewrite_zip_pickle(src, dst, to_cuda)
    corpus.files["cuda.pt"] = dst
    corpus.state_dict_paths["cuda.pt"] = ()
    legacy = corpus.files["net_legacy.pt"].read_bytes()
    dst = corpus.root / "cuda_legacy.pt"
    dst.write_bytes(to_cuda(legacy))
    corpus.files["cuda_legacy.pt"] = dst
    corpus.state_dict_paths["cuda_legacy.pt"] = ()


def _hf_bin_sharded(corpus: Corpus, sd: dict[str, torch.Tensor]) -> None:
    folder = corpus.root / "hf_bin_sharded"
    folder.mkdir()
    keys = list(sd)
    halves = {
        "pytorch_model-00001-of-00002.bin": keys[: len(keys) // 2],
        "pytorch_model-00002-of-00002.bin": keys[len(keys) // 2 :],
    }
    weight_map = {}
    for shard, shard_keys in halves.items():
        torch.save({k: sd[k].clone() for k in shard_keys}, folder / shard)
        weight_map.update({k: shard for k in shard_keys})
    index = {"metadata": {"total_size": 0}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"model_type": "net", "hidden": 4}))
    corpus.files["hf_bin_sharded"] = folder


def build_hf(root: Path) -> dict[str, Path]:
    """transformers' own save_pretrained: a sharded safetensors folder and a plain one."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model = BertModel(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(root / "hf_sharded", max_shard_size="20KB")
        model.save_pretrained(root / "hf_folder")
    folder = root / "hf_bin_folder"
    folder.mkdir()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    config.to_json_file(folder / "config.json")
    return {
        "hf_sharded": root / "hf_sharded",
        "hf_folder": root / "hf_folder",
        "hf_bin_folder": folder,
    }


def build_lightning(root: Path) -> Path:
    """A real Lightning checkpoint: one training step, ModelCheckpoint, optimizer + scheduler."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(L.LightningModule):
        def __init__(
            self,
            hidden: int = 8,
            lr: float = 0.1,
            layers: tuple[int, ...] = (2, 3),
            out_dir: pathlib.Path = pathlib.Path("/tmp/out"),
            extra: Any = None,
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(
                nn.Linear(4, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, 1)
            )

        def training_step(self, batch: Any, _index: int) -> torch.Tensor:
            x, y = batch
            return ((self.net(x) - y) ** 2).mean()

        def configure_optimizers(self) -> Any:
            opt = torch.optim.AdamW(self.parameters(), lr=self.hparams["lr"])
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}

    data = DataLoader(TensorDataset(torch.randn(8, 4), torch.randn(8, 1)), batch_size=4)
    model = Tiny(extra=argparse.Namespace(a=1, b=[1, 2]))
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=str(root),
        callbacks=[ModelCheckpoint(dirpath=str(root / "lightning"), filename="last")],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, data)
    return root / "lightning" / "last.ckpt"


# --- ground truth ---------------------------------------------------------------------------

SAFE_GLOBALS: list[Any] = [
    argparse.Namespace,
    pathlib.PurePosixPath,
    pathlib.PosixPath,
    functools.partial,
    max,
    UserConfig,
]


def torch_truth(
    path: Path, state_dict_path: tuple[str, ...] = ()
) -> list[tuple[str, tuple[int, ...], str]]:
    """(key, shape, dtype) of the state_dict as torch.load(weights_only=True) sees it."""
    weights_only = path.name not in NEEDS_FULL_UNPICKLER  # files this test wrote itself
    with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation inside torch.load
        obj = torch.load(path, weights_only=weights_only, map_location="cpu")
    for key in state_dict_path:
        obj = obj[key]
    return describe(obj)


def describe(state_dict: Any) -> list[tuple[str, tuple[int, ...], str]]:
    return [
        (key, tuple(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in state_dict.items()
        if isinstance(value, torch.Tensor)
    ]


def safetensors_truth(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    from safetensors.torch import load_file

    return describe(load_file(str(path)))


def index_rows(index: Any) -> list[tuple[str, tuple[int, ...], str]]:
    return [(key, tuple(t.shape), t.dtype) for key, t in index.tensors.items()]


# --- hand-made pickles ------------------------------------------------------------------------


def legacy_file(main_pickle: bytes, keys: list[str] | None = None) -> bytes:
    """A legacy torch file around an arbitrary main pickle."""
    out = io.BytesIO()
    pickle.dump(LEGACY_MAGIC, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump(
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {}}, out, protocol=2
    )
    out.write(main_pickle)
    pickle.dump(keys or [], out, protocol=2)
    return out.getvalue()


def zip_with_pickle(template: Path, dst: Path, pickle_bytes: bytes) -> Path:
    rewrite_zip_pickle(template, dst, lambda _old: pickle_bytes)
    return dst


def safetensors_bytes(header: dict[str, Any], data: bytes, declared: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if declared is None else declared) + raw + data


_CORPUS: dict[str, Any] = {}


def shared_corpus(factory: Any) -> dict[str, Any]:
    """One build per process whichever module asks first (pytest gives each module that
    imports a fixture its own copy, so the cache lives here)."""
    if not _CORPUS:
        root = Path(factory.mktemp("ckpt_corpus"))
        corpus = build(root)
        corpus.files.update(build_hf(root))
        corpus.files["lightning.ckpt"] = build_lightning(root)
        corpus.state_dict_paths["lightning.ckpt"] = ("state_dict",)
        _CORPUS["corpus"] = corpus
    return _CORPUS


# A float32 tensor of shape [4] on storage "0", as torch pickles it (protocol 2 opcodes).
TENSOR_OPS = (
    b"ctorch._utils\n_rebuild_tensor_v2\n"
    b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
    b"K\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR"
)


def crafted_zip(
    dst: Path,
    pickle_bytes: bytes,
    storages: dict[str, int] | None = None,
    compress: int = zipfile.ZIP_STORED,
) -> Path:
    """A torch-style archive around a hand-made data.pkl (storage key -> byte size)."""
    with zipfile.ZipFile(dst, "w", compress, compresslevel=1 if compress else None) as out:
        out.writestr("archive/data.pkl", pickle_bytes)
        out.writestr("archive/version", "3\n")
        for key, size in (storages or {}).items():
            out.writestr(f"archive/data/{key}", bytes(size), zipfile.ZIP_STORED)
    return dst


def state_dict_around(entry: bytes) -> bytes:
    """`{"w": <float tensor [4]>, "hyper_parameters": <entry>}` with `entry` given as opcodes."""
    return (
        b"\x80\x02}(X\x01\x00\x00\x00w"
        + TENSOR_OPS
        + b"X\x10\x00\x00\x00hyper_parameters"
        + entry
        + b"u."
    )
