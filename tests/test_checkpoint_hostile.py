"""Issue 13 against torch itself: every crafted file gets the exact verdict and exit code, in a
CLI process capped at 512 MiB of address space (a hang guard, not a timed assert, bounds the
time); `safe` only for files `torch.load(weights_only=True)` loads; every payload proven live
under `torch.load(weights_only=False)` is `needs-trust` or `refused`, and never runs here."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import ckpt_factory as f
import hostile_corpus as hc
from ckptlens import cli
from ckptlens.checkpoint import CheckpointError, read_checkpoint
from ckptlens.checkpoint.hf import read_index_file

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP = 512 << 20  # RLIMIT_AS of every CLI run: the 500 MB target, with no slack for mmap
HANG_GUARD = 120  # seconds: only a hung process gets near it (benchmarks/bench_hostile.py times them)


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_cli(*args: str, cwd: Path, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=stdin,
        preexec_fn=_cap_memory,
        timeout=HANG_GUARD,
    )


def outcome(path: Path) -> tuple[str, Any]:
    """("safe" | "needs-trust", the JSON safety) or ("refused", the error line)."""
    run = run_cli("inspect", str(path), "--format", "json", cwd=path.parent)
    if run.returncode == 0:
        safety = json.loads(run.stdout)["safety"]
        return safety["verdict"], safety
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert run.stderr.startswith("ckptlens: error: ") and run.stderr.count("\n") == 1
    return "refused", run.stderr


def torch_weights_only_loads(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path, weights_only=True, map_location="cpu")
    except Exception:  # noqa: BLE001 - any failure means torch does not load it
        return False
    return True


def wait_for(path: Path, deadline: float = 60.0) -> bool:
    """Spawned payloads (posix_spawn, Popen) finish after torch.load returns: wait for the
    file to appear, up to a deadline."""
    end = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("case", hc.CASES, ids=hc.CASE_IDS)
def test_hostile_file_gets_its_exact_verdict(case: hc.Case, tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = case.build(tmp_path, sentinel)
    verdict, detail = outcome(path)
    assert verdict == case.outcome, detail
    if verdict == "refused":
        assert isinstance(case.detail, str) and case.detail in detail
    elif verdict == "needs-trust":
        assert detail["globals"] == case.detail
        assert detail["globals"] or detail["reasons"]
        assert list(detail["imports"]) == detail["globals"]
    else:
        assert detail == {"verdict": "safe", "globals": [], "reasons": [], "imports": {}}
        assert torch_weights_only_loads(path)
    assert not sentinel.exists()


LIVE = [c for c in hc.CASES if c.live]


@pytest.fixture(scope="module")
def controls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bool]]:
    """Each live case built afresh and opened by torch.load(weights_only=False), all in one
    process (importing torch once): case name -> (sentinel, whether weights_only=True loads)."""
    folders = {case.name: tmp_path_factory.mktemp("control") for case in LIVE}
    paths = {case.name: case.build(folders[case.name], folders[case.name] / "SENTINEL") for case in LIVE}
    script = (
        "import sys, torch\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        torch.load(path, weights_only=False)\n"
        "    except BaseException:\n"
        "        pass\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, *map(str, paths.values())],
        capture_output=True,
        timeout=HANG_GUARD,
    )
    return {name: (folders[name] / "SENTINEL", torch_weights_only_loads(path)) for name, path in paths.items()}


@pytest.mark.parametrize("case", LIVE, ids=[c.name for c in LIVE])
def test_payload_is_live_under_full_unpickling(case: hc.Case, controls: dict[str, tuple[Path, bool]]) -> None:
    """The control: the same file does create the sentinel when torch.load runs it, and
    torch's own weights_only loader refuses it."""
    sentinel, weights_only_loads = controls[case.name]
    assert wait_for(sentinel)
    assert not weights_only_loads


def test_polyglot_is_a_valid_safetensors_file(tmp_path: Path) -> None:
    from safetensors import safe_open

    path = hc.safetensors_pickle_polyglot(tmp_path / "poly.safetensors", tmp_path / "S")
    with safe_open(str(path), "pt") as st:
        assert list(st.keys()) == ["t"] and tuple(st.get_tensor("t").shape) == (512,)


def test_int_opcode_is_parsed_as_cpython_does() -> None:
    import pickle

    from ckptlens.checkpoint.unpickler import unpickle

    for line in (b"010", b"0x1f", b"-010", b"00", b"01", b" 7", b"1_0", b"+0", b"-0x10", b"0"):
        data = b"I" + line + b"\n."
        expected = pickle.loads(data)
        assert unpickle(data) == expected and type(unpickle(data)) is type(expected), line
    assert unpickle(b"I010\n.") == 8
    assert unpickle(b"L0x10L\n.") == pickle.loads(b"L0x10L\n.") == 16


def test_int_opcode_value_reaches_the_index(tmp_path: Path) -> None:
    path = hc.by_name("INT opcode I010").build(tmp_path, tmp_path / "S")
    run = run_cli("inspect", str(path), "--format", "json", cwd=tmp_path)
    assert json.loads(run.stdout)["hyper_parameters"] == {"n": 8}


# --- special files ---------------------------------------------------------------------------


def test_fifo_checkpoint_and_config_are_refused_before_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    run = run_cli("inspect", str(fifo), cwd=tmp_path)
    assert (run.returncode, run.stderr) == (2, f"ckptlens: error: {fifo} is a pipe (FIFO), not a checkpoint file\n")
    example = ROOT / "fixtures" / "examples"
    args = ["check", str(example / "mlp.py"), "--class", "MLP", "--checkpoint", str(example / "mlp_module_prefix.pt")]
    for config, kind in ((str(fifo), "a pipe (FIFO)"), ("/dev/zero", "a character device"), ("/dev/stdin", "a pipe (FIFO)")):
        run = run_cli(*args, "--config", config, cwd=tmp_path, stdin=subprocess.PIPE)
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr == f"ckptlens: error: config file {config} is {kind}, not a regular file\n"


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/stdin", "/dev/null"])
def test_device_checkpoints_are_refused(tmp_path: Path, special: str) -> None:
    run = run_cli("inspect", special, cwd=tmp_path, stdin=subprocess.PIPE)
    assert run.returncode == 2
    assert run.stderr.startswith(f"ckptlens: error: {special} is a ") and "not a checkpoint file" in run.stderr


def test_socket_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(CheckpointError, match="is a socket, not a checkpoint file"):
            read_checkpoint(path)
    finally:
        server.close()


def test_config_json_fifo_in_a_folder_is_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(
        f.safetensors_bytes({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8))
    )
    os.mkfifo(folder / "config.json")
    run = run_cli("inspect", str(folder), "--format", "json", cwd=tmp_path)
    assert run.returncode == 0 and json.loads(run.stdout)["config"] is None


def test_oversized_config_file_is_refused(tmp_path: Path) -> None:
    from ckptlens.api import ConfigError, _config_data

    path = tmp_path / "config.json"
    path.write_bytes(b'{"a": "' + b"x" * (5 << 20) + b'"}')
    with pytest.raises(ConfigError, match="more than the 4,194,304 allowed"):
        _config_data(str(path))


# --- shards ----------------------------------------------------------------------------------


def test_a_shard_under_many_spellings_is_read_once(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(2)}, tmp_path / "a.bin")
    (tmp_path / "b.bin").symlink_to(tmp_path / "a.bin")
    spellings = ["a.bin", "b.bin"] + ["./" * i + "a.bin" for i in range(1, 300)]
    weight_map = {f"k{i}": name for i, name in enumerate(spellings)} | {"w": "a.bin"}
    index_path = tmp_path / "model.bin.index.json"
    index_path.write_text(json.dumps({"weight_map": weight_map}))
    reads: list[Path] = []

    def counting(path: Path) -> Any:
        reads.append(path)
        from ckptlens.checkpoint.reader import read_file

        return read_file(path)

    index = read_index_file(index_path, counting)
    assert len(reads) == 1
    assert list(index.tensors) == ["w"]


# --- output ------------------------------------------------------------------------------------


def _keys_with_escapes(tmp_path: Path) -> Path:
    sd = {
        "a\x1b]0;pwned\x07": torch.zeros(1),
        "b\x1b[2J\r\x1b[32m✓ all 2 tensors match": torch.zeros(1),
        "c\u202egnp.exe": torch.zeros(1),
    }
    path = tmp_path / "escapes.pt"
    torch.save(sd, path)
    return path


def test_control_characters_are_escaped_in_text_output(tmp_path: Path) -> None:
    path = _keys_with_escapes(tmp_path)
    run = run_cli("inspect", str(path), cwd=tmp_path)
    assert run.returncode == 0
    for raw in ("\x1b", "\x07", "\r", "\u202e"):
        assert raw not in run.stdout
    assert "a\\x1b]0;pwned\\x07" in run.stdout
    assert "b\\x1b[2J\\r\\x1b[32m✓ all 2 tensors match" in run.stdout
    assert "c\\u202egnp.exe" in run.stdout
    # JSON keeps the keys exactly (escaped by JSON itself)
    run = run_cli("inspect", str(path), "--format", "json", cwd=tmp_path)
    assert "a\x1b]0;pwned\x07" in json.loads(run.stdout)["tensors"]


def test_control_characters_are_escaped_in_error_lines(tmp_path: Path) -> None:
    name = tmp_path / "evil\x1b]0;title\x07\x1b[2J.pt"
    run = run_cli("inspect", str(name), cwd=tmp_path)
    assert run.returncode == 2 and "\x1b" not in run.stderr and "\x07" not in run.stderr
    assert "evil\\x1b]0;title\\x07\\x1b[2J.pt" in run.stderr


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (MemoryError(), "ran out of memory"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (OverflowError("int too large to convert"), "too large to handle"),
        (ValueError("Exceeds the limit (4300 digits) for integer string conversion"), "too many digits"),
    ],
)
def test_unexpected_failures_are_said_in_words(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception, words: str
) -> None:
    import ckptlens.checkpoint as checkpoint

    def fail(_path: str) -> Any:
        raise exc

    monkeypatch.setattr(checkpoint, "read_checkpoint", fail)
    assert cli.main(["inspect", "x.pt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ckptlens: internal error: ") and words in err
    assert type(exc).__name__ not in err


def test_check_reports_unsafe_checkpoint(tmp_path: Path) -> None:
    import argparse
    import importlib.util

    example = ROOT / "fixtures" / "examples"
    spec = importlib.util.spec_from_file_location("mlp_example", example / "mlp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "mlp_with_args.pt"
    torch.save({"state_dict": module.MLP().state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    run = run_cli("check", str(example / "mlp.py"), "--class", "MLP", "--checkpoint", str(path), "--format", "json", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    findings = json.loads(run.stdout)["findings"]
    assert [(x["code"], x["severity"], x["checkpoint_keys"]) for x in findings] == [
        ("unsafe-checkpoint", "warning", ["argparse.Namespace"])
    ]
    assert "torch.load(weights_only=True) refuses it" in findings[0]["message"]
    clean = tmp_path / "mlp.pt"
    torch.save(module.MLP().state_dict(), clean)
    run = run_cli("check", str(example / "mlp.py"), "--class", "MLP", "--checkpoint", str(clean), "--format", "json", cwd=tmp_path)
    assert (run.returncode, json.loads(run.stdout)["findings"]) == (0, [])


def test_source_files_honour_pep263(tmp_path: Path) -> None:
    source = tmp_path / "latin.py"
    source.write_bytes(
        b"# -*- coding: latin-1 -*-\nimport torch.nn as nn\n\n\nclass Caf\xe9Net(nn.Module):\n"
        b"    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 3)\n"
    )
    run = run_cli("keys", str(source), "--class", "CaféNet", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["keys"] == {"fc.weight": [3, 2], "fc.bias": [3]}
    from ckptlens.engine.loader import decode_source

    assert decode_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"  # BOM
    assert decode_source(b"# coding: rot13\nx = 1\n") == "# coding: rot13\nx = 1\n"  # not text: UTF-8


def test_allow_list_is_torchs() -> None:
    from torch import _weights_only_unpickler as wo

    from ckptlens.checkpoint import weights_only as ours

    assert set(wo._get_allowed_globals()) == ours.TORCH_ALLOWED_GLOBALS
    assert set(wo._blocklisted_modules) == ours.TORCH_BLOCKED_MODULES
    from torch._utils import IMPORT_MAPPING, NAME_MAPPING

    assert (IMPORT_MAPPING, NAME_MAPPING) == (ours.TORCH_IMPORT_MAPPING, ours.TORCH_NAME_MAPPING)
