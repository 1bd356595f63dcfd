"""`ckptlens inspect` end to end, as a user runs it: `python -m ckptlens inspect ...`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ckpt_factory as f
from ckptlens import cli
from ckptlens.checkpoint import read_checkpoint
from ckptlens.checkpoint.render import render_index_text

REQUIRED = ["format", "state_dict_path", "tensors", "hyper_parameters", "entries"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> f.Corpus:
    return f.shared_corpus(tmp_path_factory)["corpus"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", "inspect", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_json_is_the_spec_object(corpus: f.Corpus) -> None:
    path = corpus.files["lightning.ckpt"]
    result = run(str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data)[: len(REQUIRED)] == REQUIRED
    assert data["format"] == "torch-zip"
    assert data["state_dict_path"] == ["state_dict"]
    expected = f.torch_truth(path, ("state_dict",))
    assert list(data["tensors"]) == [key for key, _, _ in expected]
    for key, shape, dtype in expected:
        assert data["tensors"][key] == {"shape": list(shape), "dtype": dtype, "device": "cpu"}
    assert data["hyper_parameters"]["hidden"] == 8
    assert data["hyper_parameters"]["out_dir"] == "/tmp/out"
    assert "hyper_parameters" in data["entries"]
    assert data["versions"] == {"pytorch-lightning": "2.6.6"}


def test_json_plain_state_dict_and_devices(corpus: f.Corpus) -> None:
    data = json.loads(run(str(corpus.files["cuda.pt"]), "--format", "json").stdout)
    assert data["state_dict_path"] == []
    assert data["hyper_parameters"] is None
    assert {t["device"] for t in data["tensors"].values()} == {"cuda:0"}
    assert data["entries"] == list(data["tensors"])


def test_json_opaque_values_are_strings(corpus: f.Corpus) -> None:
    data = json.loads(run(str(corpus.files["opaque_hparams.ckpt"]), "--format", "json").stdout)
    assert data["hyper_parameters"]["act"] == "<functools.partial>"
    assert data["hyper_parameters"]["cfg"] == "<ckpt_factory.UserConfig>"


@pytest.mark.parametrize("name", ["hf_sharded", "net.safetensors", "net_legacy.pt"])
def test_json_other_formats(corpus: f.Corpus, name: str) -> None:
    result = run(str(corpus.files[name]), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (
        data["format"]
        == {
            "hf_sharded": "hf-sharded",
            "net.safetensors": "safetensors",
            "net_legacy.pt": "torch-legacy",
        }[name]
    )
    assert data["tensors"]


def test_text_report(corpus: f.Corpus) -> None:
    result = run(str(corpus.files["wrapped_state_dict.pth"]))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # not a terminal: no colour
    assert "torch-zip" in out and "state_dict" in out
    assert "conv.weight" in out and "[8, 3, 3, 3]" in out
    lines = out.splitlines()
    rows = [line for line in lines if line.strip().startswith(("conv.weight", "bn.running_mean"))]
    assert len({line.index("[") for line in rows}) == 1  # shapes are aligned


def test_text_colour_only_on_request(corpus: f.Corpus) -> None:
    index = read_checkpoint(corpus.files["cuda.pt"])
    coloured = render_index_text(index, color=True)
    plain = render_index_text(index, color=False)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert "cuda:0" in plain


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.pt", "no such file"),
        (lambda tmp: _write(tmp / "model.py", b"print('hi')\n"), "text file"),
        (lambda tmp: _write(tmp / "empty.ckpt", b""), "empty file"),
        (lambda tmp: tmp, "without Hugging Face weights"),
    ],
)
def test_errors_exit_2_with_one_line(tmp_path: Path, make: object, expected: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    for fmt in ("json", "text"):
        result = run(str(path), "--format", fmt)
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith("ckptlens: error: ")
        assert result.stderr.count("\n") == 1
        assert expected in result.stderr


def test_truncated_checkpoint_exit_2(corpus: f.Corpus, tmp_path: Path) -> None:
    data = corpus.files["net.pt"].read_bytes()
    path = _write(tmp_path / "cut.pt", data[: len(data) // 2])
    result = run(str(path), "--format", "json")
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1


def test_permission_denied_in_process(
    corpus: f.Corpus, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    def denied(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)  # how every user-named file is opened
    code = cli.main(["inspect", str(corpus.files["net.pt"]), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == f"ckptlens: error: cannot read {corpus.files['net.pt']}: permission denied\n"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
