"""The CLI's result cache (`ckptlens.result_cache`): a hit answers exactly as the analysis
would, and any change of what the answer depends on — a library file the model imports, a module
added beside one, the engine, the arguments, the config, the checkpoint — gives a new answer.
A damaged entry is ignored; the cache can be turned off and stays within its size."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ckptlens import result_cache
from ckptlens.cli import main

ROOT = Path(__file__).resolve().parents[1]

LAYERS = """\
import torch.nn as nn

WIDTH = 8


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)
"""

MODEL = """\
import torch.nn as nn
from mylib.layers import Block


class Net(nn.Module):
    def __init__(self, hidden=3):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(8, hidden)
"""


def _backdate(root: Path, seconds: float = 100.0) -> None:
    """Files older than the cache's 2 s "racily modified" window (no sleeping)."""
    stamp = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (stamp, stamp))


def _safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header: dict[str, object] = {}
    offset = 0
    for name, shape in shapes.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    proj = tmp_path / "proj"
    (proj / "mylib").mkdir(parents=True)
    (proj / "mylib" / "__init__.py").write_text("")
    (proj / "mylib" / "layers.py").write_text(LAYERS)
    (proj / "model.py").write_text(MODEL)
    _safetensors(
        proj / "net.safetensors",
        {"block.fc.weight": [8, 4], "block.fc.bias": [8], "head.weight": [3, 8], "head.bias": [3]},
    )
    _backdate(proj)
    monkeypatch.setenv("CKPTLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CKPTLENS_NO_CACHE", raising=False)
    monkeypatch.delenv("CKPTLENS_DEBUG", raising=False)
    monkeypatch.chdir(proj)
    return proj


def _entries(proj: Path) -> list[Path]:
    return sorted((proj.parent / "cache" / "results").glob("*/*.json"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _no_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a call that is not answered from the cache fails loudly."""

    def refuse(self: object, command: object) -> int:
        raise AssertionError("analysed again instead of answering from the cache")

    monkeypatch.setattr(result_cache.ResultCache, "run", refuse)


def _shapes(out: str) -> dict[str, list[int]]:
    return dict(json.loads(out)["keys"])


KEYS = ("keys", "model.py", "--class", "Net", "--format", "json")
CHECK = ("check", "model.py", "--class", "Net", "--checkpoint", "net.safetensors", "--format", "json")


@pytest.mark.parametrize(
    "argv",
    [KEYS, ("keys", "model.py", "--class", "Net"), CHECK, ("check", "model.py", "--class", "Net", "--checkpoint", "net.safetensors")],
    ids=["keys-json", "keys-text", "check-json", "check-text"],
)
def test_a_hit_answers_with_the_same_output_and_exit_code(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    first = _run(capsys, *argv)
    assert len(_entries(project)) == 1
    _no_analysis(monkeypatch)
    assert _run(capsys, *argv) == first


def test_a_mismatch_is_kept_with_its_exit_code(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = (*CHECK[:-2], "--init", "hidden=5", "--format", "json")
    code, out, _ = _run(capsys, *argv)
    assert code == 1 and any(f["code"] == "shape-mismatch" for f in json.loads(out)["findings"])
    _no_analysis(monkeypatch)
    assert _run(capsys, *argv) == (code, out, "")


def test_an_edited_library_file_gives_a_new_answer(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, before, _ = _run(capsys, *KEYS)
    assert _shapes(before)["block.fc.weight"] == [8, 4]
    layers = project / "mylib" / "layers.py"
    layers.write_text(LAYERS.replace("WIDTH = 8", "WIDTH = 6"))  # same size: the mtime tells
    os.utime(layers, (time.time() - 50, time.time() - 50))
    _, after, _ = _run(capsys, *KEYS)
    assert _shapes(after)["block.fc.weight"] == [6, 4]


def test_a_module_added_that_shadows_the_one_read_gives_a_new_answer(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, before, _ = _run(capsys, *KEYS)
    # `mylib/layers/__init__.py` wins over `mylib/layers.py` for `import mylib.layers`
    (project / "mylib" / "layers").mkdir()
    (project / "mylib" / "layers" / "__init__.py").write_text(LAYERS.replace("WIDTH = 8", "WIDTH = 2"))
    _backdate(project)
    _, after, _ = _run(capsys, *KEYS)
    assert _shapes(before)["block.fc.weight"] == [8, 4]
    assert _shapes(after)["block.fc.weight"] == [2, 4]


def test_arguments_config_and_checkpoint_are_part_of_the_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, plain, _ = _run(capsys, *KEYS)
    _, wide, _ = _run(capsys, *KEYS, "--init", "hidden=7")
    assert _shapes(plain)["head.weight"] == [3, 8] and _shapes(wide)["head.weight"] == [7, 8]

    config = project / "cfg.json"  # not config.json: that one is read beside the checkpoint
    config.write_text('{"hidden": 4}')
    _backdate(project)
    _, four, _ = _run(capsys, *KEYS, "--config", "cfg.json")
    config.write_text('{"hidden": 9}')  # just now, same size: the config is keyed by content
    _, nine, _ = _run(capsys, *KEYS, "--config", "cfg.json")
    assert _shapes(four)["head.weight"] == [4, 8] and _shapes(nine)["head.weight"] == [9, 8]
    assert len(_entries(project)) == 3  # plain, hidden=7, the config (its latest content)

    code, _, _ = _run(capsys, *CHECK)
    assert code == 0
    assert len(_entries(project)) == 4
    _safetensors(
        project / "net.safetensors",
        {"block.fc.weight": [8, 4], "block.fc.bias": [8], "head.weight": [5, 8], "head.bias": [5]},
    )
    _backdate(project)
    code, out, _ = _run(capsys, *CHECK)
    assert code == 1 and any(f["code"] == "shape-mismatch" for f in json.loads(out)["findings"])


def test_a_config_written_just_before_the_call_is_kept(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "cfg.json").write_text('{"hidden": 4}')  # a new entry of the folder: backdated
    _backdate(project)
    (project / "cfg.json").write_text('{"hidden": 5}')  # modified now, same size
    first = _run(capsys, *KEYS, "--config", "cfg.json")
    assert _shapes(first[1])["head.weight"] == [5, 8]
    _no_analysis(monkeypatch)
    assert _run(capsys, *KEYS, "--config", "cfg.json") == first


def test_a_changed_engine_gives_a_new_answer(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, *KEYS)
    import ckptlens

    monkeypatch.setattr(ckptlens, "__version__", ckptlens.__version__ + "+other")
    _run(capsys, *KEYS)
    assert len(_entries(project)) == 2


def test_a_file_modified_just_now_is_not_trusted(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "mylib" / "layers.py").write_text(LAYERS)  # mtime: now
    _run(capsys, *KEYS)
    assert _entries(project) == []


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"format": 1}', b"\xff\xfe\x00", b"[]"])
def test_a_corrupt_entry_is_ignored_with_a_debug_line(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    first = _run(capsys, *KEYS)
    (entry,) = _entries(project)
    entry.write_bytes(damage)
    assert _run(capsys, *KEYS) == first  # analysed again, same answer, nothing on stderr
    entry.write_bytes(damage)
    monkeypatch.setenv("CKPTLENS_DEBUG", "1")
    code, out, err = _run(capsys, *KEYS)
    assert (code, out) == first[:2]
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ckptlens: debug: result cache entry") and "ignored" in lines[0]


def test_an_unreadable_entry_is_ignored(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(capsys, *KEYS)
    (entry,) = _entries(project)
    entry.unlink()
    entry.mkdir()  # reading it fails (IsADirectoryError), whoever runs the test
    assert _run(capsys, *KEYS) == first


def test_the_cache_can_be_turned_off(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, *KEYS, "--no-cache")
    _run(capsys, *CHECK, "--no-cache")
    assert _entries(project) == []
    monkeypatch.setenv("CKPTLENS_NO_CACHE", "1")
    _run(capsys, *KEYS)
    assert _entries(project) == []
    monkeypatch.setenv("CKPTLENS_NO_CACHE", "0")
    _run(capsys, *KEYS)
    assert len(_entries(project)) == 1


def test_the_cache_stays_within_its_size(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    now = time.time()
    paths = []
    for i in range(10):
        if i % 2:
            path = tmp_path / f"ast-spans-{i}.json"
        else:
            sub = folder / f"{i:02x}"
            sub.mkdir(parents=True)
            path = sub / f"{i}.json"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - 100 + i, now - 100 + i))  # entry 0 is the least recently used
        paths.append(path)
    other = tmp_path / "lazy-exports-x.json"  # not the result cache's: left alone
    other.write_bytes(b"x" * 1000)
    os.utime(other, (now - 1000, now - 1000))
    result_cache.prune(str(tmp_path), 5000)
    left = [i for i, p in enumerate(paths) if p.exists()]
    assert sum(paths[i].stat().st_size for i in left) <= 3750
    assert left == list(range(10 - len(left), 10))  # the oldest went first
    assert other.exists()


def test_a_hit_does_not_load_the_engine(project: Path) -> None:
    """The point of the cache: a warm call is Python start-up, the CLI and one stat per file."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "server"), os.environ.get("PYTHONPATH", "")])}
    code = (
        "import sys; from ckptlens.cli import main; c = main(sys.argv[1:]); "
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.startswith('ckptlens.engine'))) + '\\n'); "
        "raise SystemExit(c)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code, *KEYS], capture_output=True, text=True, env=env, cwd=project)
        for _ in range(2)
    ]
    assert runs[0].returncode == runs[1].returncode == 0
    assert runs[0].stdout == runs[1].stdout
    assert "ckptlens.engine.interp" in runs[0].stderr
    assert runs[1].stderr.strip() == "[]"
