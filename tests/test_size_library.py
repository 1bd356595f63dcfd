"""Model size of library models (transformers, read from the installed sources and shaped by a
config) against `sum(p.numel() for p in model.parameters())` of the real model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from ckptlens.api import Analyzer, predict  # noqa: E402
from ckptlens.engine.size import model_size  # noqa: E402
from hf_architectures import ARCHITECTURES  # noqa: E402

ANALYZER = Analyzer()


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user") / "train.py"
    names = sorted({name for arch in ARCHITECTURES for name in arch[:2]})
    path.write_text("from transformers import (\n" + "".join(f"    {n},\n" for n in names) + ")\n")
    return path


@pytest.mark.parametrize(("cls_name", "cfg_name", "cfg"), ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_size_equals_the_real_model(user_file: Path, cls_name: str, cfg_name: str, cfg: dict[str, Any]) -> None:
    predicted = predict(user_file, cls_name, config=cfg, analyzer=ANALYZER)
    torch.manual_seed(0)
    model = getattr(transformers, cls_name)(getattr(transformers, cfg_name)(**cfg))
    size = model_size(predicted).total
    params = sum(p.numel() for p in model.parameters())
    state = model.state_dict(keep_vars=True)
    persistent = {id(t) for t in state.values()}
    buffers = sum(b.numel() for b in model.buffers() if id(b) in persistent)
    assert not size.lower_bound, size.unknown
    assert (size.parameters, size.buffers) == (params, buffers)
