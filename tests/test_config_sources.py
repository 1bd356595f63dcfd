"""Constructor values from every place a user keeps them (SPEC section 3, issue 11 item 5): a
config mapping for a class taking keyword arguments (`**kwargs`, a decorator-registered config),
`config.json` beside a single checkpoint file, the best-matching record of a training checkpoint,
and where every value came from. Ground truth: the model built in torch with those values."""

from __future__ import annotations

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
    import functools

    import torch.nn as nn


    def register_to_config(init):
        # records the arguments the way diffusers' decorator does, then runs __init__
        @functools.wraps(init)
        def inner(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self._registered = dict(kwargs)
        return inner


    class Registered(nn.Module):
        @register_to_config
        def __init__(self, width: int = 8, depth: int = 2, classes: int = 3):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
            self.head = nn.Linear(width, classes)


    class Loose(nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            width = kwargs.get("width", 8)
            depth = kwargs.get("depth", 2)
            self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
            self.head = nn.Linear(width, kwargs.get("classes", 3))


    class Mixed(nn.Module):
        def __init__(self, width: int = 8, depth: int = 2, **kwargs):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
            self.head = nn.Linear(width, kwargs.pop("classes", 3))


    _models = {}


    def register_model(fn):
        _models[fn.__name__] = fn
        return fn


    @register_model
    def small_net(pretrained=False, **kwargs):
        # a timm-style registered factory: the model's keyword arguments pass through
        args = dict(width=12)
        return Mixed(**dict(args, **kwargs))


    class Classifier(nn.Module):
        def __init__(self, num_classes: int = 1000, width: int = 8, depth: int = 2):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
            self.head = nn.Linear(width, num_classes)


    @register_model
    def classifier_small(pretrained=False, **kwargs):
        return Classifier(**dict(dict(width=12), **kwargs))
"""

# Far from every default, so predicting from the defaults mismatches nearly every tensor.
CONFIG = {"width": 24, "depth": 5, "classes": 7}


@pytest.fixture
def nets(tmp_path: Path):
    path = tmp_path / "nets.py"
    path.write_text(textwrap.dedent(SOURCE))
    spec = importlib.util.spec_from_file_location("config_sources_nets", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["config_sources_nets"] = module
    spec.loader.exec_module(module)
    yield path, module
    sys.modules.pop("config_sources_nets", None)


def _mismatches(result) -> list[str]:
    return sorted(f.code for f in result.findings if f.code in MISMATCH)


def _save(tmp_path: Path, model: torch.nn.Module, name: str = "model.pt") -> Path:
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return path


def _config_file(tmp_path: Path, data: dict, name: str = "cfg.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("class_name", ["Registered", "Loose", "Mixed"])
def test_a_config_for_a_keyword_class_builds_it_instead_of_the_defaults(nets, tmp_path: Path, class_name: str) -> None:
    """The issue's scenario: a class taking keyword arguments (a decorator-registered config,
    `**kwargs`) once dropped --config silently and reported a mismatch on every tensor."""
    path, module = nets
    model = getattr(module, class_name)(**CONFIG)
    ckpt = _save(tmp_path, model)
    config = _config_file(tmp_path, CONFIG)
    defaults = check(path, class_name, ckpt)
    assert "shape-mismatch" in _mismatches(defaults) and defaults.comparison.matched == 0  # nothing fits
    result = check(path, class_name, ckpt, config=config)
    assert _mismatches(result) == []
    assert result.comparison.matched == result.comparison.total == len(model.state_dict())
    # a changed width is a real mismatch, not hidden by the config
    other = _save(tmp_path, getattr(module, class_name)(**{**CONFIG, "width": 20}), "other.pt")
    assert "shape-mismatch" in _mismatches(check(path, class_name, other, config=config))


def test_a_timm_style_factory_takes_config_keys_as_keyword_arguments(nets, tmp_path: Path) -> None:
    path, module = nets
    model = module.small_net(depth=3, classes=10)
    ckpt = _save(tmp_path, model)
    assert _mismatches(check(path, "small_net", ckpt)) != []
    config = _config_file(tmp_path, {"depth": 3, "classes": 10})
    assert _mismatches(check(path, "small_net", ckpt, config=config)) == []


def test_timm_config_json_gives_the_factory_its_model_args_and_classes(nets, tmp_path: Path) -> None:
    path, module = nets
    model = module.classifier_small(num_classes=10, depth=3)
    ckpt = _save(tmp_path, model)
    assert _mismatches(check(path, "classifier_small", ckpt)) != []
    # as timm's push_to_hf_hub writes it
    (tmp_path / "config.json").write_text(json.dumps({
        "architecture": "classifier_small",
        "num_classes": 10,
        "num_features": 12,
        "global_pool": "avg",
        "model_args": {"depth": 3},
        "pretrained_cfg": {"input_size": [3, 224, 224], "mean": [0.5, 0.5, 0.5], "num_classes": 10},
    }))
    result = check(path, "classifier_small", ckpt)
    assert _mismatches(result) == []
    assert [f for f in result.findings if f.code == "unused-config"] == []
    assert result.predicted.constructor == {
        "pretrained": ConstructorValue(False, "default"),
        "num_classes": ConstructorValue(10, "config.json beside the checkpoint"),
        "depth": ConstructorValue(3, "config.json beside the checkpoint"),
    }


def test_config_json_beside_a_single_checkpoint_file(nets, tmp_path: Path) -> None:
    path, module = nets
    run = tmp_path / "run"
    run.mkdir()
    ckpt = _save(run, module.Registered(**CONFIG), "weights.pt")
    (run / "config.json").write_text(json.dumps({"_class_name": "Registered", **CONFIG}))
    result = check(path, "Registered", ckpt)
    assert _mismatches(result) == []
    assert result.index.config == {"_class_name": "Registered", **CONFIG}


def test_unused_config_keys_are_listed_and_an_unused_config_is_said(nets, tmp_path: Path) -> None:
    path, module = nets
    ckpt = _save(tmp_path, module.Registered(**CONFIG))
    config = _config_file(tmp_path, {**CONFIG, "lr": 0.1, "_class_name": "Registered"})
    result = check(path, "Registered", ckpt, config=config)
    assert _mismatches(result) == []
    unused = [f for f in result.findings if f.code == "unused-config"]
    assert [(f.severity.value, dict(f.data)["keys"]) for f in unused] == [("information", ("lr",))]
    assert unused[0].message == f"--config {config}: `lr` names no parameter of `Registered`; not used"
    assert not result.fails
    # a config none of whose keys names anything is not dropped without a word
    stray = _config_file(tmp_path, {"lr": 0.1, "epochs": 3}, "stray.json")
    result = check(path, "Registered", ckpt, config=stray)
    [finding] = [f for f in result.findings if f.code == "unused-config"]
    assert finding.message == (
        f"--config {stray} was not used: none of its keys (`lr`, `epochs`) names a parameter of `Registered`"
    )


def test_every_value_says_where_it_came_from(nets, tmp_path: Path) -> None:
    path, module = nets
    run = tmp_path / "run"
    run.mkdir()
    ckpt = _save(run, module.Registered(width=24, depth=5, classes=7), "weights.pt")
    (run / "config.json").write_text(json.dumps({"width": 24, "depth": 1, "classes": 1}))
    config = _config_file(tmp_path, {"depth": 5, "classes": 2})
    result = check(path, "Registered", ckpt, config=config, init={"classes": 7})
    assert _mismatches(result) == []
    assert result.predicted.constructor == {
        "width": ConstructorValue(24, "config.json beside the checkpoint"),
        "depth": ConstructorValue(5, f"--config {config}"),
        "classes": ConstructorValue(7, "--init"),
    }
    defaults = check(path, "Registered", _save(tmp_path, module.Registered()))
    assert defaults.predicted.constructor == {
        "width": ConstructorValue(8, "default"),
        "depth": ConstructorValue(2, "default"),
        "classes": ConstructorValue(3, "default"),
    }


CONFIG_CLASSES = """
    from dataclasses import dataclass
    from typing import NamedTuple

    import attr
    import attrs
    import torch.nn as nn


    @dataclass
    class DataArgs:
        dim: int = 8
        depth: int = 2
        heads: int = 2


    @attrs.define
    class AttrsArgs:
        dim: int = 8
        depth: int = 2
        heads: int = attrs.field(default=2)


    @attr.s
    class OldAttrsArgs:
        dim = attr.ib(default=8)
        depth = attr.ib(default=2)
        heads = attr.ib(default=2)


    class TupleArgs(NamedTuple):
        dim: int = 8
        depth: int = 2
        heads: int = 2


    class PlainArgs:
        dim: int = 8
        depth: int = 2
        heads: int = 2


    def build(cfg):
        return nn.ModuleList(
            [nn.MultiheadAttention(cfg.dim, cfg.heads) for _ in range(cfg.depth)]
        )


    class WithData(nn.Module):
        def __init__(self, args: DataArgs):
            super().__init__()
            self.layers = build(args)


    class WithAttrs(nn.Module):
        def __init__(self, args: AttrsArgs):
            super().__init__()
            self.layers = build(args)


    class WithOldAttrs(nn.Module):
        def __init__(self, args: OldAttrsArgs):
            super().__init__()
            self.layers = build(args)


    class WithTuple(nn.Module):
        def __init__(self, args: TupleArgs):
            super().__init__()
            self.layers = build(args)


    class WithPlain(nn.Module):
        def __init__(self, args: PlainArgs):
            super().__init__()
            self.layers = build(args)


    class Unannotated(nn.Module):
        def __init__(self, opt):
            super().__init__()
            self.embed = nn.Embedding(opt.vocab, opt.dim)
            self.layers = build(opt)
"""

CLASSES = {
    "WithData": "DataArgs",
    "WithAttrs": "AttrsArgs",
    "WithOldAttrs": "OldAttrsArgs",
    "WithTuple": "TupleArgs",
    "WithPlain": "PlainArgs",
}


@pytest.fixture
def config_classes(tmp_path: Path):
    path = tmp_path / "configs.py"
    path.write_text(textwrap.dedent(CONFIG_CLASSES))
    spec = importlib.util.spec_from_file_location("config_sources_configs", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["config_sources_configs"] = module
    spec.loader.exec_module(module)
    yield path, module
    sys.modules.pop("config_sources_configs", None)


def _args(module, config_name: str, **values):
    cls = getattr(module, config_name)
    if config_name == "PlainArgs":  # no __init__ taking them: set as its users do
        obj = cls()
        for key, value in values.items():
            setattr(obj, key, value)
        return obj
    return cls(**values)


def _training_checkpoint(path: Path, model: torch.nn.Module, model_args: dict) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            # names two fields too, with other values, among keys that name nothing
            "train_args": {"lr": 0.1, "batch_size": 32, "dim": 4, "depth": 1, "epochs": 10},
            "model_args": model_args,
            "data_args": {"dim": 4, "root": "/data"},
            "epoch": 3,
        },
        path,
    )


@pytest.mark.parametrize("class_name", sorted(CLASSES))
def test_the_best_matching_record_of_a_training_checkpoint_builds_the_config(
    config_classes, tmp_path: Path, class_name: str
) -> None:
    path, module = config_classes
    values = {"dim": 24, "depth": 3, "heads": 4}
    model = getattr(module, class_name)(_args(module, CLASSES[class_name], **values))
    ckpt = tmp_path / "train.pt"
    _training_checkpoint(ckpt, model, values)
    result = check(path, class_name, ckpt)
    assert _mismatches(result) == []
    assert result.comparison.matched == result.comparison.total == len(model.state_dict())
    assert result.predicted.constructor == {"args": ConstructorValue(values, "checkpoint record `model_args`")}
    # the checkpoint of a wider model with the same record: a real mismatch
    wider = getattr(module, class_name)(_args(module, CLASSES[class_name], **{**values, "dim": 32}))
    other = tmp_path / "wider.pt"
    _training_checkpoint(other, wider, values)
    assert "shape-mismatch" in _mismatches(check(path, class_name, other))


def test_a_partial_record_keeps_the_config_class_defaults(config_classes, tmp_path: Path) -> None:
    path, module = config_classes
    model = module.WithAttrs(module.AttrsArgs(dim=16))
    ckpt = tmp_path / "run.pt"
    torch.save({"state_dict": model.state_dict(), "hparams": {"dim": 16}}, ckpt)
    result = check(path, "WithAttrs", ckpt)
    assert _mismatches(result) == []
    assert result.comparison.matched == len(model.state_dict())


def test_an_unannotated_config_takes_the_record_naming_what_the_code_reads(config_classes, tmp_path: Path) -> None:
    import argparse

    path, module = config_classes
    opt = argparse.Namespace(vocab=50, dim=16, depth=2, heads=2, lr=0.1, seed=0)
    model = module.Unannotated(opt)
    ckpt = tmp_path / "run.pt"
    torch.save({"net": model.state_dict(), "opt": opt, "sched": {"step": 4, "gamma": 0.5}}, ckpt)
    result = check(path, "Unannotated", ckpt)
    assert _mismatches(result) == []
    assert result.comparison.matched == len(model.state_dict())
    assert result.predicted.constructor["opt"].source == "checkpoint record `opt`"


# -- diffusers: `@register_to_config` classes built from their config.json ----------------------

UNET = {
    "sample_size": 16,
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
    "norm_num_groups": 8,
}


@pytest.fixture(scope="module")
def unet(tmp_path_factory: pytest.TempPathFactory):
    diffusers = pytest.importorskip("diffusers")
    from ckptlens.api import Analyzer

    root = tmp_path_factory.mktemp("unet")
    # the class's own file (ckptlens does not follow diffusers' lazy package exports)
    user = Path(diffusers.__file__).parent / "models" / "unets" / "unet_2d.py"
    diffusers.UNet2DModel(**UNET).save_pretrained(root / "folder")
    wider = diffusers.UNet2DModel(**{**UNET, "block_out_channels": [32, 48]})
    wider.save_pretrained(root / "wider")
    return user, root, Analyzer()


def test_a_diffusers_folder_builds_the_model_from_its_config_json(unet) -> None:
    user, root, analyzer = unet
    result = check(user, "UNet2DModel", root / "folder", analyzer=analyzer)
    assert _mismatches(result) == []
    assert result.comparison.matched == result.comparison.total > 100
    constructor = result.predicted.constructor
    assert constructor["block_out_channels"] == ConstructorValue([32, 64], "config.json in the checkpoint folder")
    assert constructor["layers_per_block"] == ConstructorValue(1, "config.json in the checkpoint folder")
    # `_class_name` and `_diffusers_version` describe the file, not the model
    assert [f for f in result.findings if f.code == "unused-config"] == []


def test_a_diffusers_weights_file_takes_config_json_beside_it_or_config(unet, tmp_path: Path) -> None:
    user, root, analyzer = unet
    weights = root / "folder" / "diffusion_pytorch_model.safetensors"
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "unet.safetensors").write_bytes(weights.read_bytes())
    assert "shape-mismatch" in _mismatches(check(user, "UNet2DModel", alone / "unet.safetensors", analyzer=analyzer))
    config = root / "folder" / "config.json"
    result = check(user, "UNet2DModel", alone / "unet.safetensors", config=config, analyzer=analyzer)
    assert _mismatches(result) == []
    assert result.predicted.constructor["block_out_channels"].source == f"--config {config}"
    # the wider model's weights beside the narrower model's config: a real mismatch
    (alone / "config.json").write_text(config.read_text())
    (alone / "wide.safetensors").write_bytes((root / "wider" / "diffusion_pytorch_model.safetensors").read_bytes())
    assert "shape-mismatch" in _mismatches(check(user, "UNet2DModel", alone / "wide.safetensors", analyzer=analyzer))
    result = check(user, "UNet2DModel", alone / "unet.safetensors", analyzer=analyzer)
    assert _mismatches(result) == []
    assert result.predicted.constructor["block_out_channels"].source == "config.json beside the checkpoint"


def test_a_config_overridden_by_init_says_so(config_classes, tmp_path: Path) -> None:
    path, module = config_classes
    model = module.WithData(module.DataArgs(dim=16, depth=1))
    ckpt = _save(tmp_path, model)
    config = _config_file(tmp_path, {"dim": 32})
    result = check(path, "WithData", ckpt, config=config, init={"args": {"dim": 16, "depth": 1}})
    assert _mismatches(result) == []
    assert result.predicted.constructor == {"args": ConstructorValue({"dim": 16, "depth": 1}, "--init")}
    assert [f.message for f in result.findings if f.code == "unused-config"] == [
        f"--config {config} was not used: `args` is given by --init"
    ]


def test_a_required_value_nobody_gives_is_shown(tmp_path: Path) -> None:
    path = tmp_path / "req.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch.nn as nn

            class Req(nn.Module):
                def __init__(self, width, *, act=nn.ReLU(), bias=True):
                    super().__init__()
                    self.fc = nn.Linear(4, width, bias=bias)
            """
        )
    )
    from ckptlens.api import predict
    from ckptlens.render_constructor import constructor_to_json, render_constructor_text

    predicted = predict(path, "Req")
    assert constructor_to_json(predicted.constructor) == {
        "width": {"value": None, "source": "not given"},
        "act": {"value": None, "source": "default", "expression": "nn.ReLU()"},
        "bias": {"value": True, "source": "default"},
    }
    assert render_constructor_text("Req", predicted.constructor) == (
        "Req built with:\n  default    act=nn.ReLU(), bias=True\n  not given  width=?\n"
    )


def test_the_cli_shows_the_values_and_their_sources(nets, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ckptlens import cli

    path, module = nets
    run = tmp_path / "run"
    run.mkdir()
    ckpt = _save(run, module.Mixed(width=24, depth=5, classes=7), "weights.pt")
    (run / "config.json").write_text(json.dumps({"width": 24, "depth": 1}))
    config = _config_file(tmp_path, {"depth": 5, "classes": 7})
    base = [str(path), "--class", "Mixed", "--checkpoint", str(ckpt), "--config", str(config)]
    assert cli.main(["check", *base, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["findings", "coverage", "inferred", "constructor"]
    assert data["constructor"] == {
        "width": {"value": 24, "source": "config.json beside the checkpoint"},
        "depth": {"value": 5, "source": f"--config {config}"},
        "classes": {"value": 7, "source": f"--config {config}"},
    }
    assert cli.main(["check", *base]) == 0
    lines = capsys.readouterr().out.splitlines()
    width = max(len(f"--config {config}"), len("config.json beside the checkpoint"))
    assert lines[:4] == [
        "Mixed built with:",
        f"  {f'--config {config}'.ljust(width)}  depth=5, classes=7",
        f"  {'config.json beside the checkpoint'.ljust(width)}  width=24",
        "",
    ]
    assert lines[-1].startswith("✓ Mixed: 12/12 tensors match")
    assert cli.main(["keys", *base, "--format", "json"]) == 0
    keys = json.loads(capsys.readouterr().out)
    assert keys["constructor"] == data["constructor"] and len(keys["keys"]) == 12
    assert cli.main(["keys", str(path), "--class", "Mixed", "--init", "width=6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["Mixed built with:", "  --init   width=6", "  default  depth=2"]


# `@register_to_config` fills `self.config` before `__init__` runs; these read it while building.
SELF_CONFIG = [
    (
        "transformers/transformer_2d.py",
        "Transformer2DModel",
        {"in_channels": 8, "num_attention_heads": 2, "attention_head_dim": 8, "num_layers": 2,
         "norm_num_groups": 4, "cross_attention_dim": 12},
        {"attention_head_dim": 4},
    ),
    (
        "transformers/dit_transformer_2d.py",
        "DiTTransformer2DModel",
        {"num_attention_heads": 2, "attention_head_dim": 8, "in_channels": 4, "num_layers": 2,
         "sample_size": 8, "patch_size": 2, "num_embeds_ada_norm": 10},
        {"num_attention_heads": 3},
    ),
]


@pytest.mark.parametrize(("file", "class_name", "config", "changed"), SELF_CONFIG, ids=[s[1] for s in SELF_CONFIG])
def test_a_diffusers_model_reading_self_config_checks_clean(
    unet, tmp_path: Path, file: str, class_name: str, config: dict, changed: dict
) -> None:
    import diffusers

    _, _, analyzer = unet
    source = Path(diffusers.__file__).parent / "models" / file
    getattr(diffusers, class_name)(**config).save_pretrained(tmp_path / "saved")
    result = check(source, class_name, tmp_path / "saved", analyzer=analyzer)
    assert _mismatches(result) == []
    assert result.predicted.unknown == []
    assert result.comparison.matched == result.comparison.total > 20
    # a wider model's weights under this config.json: a real mismatch
    getattr(diffusers, class_name)(**{**config, **changed}).save_pretrained(tmp_path / "wider")
    (tmp_path / "wider" / "config.json").write_text((tmp_path / "saved" / "config.json").read_text())
    assert "shape-mismatch" in _mismatches(check(source, class_name, tmp_path / "wider", analyzer=analyzer))


def test_a_nested_record_names_the_model_section_of_a_run_config(config_classes, tmp_path: Path) -> None:
    path, module = config_classes
    model = module.WithData(module.DataArgs(dim=16, depth=3, heads=4))
    ckpt = tmp_path / "run.pt"
    cfg = {"model": {"dim": 16, "depth": 3, "heads": 4}, "optim": {"lr": 0.1, "depth": 9}, "seed": 1}
    torch.save({"state_dict": model.state_dict(), "cfg": cfg}, ckpt)
    result = check(path, "WithData", ckpt)
    assert _mismatches(result) == []
    assert result.predicted.constructor["args"].source == "checkpoint record `cfg.model`"


@pytest.mark.parametrize("class_name", ["Loose", "small_net"])
def test_a_keyword_class_takes_a_record_named_for_the_model_whole(nets, tmp_path: Path, class_name: str) -> None:
    path, module = nets
    model = getattr(module, class_name)(**CONFIG)
    ckpt = tmp_path / "run.pt"
    torch.save(
        {"model": model.state_dict(), "model_kwargs": CONFIG, "train_args": {"lr": 0.1, "width": 3}}, ckpt
    )
    result = check(path, class_name, ckpt)
    assert _mismatches(result) == []
    assert {k: v.source for k, v in result.predicted.constructor.items() if k in CONFIG} == {
        k: "checkpoint record `model_kwargs`" for k in CONFIG
    }


def test_a_config_key_naming_a_parameter_is_also_a_keyword_argument(tmp_path: Path) -> None:
    path = tmp_path / "both.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch.nn as nn

            class Both(nn.Module):
                def __init__(self, args, num_classes: int = 10):
                    super().__init__()
                    self.body = nn.Linear(4, args.dim)
                    self.head = nn.Linear(args.dim, num_classes)
            """
        )
    )
    import types

    spec = importlib.util.spec_from_file_location("config_sources_both", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ckpt = _save(tmp_path, module.Both(types.SimpleNamespace(dim=6), num_classes=3))
    config = _config_file(tmp_path, {"dim": 6, "num_classes": 3})
    result = check(path, "Both", ckpt, config=config)
    assert _mismatches(result) == []
    assert result.predicted.constructor == {
        "args": ConstructorValue({"dim": 6, "num_classes": 3}, f"--config {config}"),
        "num_classes": ConstructorValue(3, f"--config {config}"),
    }


def test_the_editor_rereads_a_checkpoint_when_the_config_json_beside_it_changes(tmp_path: Path) -> None:
    import os

    from ckptlens.lsp.analysis import checkpoint_stamp

    ckpt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, ckpt)
    alone = checkpoint_stamp(str(ckpt))
    (tmp_path / "config.json").write_text('{"width": 4}')
    beside = checkpoint_stamp(str(ckpt))
    assert beside != alone
    (tmp_path / "config.json").write_text('{"width": 40}')
    stat = os.stat(tmp_path / "config.json")
    os.utime(tmp_path / "config.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert checkpoint_stamp(str(ckpt)) != beside


def test_a_run_config_gives_its_model_section(config_classes, nets, tmp_path: Path) -> None:
    path, module = config_classes
    model = module.WithData(module.DataArgs(dim=16, depth=3, heads=4))
    ckpt = _save(tmp_path, model)
    run = {"model": {"dim": 16, "depth": 3, "heads": 4}, "trainer": {"epochs": 3, "depth": 1}}
    config = _config_file(tmp_path, run)
    result = check(path, "WithData", ckpt, config=config)
    assert _mismatches(result) == []
    assert result.predicted.constructor == {
        "args": ConstructorValue(run["model"], f"--config {config} (section `model`)")
    }
    assert [f for f in result.findings if f.code == "unused-config"] == []
    # keyword arguments too
    nets_path, nets_module = nets
    ckpt = _save(tmp_path, nets_module.Registered(**CONFIG), "registered.pt")
    config = _config_file(tmp_path, {"model": CONFIG, "data": {"root": "/data"}}, "run.json")
    result = check(nets_path, "Registered", ckpt, config=config)
    assert _mismatches(result) == []
    assert result.predicted.constructor["width"].source == f"--config {config} (section `model`)"
