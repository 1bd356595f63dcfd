"""Where constructor arguments come from (SPEC section 3), strongest first: --init, --config, the
checkpoint's own record, config.json beside it, the __init__ defaults."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ckptlens.api import check
from ckptlens.engine.model import ConstructorValue

MISMATCH = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}

SOURCE = """
    from dataclasses import dataclass

    import torch.nn as nn


    @dataclass
    class Config:
        dim: int = 16
        depth: int = 2


    class Net(nn.Module):
        def __init__(self, hidden: int = 8, classes: int = 3):
            super().__init__()
            self.fc = nn.Linear(4, hidden)
            self.head = nn.Linear(hidden, classes)


    class Tower(nn.Module):
        def __init__(self, cfg: Config = Config()):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(cfg.dim, cfg.dim) for _ in range(cfg.depth)])
"""


@pytest.fixture
def model_file(tmp_path: Path):
    path = tmp_path / "nets.py"
    path.write_text(textwrap.dedent(SOURCE))
    spec = importlib.util.spec_from_file_location("nets_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["nets_under_test"] = module
    spec.loader.exec_module(module)
    yield path, module
    sys.modules.pop("nets_under_test", None)


def _mismatches(result) -> list[str]:
    return sorted(f.code for f in result.findings if f.code in MISMATCH)


def test_a_top_level_args_record_builds_the_class(model_file, tmp_path: Path) -> None:
    path, nets = model_file
    ckpt = tmp_path / "run.pt"
    torch.save(
        {"model": nets.Net(hidden=30, classes=5).state_dict(),
         "args": argparse.Namespace(hidden=30, classes=5), "epoch": 7},
        ckpt,
    )
    assert _mismatches(check(path, "Net", ckpt)) == []
    # --init is stronger than the record: a different hidden size is a real mismatch
    assert _mismatches(check(path, "Net", ckpt, init={"hidden": 8})) == ["shape-mismatch", "shape-mismatch"]


def test_a_record_with_other_keys_gives_the_keys_it_names(model_file, tmp_path: Path) -> None:
    path, nets = model_file
    ckpt = tmp_path / "run.pt"
    torch.save({"model": nets.Net(hidden=30).state_dict(), "args": {"hidden": 30, "lr": 0.1}}, ckpt)
    # `lr` is no constructor parameter; `hidden` is, and the record is the only one that names any
    result = check(path, "Net", ckpt)
    assert _mismatches(result) == []
    assert result.predicted.constructor["hidden"] == ConstructorValue(30, "checkpoint record `args`")
    assert result.predicted.constructor["classes"] == ConstructorValue(3, "default")
    assert "lr" not in result.predicted.constructor


def test_a_record_mostly_about_something_else_is_not_taken(model_file, tmp_path: Path) -> None:
    path, nets = model_file
    ckpt = tmp_path / "run.pt"
    torch.save(
        {"model": nets.Net(hidden=30).state_dict(), "metrics": {"hidden": 30, "loss": 0.1, "acc": 0.9}}, ckpt
    )
    # one key of three, in a record whose name says nothing of the model: the defaults apply
    result = check(path, "Net", ckpt)
    assert _mismatches(result) == ["shape-mismatch", "shape-mismatch"]
    assert result.predicted.constructor["hidden"] == ConstructorValue(8, "default")


def test_a_config_record_fills_the_config_object(model_file, tmp_path: Path) -> None:
    path, nets = model_file
    ckpt = tmp_path / "tower.pt"
    torch.save(
        {"state_dict": nets.Tower(nets.Config(dim=12, depth=3)).state_dict(), "config": {"dim": 12, "depth": 3}},
        ckpt,
    )
    result = check(path, "Tower", ckpt)
    assert _mismatches(result) == []
    assert list(result.predicted.tensors) == [f"blocks.{i}.{t}" for i in range(3) for t in ("weight", "bias")]
    # --config beats the record
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"dim": 12, "depth": 2}))
    assert _mismatches(check(path, "Tower", ckpt, config=config)) == ["unexpected-key"]
