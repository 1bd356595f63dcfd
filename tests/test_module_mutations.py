"""Calls that change a module's keys after it is built: torch.nn.utils' pruning and
parametrizations (and their undoing), container `pop`/`clear`/`insert`, and calls the analysis
cannot follow. Each model is built by torch here, its own `state_dict()` saved and checked: the
prediction equals torch's keys, shapes and order exactly, or what cannot be followed is unknown
-- never a mismatch finding on a correct checkpoint."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from ckptlens.api import check, predict

MISMATCH = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}

SOURCE = '''
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune
from torch.nn.utils import parametrize, parametrizations, remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)


class Scaled(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * self.scale


class Pruned(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        prune.l1_unstructured(self.fc, "weight", amount=0.5)
        prune.random_unstructured(self.fc, "weight", amount=0.2)
        self.conv = nn.Conv2d(2, 5, 3)
        prune.ln_structured(self.conv, "weight", amount=0.3, n=2, dim=0)
        prune.l1_unstructured(self.conv, "bias", amount=0.2)
        prune.remove(self.conv, "weight")
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 3)
        prune.global_unstructured([(self.a, "weight"), (self.b, "bias")], pruning_method=prune.L1Unstructured, amount=0.2)


class Parametrized(nn.Module):
    def __init__(self):
        super().__init__()
        self.sym = nn.Linear(3, 3)
        parametrize.register_parametrization(self.sym, "weight", Symmetric())
        self.twice = nn.Linear(3, 3)
        parametrize.register_parametrization(self.twice, "weight", Symmetric())
        parametrize.register_parametrization(self.twice, "weight", Scaled(3))
        self.scaled = nn.Linear(4, 2)
        parametrize.register_parametrization(self.scaled, "bias", Scaled(2))
        self.ortho = parametrizations.orthogonal(nn.Linear(4, 4))
        self.removed = nn.Linear(3, 3)
        parametrize.register_parametrization(self.removed, "weight", Symmetric())
        parametrize.remove_parametrizations(self.removed, "weight")
        self.wn = parametrizations.weight_norm(nn.Linear(4, 5))
        parametrize.remove_parametrizations(self.wn, "weight")


class Undone(nn.Module):
    def __init__(self):
        super().__init__()
        self.wn = weight_norm(nn.Conv1d(2, 4, 3))
        remove_weight_norm(self.wn)
        self.sn = spectral_norm(nn.Linear(5, 6))
        remove_spectral_norm(self.sn)
        self.kept = weight_norm(nn.Linear(2, 2))


class Containers(nn.Module):
    def __init__(self):
        super().__init__()
        self.md = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.Linear(1, 2), "c": nn.Linear(2, 2)})
        self.md.pop("b")
        self.ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2), nn.Linear(1, 3)])
        first = self.ml.pop(0)
        self.moved = first
        self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3))
        self.seq.pop(1)
        self.seq.insert(1, nn.Conv1d(2, 2, 1))
        self.emptied = nn.ModuleDict({"x": nn.Linear(1, 1)})
        self.emptied.clear()
        self.pd = nn.ParameterDict({"p": nn.Parameter(torch.ones(2)), "q": nn.Parameter(torch.ones(3))})
        self.pd.pop("p")


class Retyped(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.emb.weight.data = torch.zeros(20, 8)
        self.half_ = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).half()
        self.bf = nn.Linear(2, 2).to(torch.bfloat16)
        self.dev = nn.Linear(2, 2).to("cpu")
        self.both = nn.Linear(2, 2).to("cpu", torch.float64)
        self.like = nn.Linear(2, 2).to(torch.zeros(1, dtype=torch.float16))
        self.register_buffer("table", torch.zeros(3, 4))
        self.table.data = torch.zeros(5, 4, dtype=torch.int64)


class Unfollowed(nn.Module):
    def __init__(self):
        super().__init__()
        from not_installed_lib import wrap

        self.w = nn.Linear(3, 3)
        wrap(self.w)
        self.fused = torch.nn.utils.fusion.fuse_conv_bn_eval(nn.Conv2d(2, 2, 1).eval(), nn.BatchNorm2d(2).eval())
        self.kept = nn.Linear(2, 2)


class RightInverse(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        parametrize.register_parametrization(self.fc, "weight", Split())


class Split(nn.Module):
    def forward(self, a, b):
        return a + b

    def right_inverse(self, w):
        return w / 2, w / 2
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("mutations") / "model.py"
    path.write_text(textwrap.dedent(SOURCE))
    # `not_installed_lib.wrap` is unknown to the analysis; torch's run registers a buffer
    stub = types.ModuleType("not_installed_lib")
    stub.wrap = lambda m: m.register_buffer("extra", torch.zeros(1))  # type: ignore[attr-defined]
    sys.modules["not_installed_lib"] = stub
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - the test's own models
    return path, namespace


def _truth(models: tuple[Path, dict[str, Any]], name: str) -> dict[str, tuple[int, ...]]:
    torch.manual_seed(0)
    return {k: tuple(v.shape) for k, v in models[1][name]().state_dict().items()}


def _saved(models: tuple[Path, dict[str, Any]], name: str, tmp_path: Path, drop: str | None = None) -> Path:
    torch.manual_seed(0)
    state = dict(models[1][name]().state_dict())
    if drop is not None:
        del state[drop]
    torch.save(state, tmp_path / "ckpt.pt")
    return tmp_path / "ckpt.pt"


def _mismatches(result: Any) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.code, tuple(f.model_keys or f.checkpoint_keys)) for f in result.findings if f.code in MISMATCH]


@pytest.mark.parametrize("name", ["Pruned", "Parametrized", "Undone", "Containers", "Retyped"])
def test_the_keys_are_torch_s_own_in_its_order(models: Any, name: str, tmp_path: Path) -> None:
    predicted = predict(models[0], name)
    assert [(k, t.shape) for k, t in predicted.tensors.items()] == list(_truth(models, name).items())
    assert predicted.unknown == ()
    result = check(models[0], name, _saved(models, name, tmp_path))
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors


@pytest.mark.parametrize(
    ("name", "drop"),
    [
        ("Pruned", "fc.weight_mask"),
        ("Parametrized", "twice.parametrizations.weight.1.scale"),
        ("Undone", "sn.weight"),
        ("Containers", "seq.1.weight"),
    ],
)
def test_a_dropped_key_is_still_found(models: Any, name: str, drop: str, tmp_path: Path) -> None:
    result = check(models[0], name, _saved(models, name, tmp_path, drop))
    assert _mismatches(result) == [("missing-key", (drop,))]


def test_data_assignment_and_casts_give_torch_s_shapes_and_dtypes(models: Any, tmp_path: Path) -> None:
    """`emb.weight.data = torch.zeros(20, 8)` changes the shape a checkpoint must have;
    `.half()`, `.to(torch.bfloat16)`, `.to(tensor)` change the floating dtypes (not
    `num_batches_tracked`), `.to("cpu")` nothing."""
    torch.manual_seed(0)
    state = models[1]["Retyped"]().state_dict()
    predicted = predict(models[0], "Retyped")
    dtypes = {k: str(v.dtype).removeprefix("torch.") for k, v in state.items()}
    assert [(k, t.shape, t.dtype) for k, t in predicted.tensors.items()] == [
        (k, tuple(v.shape), dtypes[k]) for k, v in state.items()
    ]
    result = check(models[0], "Retyped", _saved(models, "Retyped", tmp_path))
    assert [f.code for f in result.findings] == []


def test_a_module_given_to_a_call_the_analysis_cannot_follow_may_hold_more(models: Any, tmp_path: Path) -> None:
    """`wrap(self.w)` from a library that cannot be resolved may register tensors on `w`:
    torch's `w.extra` is unverified, never an unexpected-key error; a library function that
    returns a module (`fuse_conv_bn_eval`) is an unknown submodule."""
    truth = _truth(models, "Unfollowed")
    assert "w.extra" in truth
    result = check(models[0], "Unfollowed", _saved(models, "Unfollowed", tmp_path))
    assert _mismatches(result) == []
    unverified = [f for f in result.findings if f.code == "unverified"]
    assert sorted(k for f in unverified for k in f.checkpoint_keys) == ["fused.bias", "fused.weight", "w.extra"]
    assert result.coverage.unchecked == 3
    assert result.coverage.checked == len(truth) - 3


def test_a_parametrization_with_right_inverse_is_unknown(models: Any, tmp_path: Path) -> None:
    """What `right_inverse` returns becomes the originals (`original0`, `original1` here): not
    followed, so that part is unknown, and the rest is still checked."""
    predicted = predict(models[0], "RightInverse")
    assert [p.prefix for p in predicted.unknown] == ["fc.parametrizations.weight"]
    assert list(predicted.tensors) == ["fc.bias"]
    result = check(models[0], "RightInverse", _saved(models, "RightInverse", tmp_path))
    assert _mismatches(result) == []
    assert sorted(_truth(models, "RightInverse")) == [
        "fc.bias", "fc.parametrizations.weight.original0", "fc.parametrizations.weight.original1",
    ]
