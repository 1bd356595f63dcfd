"""A user's model built around library models and then changed (the fine-tuning idiom):
`torchvision.models.resnet18(...)` reached through the package attribute, its head replaced,
its stem re-built; `timm.create_model(...)`. Ground truth: torch's `state_dict()` on the meta
device."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("torchvision")
pytest.importorskip("timm")

from ckptlens.api import check, predict  # noqa: E402

SOURCE = '''
import torch.nn as nn
import torchvision
import timm


class Surgery(nn.Module):
    def __init__(self, n=10):
        super().__init__()
        self.backbone = torchvision.models.resnet18(weights=None)
        self.backbone.fc = nn.Identity()
        self.backbone.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        self.head = nn.Linear(512, n)
        self.enc = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=1)
        self.vit = timm.create_model("vit_tiny_patch16_224", pretrained=False)
        self.vit.head = nn.Linear(self.vit.embed_dim, n)
'''


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, ...]]]:
    folder = tmp_path_factory.mktemp("surgery")
    path = folder / "surgery.py"
    path.write_text(textwrap.dedent(SOURCE))
    sys.path.insert(0, str(folder))
    try:
        import surgery  # type: ignore[import-not-found]

        with torch.device("meta"):
            state = surgery.Surgery().state_dict()
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("surgery", None)
    return path, {k: tuple(v.shape) for k, v in state.items()}


def test_a_library_model_reached_through_the_package_and_changed(model: Any, tmp_path: Path) -> None:
    """`torchvision.models` is a submodule `torchvision/__init__.py` imports from itself
    (`from torchvision import models`): it resolves as Python resolves it (it used to be
    "defined in terms of itself", leaving the whole backbone unknown)."""
    path, truth = model
    predicted = predict(path, "Surgery")
    assert [(k, t.shape) for k, t in predicted.tensors.items()] == list(truth.items())
    assert predicted.unknown == ()
    torch.save({k: torch.zeros(shape) for k, shape in truth.items()}, tmp_path / "ckpt.pt")
    result = check(path, "Surgery", tmp_path / "ckpt.pt")
    assert result.findings == []
    assert result.coverage.checked == result.coverage.tensors == len(truth)


def test_a_package_that_imports_its_own_submodule(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import layers\nfrom . import blocks as blocks\n")
    (package / "layers.py").write_text("import torch.nn as nn\n\ndef head(n):\n    return nn.Linear(n, 2)\n")
    (package / "blocks.py").write_text("import torch.nn as nn\n\ndef block(n):\n    return nn.Linear(n, n)\n")
    user = tmp_path / "user.py"
    user.write_text(textwrap.dedent(
        """
        import torch.nn as nn
        import pkg

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = pkg.layers.head(3)
                self.block = pkg.blocks.block(3)
        """
    ))
    predicted = predict(user, "Net")
    assert {k: t.shape for k, t in predicted.tensors.items()} == {
        "head.weight": (2, 3), "head.bias": (2,), "block.weight": (3, 3), "block.bias": (3,),
    }
    assert predicted.unknown == ()


HF_SOURCE = '''
import torch.nn as nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertModel


class Clf(nn.Module):
    def __init__(self, n_labels=3):
        super().__init__()
        cfg = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, vocab_size=100)
        self.bert = BertModel(cfg, add_pooling_layer=False)
        self.drop = nn.Dropout(cfg.hidden_dropout_prob)
        self.cls = nn.Linear(cfg.hidden_size, n_labels)


class ForModel(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = AutoConfig.for_model(
            "bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            vocab_size=50, num_labels=4,
        )
        self.m = AutoModelForSequenceClassification.from_config(cfg)
        self.m.classifier = nn.Linear(32, 7)
'''


@pytest.mark.parametrize("name", ["Clf", "ForModel"])
def test_a_transformers_model_built_from_a_config_in_the_user_s_code(name: str, tmp_path: Path) -> None:
    """`AutoConfig.for_model("bert", ...)` (`model_type in CONFIG_MAPPING`, then the class)."""
    pytest.importorskip("transformers")
    path = tmp_path / "hf_user.py"
    path.write_text(textwrap.dedent(HF_SOURCE))
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - the test's own models
    with torch.device("meta"):
        truth = {k: tuple(v.shape) for k, v in namespace[name]().state_dict().items()}
    predicted = predict(path, name)
    assert [(k, t.shape) for k, t in predicted.tensors.items()] == list(truth.items())
    assert predicted.unknown == ()
