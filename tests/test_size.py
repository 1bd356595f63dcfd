"""Model size from the prediction alone, against torch over the fixture corpus.

For every case: `parameters` is `sum(p.numel() for p in model.parameters())`, `buffers` the
persistent buffers' elements, `bytes` the state_dict's distinct tensors' bytes; exact cases say
so, cases with unknowable parts give a lower bound that never exceeds torch's count. Per
top-level submodule the same, against `getattr(model, name).parameters()`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from ckptlens.engine.size import (
    format_bytes,
    format_count,
    lens_text,
    model_size,
    totals_line,
)
from fixture_cases import CASES, Case
from fixture_truth import fixture_path, make
from test_predict_fixtures import predicted


def _torch_sizes(model: nn.Module) -> tuple[int, int, int]:
    params = sum(p.numel() for p in model.parameters())
    state = model.state_dict(keep_vars=True)
    persistent = {id(t) for t in state.values()}
    buffers = sum(b.numel() for b in model.buffers() if id(b) in persistent)
    seen: set[int] = set()
    nbytes = 0
    for t in state.values():
        if id(t) not in seen:
            seen.add(id(t))
            nbytes += t.numel() * t.element_size()
    return params, buffers, nbytes


SIZE_CASES = CASES


@pytest.mark.parametrize("case", SIZE_CASES, ids=[c.id for c in CASES])
def test_totals_match_torch(case: Case) -> None:
    pred = predicted(case)
    size = model_size(pred)
    model = make(case.file, case.class_name, case.init)
    params, buffers, nbytes = _torch_sizes(model)
    t = size.total
    if case.exact:
        assert not t.lower_bound, t.unknown
        assert (t.parameters, t.buffers, t.bytes) == (params, buffers, nbytes)
    else:
        # unknown parts: a lower bound, said so, never above the real count
        assert t.lower_bound and t.unknown
        assert t.parameters <= params and t.buffers <= buffers and t.bytes <= nbytes
    for name, part in size.submodules.items():
        if not name:
            continue
        sub = dict(model.named_modules(remove_duplicate=False))[name]  # `double`, two names
        sub_params = sum(p.numel() for p in sub.parameters())
        if part.lower_bound:
            assert part.parameters <= sub_params
        else:
            assert part.parameters == sub_params, name


def test_tied_parameter_counted_once() -> None:
    case = next(c for c in CASES if c.id.startswith("tying.RNNModel"))
    pred = predicted(case)
    assert pred.tied  # the fixture ties decoder.weight to encoder.weight
    model = make(case.file, case.class_name, case.init)
    assert model_size(pred).total.parameters == sum(p.numel() for p in model.parameters())
    assert model_size(pred).total.parameters < sum(
        t.numel() for k, t in model.state_dict().items() if k in dict(model.named_parameters(remove_duplicate=False))
    )


def test_formats() -> None:
    assert format_bytes(46_758_048 + 38_544) == "44.6 MiB"
    assert format_bytes(512) == "512 B"
    assert format_bytes(3 * 1024 + 200) == "3.2 KiB"
    assert format_count(11_689_512) == "11.7 M"
    assert format_count(850) == "850"
    from ckptlens.engine.size import Totals

    t = Totals(parameters=11_689_512, bytes=46_796_592, dtypes={"float32": 11_689_512})
    assert totals_line(t) == "11,689,512 params · 44.6 MiB"
    assert lens_text(t) == "11.7 M params · 44.6 MiB fp32"
    t.lower_bound = True
    assert totals_line(t) == "≥ 11,689,512 params · ≥ 44.6 MiB"
    t.dtypes["bfloat16"] = 3
    assert lens_text(t).endswith(" mixed")


def _keys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", "keys", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def test_keys_cli_totals() -> None:
    case = next(c for c in CASES if c.id == "resnet.Classifier")
    model = make(case.file, case.class_name, case.init)
    params, buffers, nbytes = _torch_sizes(model)
    proc = _keys(str(fixture_path(case.file)), "--class", case.class_name, "--format", "json")
    data = json.loads(proc.stdout)
    assert data["totals"] == {"parameters": params, "buffers": buffers, "bytes": nbytes, "lower_bound": False}
    assert list(data)[:3] == ["keys", "findings", "totals"]
    text = _keys(str(fixture_path(case.file)), "--class", case.class_name).stdout.splitlines()
    assert text[-1] == f"{params:,} params · {format_bytes(nbytes)}"
    children = dict(model.named_children())
    for name, sub in children.items():
        sub_params = sum(p.numel() for p in sub.parameters())
        assert any(line.split() [:2] == [name, f"{sub_params:,}"] for line in text), (name, text[-6:])


def test_keys_cli_lower_bound() -> None:
    case = next(c for c in CASES if not c.exact and c.unresolved)
    proc = _keys(str(fixture_path(case.file)), "--class", case.class_name, "--format", "json")
    assert json.loads(proc.stdout)["totals"]["lower_bound"] is True
    text = _keys(str(fixture_path(case.file)), "--class", case.class_name).stdout.splitlines()
    assert text[-1].startswith("≥ ")


def test_library_model_matches_torch() -> None:
    """A torchvision resnet18, from its source in the installed library."""
    import torchvision

    from ckptlens import api

    source = torchvision.models.resnet.__file__
    pred = api.predict(source, "resnet18")
    size = model_size(pred)
    model = torchvision.models.resnet18()
    params, buffers, nbytes = _torch_sizes(model)
    assert (size.total.parameters, size.total.buffers, size.total.bytes, size.total.lower_bound) == (
        params, buffers, nbytes, False,
    )  # fmt: skip
    assert totals_line(size.total) == "11,689,512 params · 44.6 MiB"
    assert lens_text(size.total) == "11.7 M params · 44.6 MiB fp32"
    assert torch.__version__  # torch builds the truth; the engine never imports it
