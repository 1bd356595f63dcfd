"""A user's model built around library models and then changed (the fine-tuning idiom):
`torchvision.models.resnet18(...)` reached through the package attribute, its head replaced,
its stem re-built; `timm.create_model(...)`. Ground truth: torch's `state_dict()` on the meta
device."""

from __future__ import annotations

import json
import os
import subprocess
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


PRETRAINED_SOURCE = '''
import torch.nn as nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, BertModel


class Hub(nn.Module):
    def __init__(self, name="org/tiny-bert"):
        super().__init__()
        self.enc = AutoModel.from_pretrained(name)
        self.head = nn.Linear(self.enc.config.hidden_size, 2)


class Local(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = BertModel.from_pretrained("local_model", add_pooling_layer=False)
        cfg = AutoConfig.from_pretrained("org/tiny-bert", num_labels=5)
        self.clf = AutoModelForSequenceClassification.from_pretrained("org/tiny-bert", config=cfg)
        self.clf2 = AutoModelForSequenceClassification.from_pretrained("org/tiny-bert", num_labels=3)


class Missing(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = AutoModel.from_pretrained("org/not-downloaded")
        self.head = nn.Linear(4, 2)
'''


def _hub_snapshot(hub: Path, repo: str, model: Any) -> None:
    commit = "a" * 40
    folder = hub / ("models--" + repo.replace("/", "--"))
    model.save_pretrained(folder / "snapshots" / commit)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A Hugging Face cache and a local folder holding tiny saved models, and the user's file
    beside the folder; torch's own models, loaded by transformers from them (offline)."""
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("pretrained")
    hub = root / "hub"
    small = dict(num_attention_heads=2, intermediate_size=64)
    _hub_snapshot(hub, "org/tiny-bert", transformers.BertModel(transformers.BertConfig(
        hidden_size=48, num_hidden_layers=2, vocab_size=120, **small)))
    transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=1, vocab_size=60, **small)
                           ).save_pretrained(root / "local_model")
    path = root / "user.py"
    path.write_text(textwrap.dedent(PRETRAINED_SOURCE))
    # torch's truth in a fresh process: huggingface_hub reads HF_HUB_CACHE when imported; run
    # from the folder, as `from_pretrained("local_model")` is relative to where a program runs
    code = (
        "import json, user\n"
        "print(json.dumps({n: {k: list(v.shape) for k, v in getattr(user, n)().state_dict().items()}"
        " for n in ('Hub', 'Local')}))\n"
    )
    # (PYTHONPATH keeps conftest's tests/site, whose sitecustomize lets torchvision import)
    pythonpath = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "PYTHONPATH": pythonpath}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True)
    shapes = json.loads(run.stdout.strip().splitlines()[-1])
    truth = {name: {k: tuple(v) for k, v in keys.items()} for name, keys in shapes.items()}
    return path, hub, truth


@pytest.mark.parametrize("name", ["Hub", "Local"])
def test_from_pretrained_reads_the_model_s_config_json_on_this_machine(
    pretrained: Any, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`AutoModel.from_pretrained("org/tiny-bert")` (the Hugging Face cache), a local folder
    beside the file, `config=` and config keywords (`num_labels=3`): the model that config
    builds, exactly; a dropped key is still found."""
    path, hub, truth = pretrained
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    predicted = predict(path, name)
    assert [(k, t.shape) for k, t in predicted.tensors.items()] == list(truth[name].items())
    assert predicted.unknown == ()
    state = {k: torch.zeros(shape) for k, shape in truth[name].items()}
    torch.save(state, tmp_path / "ckpt.pt")
    result = check(path, name, tmp_path / "ckpt.pt")
    assert result.findings == []
    assert result.coverage.checked == result.coverage.tensors
    dropped = list(state)[-1]
    del state[dropped]
    torch.save(state, tmp_path / "ckpt.pt")
    assert [(f.code, f.model_keys) for f in check(path, name, tmp_path / "ckpt.pt").findings] == [
        ("missing-key", (dropped,))
    ]


def test_from_pretrained_of_a_model_not_on_this_machine_is_unknown_and_says_where_it_looked(
    pretrained: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, hub, _ = pretrained
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    cache = tmp_path / "cache"
    env = {**os.environ, "CKPTLENS_CACHE_DIR": str(cache)}

    def keys() -> dict[str, Any]:
        run = subprocess.run([sys.executable, "-m", "ckptlens", "keys", str(path), "--class", "Missing", "--format", "json"],
                             capture_output=True, text=True, env=env, check=True)
        return json.loads(run.stdout)

    before = keys()
    assert list(before["keys"]) == ["head.weight", "head.bias"]
    [finding] = [f for f in before["findings"] if f["code"] == "unresolved"]
    assert "`from_pretrained('org/not-downloaded')`: its config.json is not on this machine" in finding["message"]
    assert str(hub) in finding["message"]
    # downloaded since: the cached answer is not reused
    transformers = pytest.importorskip("transformers")
    _hub_snapshot(hub, "org/not-downloaded", transformers.BertModel(transformers.BertConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=30)))
    after = keys()
    assert "enc.embeddings.word_embeddings.weight" in after["keys"]
    assert after["keys"]["enc.embeddings.word_embeddings.weight"] == [30, 16]
