"""A real editor end to end: headless Neovim's built-in LSP client opens a model file linked to a
checkpoint, receives ckptlens' diagnostics, requests and applies the rename quick fix and
"Generate key mapping", and sees the diagnostics clear."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "fixtures" / "examples"
NVIM = shutil.which("nvim")
# CI sets CKPTLENS_REQUIRE_EDITORS=1: there a missing editor fails the test instead of skipping it.
REQUIRED = os.environ.get("CKPTLENS_REQUIRE_EDITORS") == "1" or bool(os.environ.get("CI"))


def _nvim() -> str:
    if NVIM is None:
        message = "Neovim is not installed (apt-get install neovim)"
        if REQUIRED:
            pytest.fail(f"{message}, and CKPTLENS_REQUIRE_EDITORS=1 requires it", pytrace=False)
        pytest.skip(message)
    return NVIM


def _drive(tmp_path: Path, file: Path, steps: list[dict]) -> dict:
    nvim = _nvim()
    out = tmp_path / "report.json"
    plan = {
        "cmd": [sys.executable, "-m", "ckptlens", "lsp"],
        "root": str(file.parent),
        "file": str(file),
        "out": str(out),
        "env": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        "steps": steps,
    }
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = {**os.environ, "CKPTLENS_NVIM_PLAN": str(plan_path), "HOME": str(tmp_path)}
    subprocess.run(
        [nvim, "--headless", "--clean", "-n", "-c", f"luafile {ROOT / 'tests' / 'nvim' / 'drive.lua'}"],
        env=env, cwd=tmp_path, timeout=180, capture_output=True, check=False,
    )
    assert out.exists(), "Neovim wrote no report"
    report = json.loads(out.read_text())
    assert report.get("error") in (None, "", json.loads("null")), report.get("error")
    return report


def _codes(step: dict) -> list[str]:
    return [d["code"] for d in step["diagnostics"]]


@pytest.fixture
def linked_example(tmp_path: Path) -> Path:
    """The shipped example, linked to its DataParallel checkpoint by a directive comment."""
    shutil.copy(EXAMPLES / "mlp_module_prefix.pt", tmp_path / "mlp_module_prefix.pt")
    text = (EXAMPLES / "mlp.py").read_text()
    text = text.replace("class MLP(", "# ckptlens: checkpoint=mlp_module_prefix.pt\nclass MLP(", 1)
    path = tmp_path / "mlp.py"
    path.write_text(text)
    return path


def _position(text: str, needle: str) -> tuple[int, int]:
    for number, line in enumerate(text.splitlines()):
        if needle in line:
            return number, line.index(needle)
    raise AssertionError(needle)


def test_neovim_sees_the_findings_and_applies_the_fixes(tmp_path: Path, linked_example: Path) -> None:
    text = linked_example.read_text()
    report = _drive(
        tmp_path,
        linked_example,
        [
            {"action": "wait_diagnostics"},
            {"action": "code_action", "code": "renamed-module", "title_contains": "layer1"},
            {"action": "wait_diagnostics"},
            {"action": "code_action", "code": "key-prefix", "title_contains": "Generate key mapping"},
            {"action": "wait_diagnostics"},
        ],
    )
    first, rename, after_rename, mapping, after_mapping = report["steps"]
    # each wait ended on the publish of the buffer's version then, not on a timeout
    assert [s["published"] for s in (first, after_rename, after_mapping)] == [True, True, True]

    # the diagnostics sit on the lines that cause them, with exact ranges
    by_code = {d["code"]: d for d in first["diagnostics"]}
    assert set(by_code) >= {"key-prefix", "renamed-module"}
    line, col = _position(text, "self.layer_1")
    assert (by_code["renamed-module"]["lnum"], by_code["renamed-module"]["col"]) == (line, col)
    assert by_code["renamed-module"]["end_col"] == col + len("self.layer_1")
    class_line, class_col = _position(text, "MLP(nn.Module)")
    assert (by_code["key-prefix"]["lnum"], by_code["key-prefix"]["col"]) == (class_line, class_col)
    assert "module." in by_code["key-prefix"]["message"]

    # the rename quick fix renames every self.layer_1 in the class, and that finding clears
    assert "self.layer_1" not in rename["text"] and rename["text"].count("self.layer1") == 2
    assert "renamed-module" not in _codes(after_rename)
    assert "key-prefix" in _codes(after_rename)

    # Generate key mapping inserts code the analysis reads back: nothing left to report
    assert "module." in mapping["text"]
    mismatch = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}
    assert [c for c in _codes(after_mapping) if c in mismatch] == []
