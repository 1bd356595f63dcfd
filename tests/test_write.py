"""`map --write`: the remapped checkpoint, streamed into safetensors without torch.

For every checkpoint variant of the fixture corpus (test_check_variants) and the reader's
corpus (ckpt_factory: every container, dtype, view, legacy file, whole pickled module, CUDA tag,
sharded folder), `safetensors.torch.load_file` of what was written equals what `torch.load`
returns, remapped, tensor by tensor (`torch.equal`, same dtype), and loads into the model with
exactly the missing keys `map` reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

import ckpt_factory as cf
from ckptlens import api
from ckptlens.checkpoint import read_checkpoint, writer
from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.writer import WriteError, parse_size, plan_source, write_safetensors
from fixture_truth import fixture_path, make
from test_check_variants import (
    VARIANTS,
    CheckpointFactory,
    Variant,
    _assert_loaded_as_mapped,
    _environment,
    _truth,
    checkpoints,  # noqa: F401 - the session fixture
)


def _torch_load(path: Path, state_dict_path: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj: Any = torch.load(path, weights_only=False, map_location="cpu")
    for key in state_dict_path:
        obj = obj[key]
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert sorted(got) == sorted(want)
    for key, tensor in want.items():
        assert got[key].dtype == tensor.dtype, key
        assert got[key].shape == tensor.shape, key
        assert torch.equal(got[key], tensor), key


# ---------------------------------------------------------------- the fixture variants


@pytest.mark.parametrize("v", VARIANTS, ids=[v.id for v in VARIANTS])
def test_written_checkpoint_is_the_remapped_torch_load(
    v: Variant, checkpoints: CheckpointFactory, tmp_path: Path  # noqa: F811
) -> None:
    written = checkpoints.get(v)
    init = v.init if v.init is not None else v.case.init
    result = api.check(fixture_path(v.case.file), v.case.class_name, written.path, init=dict(init))
    m = result.mapping
    out = tmp_path / "fixed.safetensors"
    report = write_safetensors(
        written.path, out, mapping=m.mapping, dropped=m.dropped, tied=result.predicted.tied
    )
    # what torch.load returns, remapped as `map` says
    from_torch = _torch_load(written.path, result.index.state_dict_path)
    dropped = set(m.dropped)
    want = {m.mapping.get(k, k): t for k, t in from_torch.items() if k not in dropped}
    got = load_file(str(out))
    _assert_same(got, want)
    assert report.tensors == len(want)
    assert report.dropped == [k for k in from_torch if k in dropped]
    # metadata: where it came from and how it was remapped
    with safe_open(str(out), "pt") as fh:
        meta = fh.metadata()
    assert meta["format"] == "pt"
    assert meta["ckptlens.source"] == str(written.path.absolute())
    assert json.loads(meta["ckptlens.state_dict_path"]) == list(result.index.state_dict_path)
    assert json.loads(meta["ckptlens.mapping"]) == {
        k: t for k, t in m.mapping.items() if k != t
    }
    assert json.loads(meta["ckptlens.dropped"]) == report.dropped
    # and it loads into the model: strictly, or missing exactly the keys the mapping reports
    truth = _truth(v)
    with _environment(v.source.env if v.source else {}):
        model = make(truth.rel, truth.class_name, truth.init)
    outcome = model.load_state_dict(got, strict=not m.missing)
    _assert_loaded_as_mapped(written, result, model, outcome)


# ---------------------------------------------------------------- the reader's corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> cf.Corpus:
    corpus = cf.build(tmp_path_factory.mktemp("ckptlens-write-corpus"))
    root = corpus.root
    # the same archives with deflated members (torch.load reads them too)
    for name in ("net.pt", "zoo.pt", "wrapped_state_dict.pth"):
        dst = root / f"deflated_{name}"
        with zipfile.ZipFile(corpus.files[name]) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info))
        corpus.files[dst.name] = dst
        corpus.state_dict_paths[dst.name] = corpus.state_dict_paths.get(name, ())
    _big_endian(corpus)
    return corpus


BIG_ENDIAN = {
    "f32": torch.randn(3, 4),
    "f64": torch.randn(5, dtype=torch.float64),
    "i16": torch.arange(-3, 3, dtype=torch.int16),
    "i64": torch.arange(4) * 1_000_000_007,
    "bf16": torch.randn(6).bfloat16(),
    "c64": torch.randn(3, dtype=torch.complex64),
    "u8": torch.arange(5, dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
}


def _big_endian(corpus: cf.Corpus) -> None:
    """As a big-endian machine saves it: byteorder `big` and every storage's elements swapped
    (torch assigns storage keys in the order it pickles them)."""
    src = corpus.root / "le.pt"
    tensors = {k: v.clone() for k, v in BIG_ENDIAN.items()}
    torch.save(tensors, src)
    dtypes = [t.dtype for t in tensors.values()]
    dst = corpus.root / "big_endian.pt"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            folder, _, leaf = info.filename.rpartition("/")
            if leaf == "byteorder":
                data = b"big"
            elif folder.endswith("/data") and leaf.isdigit():
                dtype = dtypes[int(leaf)]
                unit = dtype.itemsize // (2 if dtype.is_complex else 1)
                data = writer._swap(data, unit) if unit > 1 else data
            zout.writestr(info.filename, data)
    corpus.files["big_endian.pt"] = dst
    corpus.state_dict_paths["big_endian.pt"] = ()


def _corpus_truth(corpus: cf.Corpus, name: str) -> dict[str, torch.Tensor]:
    path = corpus.files[name]
    if path.is_dir():
        out: dict[str, torch.Tensor] = {}
        for shard in sorted(path.glob("*.bin")):
            out.update(_torch_load(shard))
        for shard in sorted(path.glob("*.safetensors")):
            out.update(load_file(str(shard)))
        return out
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return _torch_load(path, corpus.state_dict_paths.get(name, ()))


REFUSED = {"sparse_quant.pt": "not a dense tensor", "no_tensors.pt": "holds no tensors", "single_tensor.pt": "holds no tensors"}
CORPUS_NAMES = [
    "net.pt", "net_legacy.pt", "net_proto4.pth", "net_legacy_proto4.pth", "zoo.pt", "zoo_legacy.pt",
    "wrapped_state_dict.pth", "wrapped_model.bin", "wrapped_model_state_dict.ckpt", "ema_first.pt",
    "nested.pt", "opaque_hparams.ckpt", "whole_module.pt", "whole_module_legacy.pt",
    "net.safetensors", "zoo.safetensors", "cuda.pt", "cuda_legacy.pt", "hf_bin_sharded",
    "deflated_net.pt", "deflated_zoo.pt", "deflated_wrapped_state_dict.pth", "big_endian.pt",
]  # fmt: skip


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_corpus_written_as_torch_loads_it(name: str, corpus: cf.Corpus, tmp_path: Path) -> None:
    out = tmp_path / "out.safetensors"
    report = write_safetensors(corpus.files[name], out)
    want = _corpus_truth(corpus, name)
    _assert_same(load_file(str(out)), want)
    assert report.bytes == sum(t.numel() * t.element_size() for t in want.values())
    # the output is itself a checkpoint ckptlens reads, with the same keys, shapes and dtypes
    index = read_checkpoint(str(out))
    assert {k: (tuple(t.shape), t.dtype) for k, t in index.tensors.items()} == {
        k: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for k, t in want.items()
    }


def test_corpus_views_are_gathered(corpus: cf.Corpus) -> None:
    """The zoo's offset, strided and transposed views are read from their storages by stride."""
    plan = plan_source(corpus.files["zoo.pt"])
    assert plan.tensors["strided_view"].stride == (3,)
    assert plan.tensors["transposed"].stride == (1, 3)
    assert plan.tensors["offset_view"].offset == 2
    assert plan.tensors["offset_view"].storage == plan.tensors["base"].storage
    assert plan_source(corpus.files["deflated_zoo.pt"]).tensors["transposed"].storage.deflated


def test_tied_weights_listed(corpus: cf.Corpus, tmp_path: Path) -> None:
    """Net ties head.weight to emb.weight: torch saves one storage; safetensors cannot alias, so
    both are written, the pair is listed, and as re-tied when the model ties them itself."""
    out = tmp_path / "net.safetensors"
    report = write_safetensors(
        corpus.files["net.pt"], out, tied={"head.weight": "emb.weight"}
    )
    assert report.shared == {"head.weight": "emb.weight"}
    assert report.retied == ["head.weight"]
    with safe_open(str(out), "pt") as fh:
        assert json.loads(fh.metadata()["ckptlens.shared"]) == {"head.weight": "emb.weight"}
    again = write_safetensors(corpus.files["net.safetensors"], tmp_path / "again.safetensors")
    assert again.shared == {} and again.retied == []


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_sources(name: str, corpus: cf.Corpus, tmp_path: Path) -> None:
    out = tmp_path / "out.safetensors"
    with pytest.raises(CheckpointError, match=REFUSED[name]):
        write_safetensors(corpus.files[name], out)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return cf.build_hf(tmp_path_factory.mktemp("ckptlens-write-hf"))


@pytest.mark.parametrize("name", ["hf_sharded", "hf_folder", "hf_bin_folder"])
def test_hf_folders(name: str, hf: dict[str, Path], tmp_path: Path) -> None:
    folder = hf[name]
    want: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        want.update(load_file(str(f)))
    for f in sorted(folder.glob("*.bin")):
        want.update(_torch_load(f))
    out = tmp_path / "model.safetensors"
    write_safetensors(folder, out)
    _assert_same(load_file(str(out)), want)


# ---------------------------------------------------------------- shards, safety, memory


def test_sharded_output(corpus: cf.Corpus, tmp_path: Path) -> None:
    want = _corpus_truth(corpus, "zoo.pt")
    out = tmp_path / "model.safetensors"
    report = write_safetensors(corpus.files["zoo.pt"], out, max_shard_size=64)
    assert not out.exists()
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted({*index["weight_map"].values()})
    n = len(shards)
    assert n > 1
    assert shards == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    assert report.files == [str(tmp_path / s) for s in shards]
    assert report.index_file == str(tmp_path / "model.safetensors.index.json")
    assert index["metadata"]["total_size"] == report.bytes
    got: dict[str, torch.Tensor] = {}
    for shard in shards:
        part = load_file(str(tmp_path / shard))
        assert {k for k, s in index["weight_map"].items() if s == shard} == set(part)
        got.update(part)
    _assert_same(got, want)
    # each shard holds at most the limit, unless one tensor alone exceeds it
    for shard in shards:
        part = load_file(str(tmp_path / shard))
        size = sum(t.numel() * t.element_size() for t in part.values())
        assert size <= 64 or len(part) == 1
    # the folder reads back as one sharded checkpoint
    assert set(read_checkpoint(str(tmp_path)).tensors) == set(want)
    # a limit above the total writes one plain file
    single = tmp_path / "single" / "model.safetensors"
    single.parent.mkdir()
    write_safetensors(corpus.files["zoo.pt"], single, max_shard_size=parse_size("5GB"))
    assert sorted(p.name for p in single.parent.iterdir()) == ["model.safetensors"]


def test_parse_size() -> None:
    assert parse_size("5GB") == 5 * 10**9
    assert parse_size("500MB") == 500 * 10**6
    assert parse_size("10KB") == 10_000
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("4096") == 4096
    for bad in ("", "lots", "-3MB", "0", "5iB"):
        with pytest.raises(WriteError):
            parse_size(bad)


def test_refuses_to_overwrite_the_source(corpus: cf.Corpus, tmp_path: Path) -> None:
    src = tmp_path / "net.safetensors"
    src.write_bytes(corpus.files["net.safetensors"].read_bytes())
    before = src.read_bytes()
    with pytest.raises(WriteError, match="refusing to overwrite the source"):
        write_safetensors(src, src)
    link = tmp_path / "link.safetensors"
    link.symlink_to(src)
    with pytest.raises(WriteError, match="refusing to overwrite the source"):
        write_safetensors(src, link)
    # a shard of a sharded source, by the name the output would give it
    folder = tmp_path / "sharded"
    folder.mkdir()
    write_safetensors(corpus.files["zoo.pt"], folder / "model.safetensors", max_shard_size=64)
    shards = sorted(folder.glob("model-*.safetensors"))
    with pytest.raises(WriteError, match="refusing to overwrite the source"):
        write_safetensors(folder, folder / "model.safetensors", max_shard_size=64)
    assert src.read_bytes() == before
    assert sorted(folder.glob("model-*.safetensors")) == shards
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_failure_leaves_no_file(corpus: cf.Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written to a temporary file and renamed: a failure mid-way leaves the old output as it
    was and no temporary file."""
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"previous")
    calls = []

    def failing(files: Any, fd: int, pos: int, t: Any) -> int:
        calls.append(t.key)
        if len(calls) == 3:
            raise CheckpointError("disk on fire")
        return real(files, fd, pos, t)

    real = writer._copy_tensor
    monkeypatch.setattr(writer, "_copy_tensor", failing)
    with pytest.raises(CheckpointError, match="disk on fire"):
        write_safetensors(corpus.files["net.pt"], out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]


@pytest.mark.parametrize("route", ["copy_file_range", "user-space", "deflated", "views"])
def test_holds_at_most_one_tensor(route: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Peak Python allocations while writing 24 tensors of 2 MiB: below one tensor's bytes (plus
    a little for the header) whatever the route the bytes take; a view gathered by strides
    holds the span of storage it covers plus one chunk of its rows."""
    tensor_bytes = 2 << 20
    torch.manual_seed(0)
    state = {f"layer{i}.weight": torch.randn(512, 1024) for i in range(24)}
    if route == "views":
        state = {k: v.T for k, v in state.items()}
    src = tmp_path / "src.pt"
    torch.save(state, src)
    if route == "deflated":
        dst = tmp_path / "deflated.pt"
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info))
        src = dst
    if route == "user-space":
        monkeypatch.setattr(writer, "_copy_file_range", None)
    monkeypatch.setattr(writer, "CHUNK", 1 << 20)
    plan = plan_source(src)  # the pickle's decoding is not the writer's to account for
    out = tmp_path / "out.safetensors"
    tracemalloc.start()
    try:
        write_safetensors(src, out, plan=plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = tensor_bytes + (writer.CHUNK if route == "views" else 0) + (256 << 10)
    assert peak < limit, (route, peak)
    _assert_same(load_file(str(out)), {k: v.contiguous() for k, v in state.items()})


# ---------------------------------------------------------------- the CLI


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


def _variant(vid: str) -> Variant:
    return next(v for v in VARIANTS if v.id == vid)


def test_cli_map_write(checkpoints: CheckpointFactory, tmp_path: Path) -> None:  # noqa: F811
    v = _variant("mlp.MLP/prefix-module+rename-in-nested-dict")
    ckpt = checkpoints.get(v).path
    out = tmp_path / "fixed.safetensors"
    proc = _cli("map", fixture_path(v.case.file), "--class", v.case.class_name, "--checkpoint", ckpt, "--write", out)
    assert proc.returncode == 1, proc.stderr  # the checkpoint as it is still does not fit
    data = json.loads(proc.stdout)
    assert data["written"]["files"] == [str(out)]
    assert data["written"]["tensors"] == len(checkpoints.get(v).tensors)
    # the written file fits the class: check exits 0
    again = _cli("check", fixture_path(v.case.file), "--class", v.case.class_name, "--checkpoint", out)
    assert again.returncode == 0, again.stdout
    text = _cli("map", fixture_path(v.case.file), "--class", v.case.class_name, "--checkpoint", ckpt,
                "--format", "text", "--write", tmp_path / "sharded.safetensors", "--max-shard-size", "1KB")  # fmt: skip
    assert text.returncode == 1
    index = tmp_path / "sharded.safetensors.index.json"
    assert f"wrote {index}" in text.stdout
    assert index.is_file()


def test_cli_map_write_refuses_source(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = make("mlp.py", "MLP", {})
    src = tmp_path / "mlp.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(src))
    before = src.read_bytes()
    proc = _cli("map", fixture_path("mlp.py"), "--class", "MLP", "--checkpoint", src, "--write", src)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().startswith("ckptlens: error: refusing to overwrite the source")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert src.read_bytes() == before
    bad = _cli("map", fixture_path("mlp.py"), "--class", "MLP", "--checkpoint", src, "--write",
               tmp_path / "o.safetensors", "--max-shard-size", "lots")  # fmt: skip
    assert bad.returncode == 2 and "--max-shard-size" in bad.stderr
