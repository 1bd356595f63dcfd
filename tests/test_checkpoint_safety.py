"""Hostile checkpoints: code-executing globals are refused by name and never run; bombs,
lies and truncations end in a quick `CheckpointError`, never another exception."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ckpt_factory as f
from ckptlens.checkpoint import CheckpointError, UnsafeCheckpointError, read_checkpoint
from ckptlens.checkpoint.torchfile import StorageTable
from ckptlens.checkpoint.unpickler import Limits, unpickle


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> f.Corpus:
    return f.shared_corpus(tmp_path_factory)["corpus"]


class Payload:
    """What an attacker pickles: unpickling calls `func(*args)`."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def _touch(sentinel: Path) -> str:
    return f"touch {sentinel}"


def _payloads(sentinel: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes, the global the refusal must name)."""
    cmd = _touch(sentinel)
    text = cmd.encode()
    return {
        "os.system": (pickle.dumps(Payload(os.system, cmd), protocol=2), "posix.system"),
        "os.system proto4": (pickle.dumps(Payload(os.system, cmd), protocol=4), "posix.system"),
        "eval": (
            pickle.dumps(Payload(eval, f"__import__('os').system({cmd!r})"), protocol=2),
            "builtins.eval",
        ),
        "exec": (
            pickle.dumps(Payload(exec, f"import os; os.system({cmd!r})"), protocol=2),
            "builtins.exec",
        ),
        "subprocess.Popen": (
            pickle.dumps(Payload(subprocess.Popen, ["touch", str(sentinel)]), protocol=2),
            "subprocess.Popen",
        ),
        "__import__": (pickle.dumps(Payload(__import__, "os"), protocol=2), "builtins.__import__"),
        "getattr chain": (
            b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V" + text + b"\ntR.",
            "builtins.getattr",
        ),
        "posix.system": (b"cposix\nsystem\n(V" + text + b"\ntR.", "posix.system"),
        "nt.system": (b"cnt\nsystem\n(V" + text + b"\ntR.", "nt.system"),
        "dunder walk": (
            b"\x80\x04\x8c\x08builtins\x8c\x15object.__subclasses__\x93)R.",
            "builtins.object.__subclasses__",
        ),
    }


def _legacy(main: bytes) -> bytes:
    return f.legacy_file(main)


def _check_refused(path: Path, expected: str, sentinel: Path) -> None:
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path)
    assert info.value.global_name == expected
    assert f"it names {expected}, which would run code" in str(info.value)
    result = subprocess.run(
        [sys.executable, "-m", "ckptlens", "inspect", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("ckptlens: error: ") and result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert not sentinel.exists()


PAYLOAD_NAMES = list(_payloads(Path("x")))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_refused_in_legacy_file(tmp_path: Path, name: str) -> None:
    sentinel = tmp_path / "SENTINEL"
    data, expected = _payloads(sentinel)[name]
    path = tmp_path / "evil_legacy.pt"
    path.write_bytes(_legacy(data))
    _check_refused(path, expected, sentinel)


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_refused_in_torch_zip(corpus: f.Corpus, tmp_path: Path, name: str) -> None:
    sentinel = tmp_path / "SENTINEL"
    data, expected = _payloads(sentinel)[name]
    path = f.zip_with_pickle(corpus.files["net.pt"], tmp_path / "evil.pt", data)
    _check_refused(path, expected, sentinel)


@pytest.mark.parametrize("where", ["state_dict", "hyper_parameters", "sharded"])
def test_refused_inside_valid_checkpoints(tmp_path: Path, where: str) -> None:
    """torch.save itself writes the payload next to real tensors."""
    sentinel = tmp_path / "SENTINEL"
    payload = Payload(os.system, _touch(sentinel))
    sd = {"w": torch.zeros(2), "b": torch.zeros(2)}
    if where == "state_dict":
        path = tmp_path / "evil.pt"
        torch.save({**sd, "_extra_state": payload}, path)
    elif where == "hyper_parameters":
        path = tmp_path / "evil.ckpt"
        torch.save({"state_dict": sd, "hyper_parameters": {"lr": 0.1, "cb": [payload]}}, path)
    else:
        path = tmp_path / "sharded"
        path.mkdir()
        torch.save(sd, path / "a.bin")
        torch.save({"x": torch.zeros(1), "evil": payload}, path / "b.bin")
        (path / "pytorch_model.bin.index.json").write_text(
            '{"weight_map": {"w": "a.bin", "b": "a.bin", "x": "b.bin"}}'
        )
    _check_refused(path, "posix.system", sentinel)


def test_payload_is_live(tmp_path: Path) -> None:
    """Control: the very same bytes do run the command under the plain unpickler."""
    sentinel = tmp_path / "SENTINEL"
    data, _ = _payloads(sentinel)["os.system"]
    subprocess.run(
        [sys.executable, "-c", f"import pickle; pickle.loads({data!r})"],
        check=True,
        capture_output=True,
    )
    assert sentinel.exists()


@pytest.mark.parametrize(
    "qualname",
    [
        "runpy._run_code",
        "importlib.import_module",
        "pickle.loads",
        "_pickle.loads",
        "shutil.rmtree",
        "webbrowser.open",
        "socket.create_connection",
        "ctypes.CDLL",
        "marshal.loads",
        "types.FunctionType",
        "types.CodeType",
        "operator.attrgetter",
        "operator.methodcaller",
        "code.InteractiveInterpreter",
        "sys.exit",
        "torch.load",
        "torch.hub.load",
        "torch.storage._load_from_bytes",
        "numpy.load",
        "yaml.load",
        "builtins.compile",
        "builtins.open",
        "builtins.globals",
        "pty.spawn",
        "asyncio.create_subprocess_shell",
        "multiprocessing.Process",
    ],
)
def test_deny_list(tmp_path: Path, qualname: str) -> None:
    module, name = qualname.rsplit(".", 1)
    data = f"c{module}\n{name}\n(Vx\ntR.".encode()
    path = tmp_path / "evil.pt"
    path.write_bytes(_legacy(data))
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path)
    assert info.value.global_name == qualname


def test_unknown_globals_stay_opaque(corpus: f.Corpus, tmp_path: Path) -> None:
    """Not dangerous, not known: kept by name, with REDUCE/NEWOBJ/BUILD never calling it."""
    entry = (
        b"(X\x03\x00\x00\x00cfgcomegaconf.dictconfig\nDictConfig\n)\x81}X\x01\x00\x00\x00aK\x01sb"
        b"X\x04\x00\x00\x00partcfunctools\npartial\ncmy_project.models\nbuild\n\x85R"
        b"X\x04\x00\x00\x00userc__main__\nConfig\n(K\x01K\x02tR}bd"
    )
    path = f.crafted_zip(tmp_path / "opaque.ckpt", f.state_dict_around(entry), {"0": 16})
    index = read_checkpoint(path)
    assert index.hyper_parameters is not None
    assert {k: str(v) for k, v in index.hyper_parameters.items()} == {
        "cfg": "<omegaconf.dictconfig.DictConfig>",
        "part": "<functools.partial>",
        "user": "<__main__.Config>",
    }
    assert any(
        "omegaconf.dictconfig.DictConfig" in n and "never imported" in n for n in index.notes
    )


# --- bombs -------------------------------------------------------------------------------------


# Reading is bounded whatever the file holds. These are hang guards, not speed targets (those
# live in benchmarks/): generous enough for a loaded CI machine, far below what an unbounded
# read of these files would take.
HANG_GUARD = 30.0


def _quick_error(path: Path, match: str, seconds: float = HANG_GUARD) -> None:
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(path)
    assert time.perf_counter() - start < seconds


def test_huge_list(tmp_path: Path) -> None:
    data = b"\x80\x02(" + b"N" * 3_000_000 + b"l."
    _quick_error(f.crafted_zip(tmp_path / "list.pt", data), "piles up")


def test_deep_mark_nesting(tmp_path: Path) -> None:
    _quick_error(f.crafted_zip(tmp_path / "deep.pt", b"\x80\x02" + b"(" * 200_000), "nests deeper")


def test_deep_list_stack(tmp_path: Path) -> None:
    data = b"\x80\x02" + b"]" * 1_500_000 + b"a" * 1_499_999 + b"."
    _quick_error(f.crafted_zip(tmp_path / "deep.pt", data), "piles up")


def test_operation_cap() -> None:
    data = b"\x80\x02]" + b"(" + b"N" * 500 + b"e" + b"(" + b"N" * 500 + b"e" + b"."
    with pytest.raises(CheckpointError, match="pickle operations"):
        unpickle(data, limits=Limits(max_ops=600))


def test_memo_cap() -> None:
    data = b"\x80\x02N" + b"".join(b"r" + i.to_bytes(4, "little") for i in range(2000)) + b"."
    with pytest.raises(CheckpointError, match="memoizes more than"):
        unpickle(data, limits=Limits(max_memo=1000))
    assert unpickle(data) is None


def test_memo_chain_depth_is_harmless(tmp_path: Path) -> None:
    """A 300,000-deep list built with constant stack: read fast, rendered with a depth cap."""
    chain = b"]q\x000" + b"]h\x00aq\x000" * 300_000 + b"h\x00"
    path = f.crafted_zip(tmp_path / "chain.ckpt", f.state_dict_around(chain), {"0": 16})
    start = time.perf_counter()
    index = read_checkpoint(path)
    assert time.perf_counter() - start < HANG_GUARD
    assert list(index.tensors) == ["w"]
    assert any("cut short" in note for note in index.notes)


def test_deep_tuple_key(tmp_path: Path) -> None:
    """Hashing a 300,000-deep tuple segfaults CPython: refused before hashing."""
    chain = b")q\x000" + b"h\x00\x85q\x000" * 300_000
    data = b"\x80\x02}" + chain + b"h\x00K\x01s."
    _quick_error(f.crafted_zip(tmp_path / "key.pt", data), "dict key")


def test_shared_references_render_once(tmp_path: Path) -> None:
    """Ten references per level, thirty levels: 10**30 leaves if expanded."""
    ops = b"(X\x01\x00\x00\x00xlq\x000"
    for _ in range(30):
        ops += b"(" + b"h\x00" * 10 + b"lq\x000"
    ops += b"h\x00"
    path = f.crafted_zip(tmp_path / "laughs.ckpt", f.state_dict_around(ops), {"0": 16})
    start = time.perf_counter()
    index = read_checkpoint(path)
    assert time.perf_counter() - start < HANG_GUARD
    import json

    from ckptlens.render.inspect import index_to_json

    assert len(json.dumps(index_to_json(index))) < 2_000_000
    assert any("cut short" in note for note in index.notes)


class FakeModule:
    """Pickles like an nn.Module (its __dict__ has _parameters/_buffers/_modules)."""


def test_shared_wrappers_are_visited_once(tmp_path: Path) -> None:
    """50 keys sharing one dict, four levels deep: 6 million paths, one dict each level."""
    level: dict[str, Any] = {"w": 1}
    for _ in range(4):
        level = {f"k{i}": level for i in range(50)}
    path = tmp_path / "shared.pt"
    path.write_bytes(f.legacy_file(pickle.dumps({"model": level}, protocol=2)))
    _quick_error(path, "holds no tensors")


def test_shared_submodules_are_budgeted(tmp_path: Path) -> None:
    """Two names for one child at each of 40 levels: 2**40 module visits if unbounded."""
    child = FakeModule()
    child.__dict__.update(_parameters={}, _buffers={}, _modules={})
    for _ in range(40):
        parent = FakeModule()
        parent.__dict__.update(_parameters={}, _buffers={}, _modules={"a": child, "b": child})
        child = parent
    path = tmp_path / "modules.pt"
    path.write_bytes(f.legacy_file(pickle.dumps(child, protocol=2)))
    _quick_error(path, "submodules")


def test_zip_bomb_member(tmp_path: Path) -> None:
    path = f.crafted_zip(tmp_path / "bomb.pt", bytes(20 << 20), compress=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    _quick_error(path, "zip bomb")


@pytest.mark.parametrize(
    ("declared", "match"),
    [(1 << 40, "claims"), (1 << 63, "claims"), (None, "truncated safetensors")],
)
def test_safetensors_header_lies(tmp_path: Path, declared: int | None, match: str) -> None:
    header = {"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}
    path = tmp_path / "lie.safetensors"
    path.write_bytes(f.safetensors_bytes(header, bytes(64), declared))
    _quick_error(path, match)


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]},
        {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]},
        {"dtype": "F32", "shape": [2], "data_offsets": [4, 0]},
        {"dtype": 3, "shape": [2], "data_offsets": [0, 8]},
    ],
)
def test_safetensors_bad_entries(tmp_path: Path, entry: dict[str, Any]) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(f.safetensors_bytes({"w": entry}, bytes(8)))
    _quick_error(path, "corrupt safetensors")


# --- truncation and corruption fuzz ---------------------------------------------------------


TRUNCATED = [
    "net.pt",
    "net_legacy.pt",
    "zoo_legacy.pt",
    "net.safetensors",
    "lightning.ckpt",
    "net_proto4.pth",
]


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncated_everywhere(corpus: f.Corpus, tmp_path: Path, name: str) -> None:
    data = corpus.files[name].read_bytes()
    cuts = sorted(
        {
            1,
            7,
            8,
            9,
            64,
            len(data) - 22,
            len(data) - 1,
            *range(1, len(data), max(1, len(data) // 30)),
        }
    )
    path = tmp_path / name
    for cut in cuts:
        path.write_bytes(data[:cut])
        start = time.perf_counter()
        with pytest.raises(CheckpointError):
            read_checkpoint(path)
        assert time.perf_counter() - start < HANG_GUARD, cut


@pytest.fixture(scope="module")
def lightning_pickle(corpus: f.Corpus) -> bytes:
    with zipfile.ZipFile(corpus.files["lightning.ckpt"]) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_corrupted_pickles_only_raise_checkpoint_error(
    lightning_pickle: bytes, data: st.DataObject
) -> None:
    raw = bytearray(lightning_pickle)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        root = unpickle(bytes(raw), persistent_load=StorageTable())
    except CheckpointError:
        return
    from ckptlens.checkpoint.container import PlainRenderer, select_state_dict

    select_state_dict(root)
    PlainRenderer().render(root)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(min_size=1, max_size=64))
def test_garbage_files(tmp_path: Path, blob: bytes) -> None:
    for head in (b"", b"PK\x03\x04", b"\x80\x02", b"\x10\x00\x00\x00\x00\x00\x00\x00{"):
        path = tmp_path / "garbage.bin"
        path.write_bytes(head + blob)
        try:
            read_checkpoint(path)
        except CheckpointError:
            pass


def test_corrupt_zip_crc(corpus: f.Corpus, tmp_path: Path) -> None:
    raw = bytearray(corpus.files["net.pt"].read_bytes())
    at = raw.find(b"\x80\x02")  # inside the stored data.pkl
    raw[at + 10] ^= 0xFF
    path = tmp_path / "crc.pt"
    path.write_bytes(bytes(raw))
    _quick_error(path, "corrupt")


def test_legacy_bad_magic(tmp_path: Path) -> None:
    out = io.BytesIO()
    pickle.dump(12345, out, protocol=2)
    path = tmp_path / "magic.pt"
    path.write_bytes(out.getvalue() + struct.pack("<q", 0))
    _quick_error(path, "plain pickle")
