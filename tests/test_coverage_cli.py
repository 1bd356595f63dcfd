"""Honest results through the CLI: a check counts the checkpoint tensors it compared, and never
prints `✓` while one went unchecked (issue: real-world coverage, item 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

SOURCE = '''
import torch.nn as nn
from some_missing_pkg import FancyBackbone


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = FancyBackbone(depth=4)
        self.head = nn.Linear(8, 3)
'''


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def _project(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "net.py"
    source.write_text(SOURCE)
    ckpt = tmp_path / "net.pt"
    state = {
        "backbone.conv.weight": torch.zeros(8, 3, 3, 3),
        "backbone.conv.bias": torch.zeros(8),
        "head.weight": torch.zeros(3, 8),
        "head.bias": torch.zeros(3),
    }
    torch.save(state, ckpt)
    return source, ckpt


def test_unresolved_part_is_unverified_not_a_fit(tmp_path: Path) -> None:
    source, ckpt = _project(tmp_path)
    proc = _cli("check", source, "--class", "Net", "--checkpoint", ckpt)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    (finding,) = [line for line in lines if " unverified " in line]
    assert finding.startswith(f"{source}:9:9: unverified `backbone` could not be resolved: ")
    assert "FancyBackbone" in finding and "2 checkpoint tensors" in finding
    assert lines[-1] == "✗ 1 finding · Net: 2/4 tensors checked · 2 not checked · net.pt"
    assert "✓" not in proc.stdout


def test_json_coverage_and_lowered_severity(tmp_path: Path) -> None:
    source, ckpt = _project(tmp_path)
    proc = _cli("check", source, "--class", "Net", "--checkpoint", ckpt, "--format", "json")
    data = json.loads(proc.stdout)
    assert data["coverage"] == {"tensors": 4, "checked": 2, "keys_only": 0, "unchecked": 2}
    (unverified,) = [f for f in data["findings"] if f["code"] == "unverified"]
    assert unverified["severity"] == "warning"
    assert unverified["model_prefix"] == "backbone"
    assert unverified["checkpoint_keys"] == ["backbone.conv.weight", "backbone.conv.bias"]
    assert (unverified["line"], unverified["column"]) == (9, 9)
    # the unresolved part is said once: no separate `unresolved` note for the same part
    assert [f["code"] for f in data["findings"]] == ["unverified"]

    lowered = _cli(
        "check", source, "--class", "Net", "--checkpoint", ckpt, "--unverified-severity", "information"
    )
    assert lowered.returncode == 0, lowered.stderr
    assert lowered.stdout.splitlines()[-1] == "? Net: 2/4 tensors checked · 2 not checked · 1 note · net.pt"

    sarif = json.loads(_cli("check", source, "--class", "Net", "--checkpoint", ckpt, "--format", "sarif").stdout)
    assert sarif["runs"][0]["properties"]["coverage"]["unchecked"] == 2


def test_map_text_never_ticks_an_unverified_identity(tmp_path: Path) -> None:
    source, ckpt = _project(tmp_path)
    proc = _cli("map", source, "--class", "Net", "--checkpoint", ckpt, "--format", "text")
    assert "2 checkpoint tensors under parts of the model the analysis could not resolve" in proc.stdout
    assert "✓" not in proc.stdout
    assert proc.stdout.rstrip().endswith("? identity for what was checked: the checkpoint loads as it is, as far as known")
