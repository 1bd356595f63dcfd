"""timm's builder, read from the installed sources: the variant's pretrained cfg sets the model's
default arguments (`num_classes`, ...), as `timm.create_model` does. Ground truth: torch."""

from __future__ import annotations

import inspect

import pytest
import torch

timm = pytest.importorskip("timm")

from ckptlens.api import predict  # noqa: E402


def _truth(name: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = timm.create_model(name)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "name",
    [
        "resnet50",  # add_module(*stage), to_2tuple (itertools.repeat), get_attn(None)
        "vit_base_patch32_clip_256",  # head of 512 from the pretrained cfg, feature flags, partial.func
    ],
)
def test_timm_variant_prediction_equals_torch(name: str) -> None:
    from timm.models._registry import _model_entrypoints

    entry = inspect.unwrap(_model_entrypoints[name])
    predicted = predict(inspect.getsourcefile(entry), entry.__name__)
    assert predicted.unknown == []
    assert {k: t.shape for k, t in predicted.tensors.items()} == _truth(name)
