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
    assert predicted.unknown == ()
    assert {k: t.shape for k, t in predicted.tensors.items()} == _truth(name)


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("timm.create_model('resnet18', num_classes=7)", {"num_classes": 7}),
        ("timm.create_model('resnet18', pretrained=False, num_classes=0)", {"num_classes": 0}),
        ("timm.create_model('mobilevit_xs', pretrained=False)", {}),
    ],
)
def test_create_model_by_name_finds_the_registered_builder(tmp_path, call: str, kwargs: dict) -> None:
    """`timm.create_model(name)` looks the builder up in the registry `@register_model` fills
    when timm imports its model modules: the analysis finds it by name in timm's sources."""
    source = tmp_path / "model.py"
    source.write_text(
        "import timm\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        f"    def __init__(self):\n        super().__init__()\n        self.backbone = {call}\n"
    )
    name = call.split("'")[1].split(".")[0]
    with torch.device("meta"):
        real = timm.create_model(name, **kwargs)
    predicted = predict(source, "Net")
    assert predicted.unknown == ()
    assert {k: t.shape for k, t in predicted.tensors.items()} == {
        f"backbone.{k}": tuple(v.shape) for k, v in real.state_dict().items()
    }


def test_create_model_of_a_name_timm_does_not_register_is_unknown(tmp_path) -> None:
    source = tmp_path / "model.py"
    source.write_text(
        "import timm\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.backbone = timm.create_model('no_such_net')\n"
        "        self.fc = nn.Linear(2, 3)\n"
    )
    predicted = predict(source, "Net")
    assert [p.prefix for p in predicted.unknown] == ["backbone"]
    assert set(predicted.tensors) == {"fc.weight", "fc.bias"}
