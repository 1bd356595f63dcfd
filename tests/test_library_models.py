"""Library models: transformers classes read from the installed sources, shaped by a config, and
factory functions. Ground truth is always the real `model.state_dict()`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from ckptlens.api import Analyzer, check, predict  # noqa: E402
from hf_architectures import ARCHITECTURES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MISMATCH = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}

# One analyzer for the module: transformers' sources are parsed once, as in the language server.
ANALYZER = Analyzer()


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's code: it only imports the library classes."""
    path = tmp_path_factory.mktemp("user") / "train.py"
    names = sorted({name for arch in ARCHITECTURES for name in arch[:2]})
    path.write_text("from transformers import (\n" + "".join(f"    {n},\n" for n in names) + ")\n")
    return path


def _real(cls_name: str, cfg_name: str, cfg: dict[str, Any]) -> Any:
    torch.manual_seed(0)
    config = getattr(transformers, cfg_name)(**cfg)
    return getattr(transformers, cls_name)(config)


@pytest.mark.parametrize(("cls_name", "cfg_name", "cfg"), ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_prediction_equals_the_real_state_dict(user_file: Path, cls_name: str, cfg_name: str, cfg: dict[str, Any]) -> None:
    predicted = predict(user_file, cls_name, config=cfg, analyzer=ANALYZER)
    real = _real(cls_name, cfg_name, cfg).state_dict()
    assert [(k, t.shape, t.dtype) for k, t in predicted.tensors.items()] == [
        (k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in real.items()
    ]
    assert predicted.unknown == ()
    assert [f for f in predicted.findings if f.code == "unresolved"] == []


# Every architecture as save_pretrained writes it: legacy key names (ViT, DeiT), tied weights
# stored once (T5, Marian), keys transformers accepts as missing (Marian's positions) -- a
# correct checkpoint must never produce a mismatch.
SAVED = [a[0] for a in ARCHITECTURES]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`save_pretrained` folders (config.json + model.safetensors), as from_pretrained reads them."""
    out = {}
    for cls_name, cfg_name, cfg in ARCHITECTURES:
        if cls_name in SAVED:
            folder = tmp_path_factory.mktemp(cls_name)
            _real(cls_name, cfg_name, cfg).save_pretrained(folder)
            out[cls_name] = folder
    return out


@pytest.mark.parametrize("cls_name", SAVED)
def test_a_saved_folder_fits_its_class_with_config_json_beside_it(user_file: Path, saved: dict[str, Path], cls_name: str) -> None:
    result = check(user_file, cls_name, saved[cls_name], analyzer=ANALYZER)
    assert [f for f in result.findings if f.code in MISMATCH] == []
    # every key of config.json reaches the config (PreTrainedConfig keeps the extra ones)
    assert [f.message for f in result.findings if f.code == "unused-config"] == []
    assert result.predicted.constructor["config"].source == "config.json in the checkpoint folder"
    # save_pretrained stores tied weights once (T5's shared embedding); they are re-tied on load
    retied = [k for f in result.findings if f.code == "tied-weights" for k in f.model_keys]
    allowed = [k for f in result.findings if f.code == "missing-allowed" for k in f.model_keys]
    stored = set(safetensors_keys(saved[cls_name]))
    assert set(result.mapping.mapping) == stored  # every stored key fills a model key
    filled = set(result.mapping.mapping.values())
    absent = [k for k in result.predicted.tensors if k not in filled]
    assert sorted(retied + allowed) == sorted(absent)
    assert all(k in result.predicted.tied for k in retied) and all(k in result.predicted.optional for k in allowed)
    assert result.comparison.matched == result.comparison.total - len(absent) == len(result.predicted.tensors) - len(absent)
    assert result.mapping.dropped == [] and sorted(result.mapping.missing) == sorted(absent)


def safetensors_keys(folder: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        return list(handle.keys())


def test_t5_ties_are_known(user_file: Path) -> None:
    cfg = next(a for a in ARCHITECTURES if a[0] == "T5ForConditionalGeneration")[2]
    predicted = predict(user_file, "T5ForConditionalGeneration", config=cfg, analyzer=ANALYZER)
    assert predicted.tied == {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
        "lm_head.weight": "shared.weight",
    }


def test_config_json_shapes_the_model_so_a_different_size_is_a_shape_mismatch(user_file: Path, saved: dict[str, Path], tmp_path: Path) -> None:
    # The checkpoint's config.json says hidden 32; --config says 48: every hidden-sized tensor differs.
    base = next(a for a in ARCHITECTURES if a[0] == "LlamaForCausalLM")[2]
    config = tmp_path / "bigger.json"
    config.write_text(json.dumps({**base, "hidden_size": 48}))
    result = check(user_file, "LlamaForCausalLM", saved["LlamaForCausalLM"], config=config, analyzer=ANALYZER)
    mismatched = {k for f in result.findings if f.code == "shape-mismatch" for k in f.model_keys}
    assert "model.embed_tokens.weight" in mismatched and "lm_head.weight" in mismatched
    assert not any(f.code in {"missing-key", "unexpected-key", "renamed-module"} for f in result.findings)


def test_task_checkpoint_into_the_base_model_is_the_base_model_prefix(user_file: Path, saved: dict[str, Path]) -> None:
    """A BertForSequenceClassification checkpoint loaded into BertModel: every encoder key sits
    under `bert.` (transformers strips it); the classifier head is unexpected."""
    result = check(user_file, "BertModel", saved["BertForSequenceClassification"], analyzer=ANALYZER)
    codes = sorted(f.code for f in result.findings if f.code in MISMATCH)
    assert codes == ["key-prefix", "unexpected-key"]
    prefix = next(f for f in result.findings if f.code == "key-prefix")
    assert prefix.checkpoint_prefix == "bert"
    unexpected = next(f for f in result.findings if f.code == "unexpected-key")
    assert sorted(unexpected.checkpoint_keys) == ["classifier.bias", "classifier.weight"]
    assert result.mapping.missing == []
    assert set(result.mapping.dropped) == {"classifier.bias", "classifier.weight"}


def test_factory_function_with_init_through_the_cli(tmp_path: Path) -> None:
    """`--class` names a function returning a module (torchvision style `resnet18(num_classes=5)`)."""
    source = ROOT / "fixtures" / "models" / "resnet.py"
    sys.path.insert(0, str(source.parent))
    try:
        import resnet  # the fixture file itself, built with torch for the checkpoint
    finally:
        sys.path.remove(str(source.parent))
    factory = next(name for name in ("resnet18", "resnet_tiny", "resnet10") if hasattr(resnet, name))
    ckpt = tmp_path / "r.pt"
    torch.save(getattr(resnet, factory)(num_classes=5).state_dict(), ckpt)
    base = [sys.executable, "-m", "ckptlens", "check", str(source), "--class", factory, "--checkpoint", str(ckpt), "--format", "json"]
    fits = subprocess.run([*base, "--init", "num_classes=5"], capture_output=True, text=True)
    assert fits.returncode == 0, fits.stderr
    assert [f for f in json.loads(fits.stdout)["findings"] if f["code"] in MISMATCH] == []
    wrong = subprocess.run([*base, "--init", "num_classes=7"], capture_output=True, text=True)
    assert wrong.returncode == 1
    findings = json.loads(wrong.stdout)["findings"]
    assert {f["code"] for f in findings} == {"shape-mismatch"}
    assert {k for f in findings for k in f["model_keys"]} == {"fc.weight", "fc.bias"}


def test_legacy_key_names_are_renamed_as_transformers_loads_them(user_file: Path, tmp_path: Path) -> None:
    """Old BERT checkpoints call LayerNorm parameters gamma/beta; from_pretrained renames them."""
    from safetensors.torch import save_file

    cls_name, cfg_name, cfg = next(a for a in ARCHITECTURES if a[0] == "BertModel")
    model = _real(cls_name, cfg_name, cfg)
    state = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v.contiguous()
        for k, v in model.state_dict().items()
    }
    assert any(k.endswith("LayerNorm.gamma") for k in state)
    folder = tmp_path / "old-bert"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    model.config.to_json_file(str(folder / "config.json"))
    result = check(user_file, cls_name, folder, analyzer=ANALYZER)
    assert [f for f in result.findings if f.code in MISMATCH] == []
    # the mapping speaks the file's own key names
    assert result.mapping.mapping["embeddings.LayerNorm.gamma"] == "embeddings.LayerNorm.weight"


VARIANTS = ["clean", "module-prefix", "renamed", "dropped", "added"]


def _variant(state: dict[str, torch.Tensor], predicted: Any, variant: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The checkpoint for `variant` and what must be found."""
    protected = set(predicted.tied) | set(predicted.tied.values()) | predicted.optional
    if variant == "clean":
        return dict(state), {}
    if variant == "module-prefix":
        return {f"module.{k}": v for k, v in state.items()}, {"key-prefix": "module"}
    if variant == "renamed":
        # the shallowest submodule with a few tensors of its own (ties stay where they are)
        candidates = sorted(
            (p for p in predicted.modules
             if p and len([k for k in state if k.startswith(p + ".")]) >= 2
             and not any(k.startswith(p + ".") for k in protected)),
            key=lambda p: p.count("."),
        )
        path = candidates[0]
        new = f"{path}_v0"
        renamed = {(new + k[len(path):] if k.startswith(path + ".") else k): v for k, v in state.items()}
        return renamed, {"renamed-module": (path, new)}
    if variant == "dropped":
        # the last module whose tensors are all its own (no ties, nothing the loader may skip)
        candidates = [
            p for p in predicted.modules
            if p and (keys := [k for k in state if k.startswith(p + ".")])
            and not any(k in protected for k in keys)
            and any(k not in keys for k in state)
        ]
        path = candidates[-1]
        # its highest ancestor that loses everything is what the finding names
        keys = [k for k in state if k.startswith(path + ".")]
        return {k: v for k, v in state.items() if k not in keys}, {"missing-key": keys}
    extra = {"extra_head.weight": torch.zeros(3, 3), "extra_head.bias": torch.zeros(3)}
    return {**state, **extra}, {"unexpected-key": sorted(extra)}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("cls_name", "cfg_name", "cfg"), ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_checkpoint_variants_of_every_architecture(
    user_file: Path, tmp_path: Path, cls_name: str, cfg_name: str, cfg: dict[str, Any], variant: str
) -> None:
    """torch.save'd state_dicts of the real model, perturbed the way the engine issue's
    fixtures are: exactly the expected finding, and a mapping that really loads."""
    model = _real(cls_name, cfg_name, cfg)
    state = model.state_dict()
    predicted = predict(user_file, cls_name, config=cfg, analyzer=ANALYZER)
    written, expected = _variant(state, predicted, variant)
    ckpt = tmp_path / "model.pt"
    torch.save(written, ckpt)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    result = check(user_file, cls_name, ckpt, config=config, analyzer=ANALYZER)
    found = [f for f in result.findings if f.code in MISMATCH]
    assert sorted(f.code for f in found) == sorted(expected), [(f.code, f.message) for f in found]
    for finding in found:
        if finding.code == "key-prefix":
            assert finding.checkpoint_prefix == expected["key-prefix"]
        elif finding.code == "renamed-module":
            assert (finding.model_prefix, finding.checkpoint_prefix) == expected["renamed-module"]
        elif finding.code == "missing-key":
            assert sorted(finding.model_keys) == sorted(expected["missing-key"])
        elif finding.code == "unexpected-key":
            assert sorted(finding.checkpoint_keys) == expected["unexpected-key"]
    # the mapping makes load_state_dict accept the checkpoint, every tensor in its place
    mapping = result.mapping
    remapped = {mapping.mapping.get(k, k): v for k, v in written.items() if k not in set(mapping.dropped)}
    fresh = _real(cls_name, cfg_name, cfg)
    fresh.load_state_dict(remapped, strict=not mapping.missing)
    loaded = fresh.state_dict()
    for key, value in remapped.items():
        assert torch.equal(loaded[key], value), key


def test_a_key_already_in_the_new_layout_is_not_renamed_again() -> None:
    """transformers keeps a checkpoint key the model has when its renaming would produce one the
    model lacks (`token_embedding.` -> `embeddings.token_embedding.` also matches inside
    `embeddings.token_embedding.weight`); an old-layout key is still renamed."""
    from ckptlens.engine.hf_conversion import Transform, convert_keys

    scoped = [("", Transform("rename", (r"token_embedding\.",), ("embeddings.token_embedding.",))),
              ("", Transform("convert", (r"\.in_proj_weight",), (".q_proj.weight", ".k_proj.weight")))]
    model = {"embeddings.token_embedding.weight", "layers.0.q_proj.weight", "layers.0.k_proj.weight",
             "layers.1.in_proj_weight"}
    keys = ["embeddings.token_embedding.weight", "token_embedding.weight", "layers.0.in_proj_weight",
            "layers.1.in_proj_weight"]
    converted = convert_keys(scoped, keys, model_keys=model)
    assert converted.renamed == {"token_embedding.weight": "embeddings.token_embedding.weight"}
    assert converted.converted == {"layers.0.in_proj_weight"}
    # without the model's keys: every match renames, as before
    blind = convert_keys(scoped, keys)
    assert blind.renamed["embeddings.token_embedding.weight"] == "embeddings.embeddings.token_embedding.weight"
    assert blind.converted == {"layers.0.in_proj_weight", "layers.1.in_proj_weight"}
