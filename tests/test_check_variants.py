"""`ckptlens.api.check` against checkpoints written by real torch from the fixture models.

For a representative set of fixtures (the *subjects*) every variant of a checkpoint is generated
from the real model, in a session temp dir: clean in every container, wrapped in a prefix,
one submodule renamed, modules dropped, a module added, a dim changed; plus the seeds' own
scenarios (real variant classes, a real DataParallel, real Lightning checkpoints). Each variant
states the findings it must produce, exactly, and for every one of them the returned key
mapping must make `load_state_dict` accept the checkpoint with every tensor where it belongs.
The CLI's exit codes and JSON are checked on a few of them.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ckptlens import api
from ckptlens.engine.mapping_code import remap_tensors, render_python
from ckptlens.fixes import apply_edits, mapping_in_class
from ckptlens.links import scan_source
from compare_helpers import SPEC_FINDING_FIELDS
from fixture_cases import CASES_BY_ID, Case
from fixture_truth import Truth, build, fixture_path, import_fixture, make, under
from mapping_as_written import docstring_code, load_edited, run_as_written

PREFIXES = ("module", "_orig_mod", "module._orig_mod", "model")
CONTAINERS = (
    "zip",
    "legacy",
    "safetensors",
    "lightning-dict",
    "model-dict",
    "model_state_dict-dict",
    "nested-dict",
)
# What torch.load returns must be walked along these entries to reach the state_dict.
STATE_DICT_PATHS = {
    "zip": (),
    "legacy": (),
    "safetensors": (),
    "lightning-dict": ("state_dict",),
    "model-dict": ("model",),
    "model_state_dict-dict": ("model_state_dict",),
    "nested-dict": ("model", "state_dict"),
}

InitValue = Any  # a literal, or a callable taking the fixture module (checkpoint side only)


@dataclass(frozen=True)
class Subject:
    """A fixture and the edits its variants make."""

    case_id: str
    rename: tuple[str, str]  # (model path, checkpoint path): one submodule renamed
    drop: tuple[str, ...]  # model submodules left out of the checkpoint, one finding each
    add: str  # attribute path of an nn.Linear(3, 2) present only in the checkpoint
    alt_init: Mapping[str, InitValue]  # the checkpoint's model built with these (dims change)


SUBJECTS = [
    Subject("mlp.MLP", ("fc2", "hidden_fc"), ("fc1", "fc3"), "fc4", {"hidden": 20}),
    Subject("cnn.SmallCNN", ("conv1", "convolution_one"), ("bn2",), "fc3", {"width": 4}),
    Subject(
        "resnet.Classifier",
        ("resnet", "backbone"),
        ("resnet.layer3",),
        "aux_head",
        {"num_classes": 7},
    ),
    Subject("recurrent.RNNClassifier", ("rnn", "lstm"), ("fc",), "attention", {"hidden_dim": 10}),
    Subject(
        "transformer_models.TransformerModel",
        ("transformer_encoder", "encoder"),
        ("linear",),
        "decoder",
        {"d_hid": 24},
    ),
    Subject(
        "lit_pl.LitClassifier",
        ("classifier", "head"),
        ("criterion",),
        "projector",
        {"hidden_dim": 16},
    ),
    Subject(
        "pkg.net.PkgNet",
        ("cls_head.pre", "cls_head.dense"),
        ("reg_head",),
        "aux_head",
        {"num_classes": 5},
    ),
    Subject(
        "sibling_net.SiblingNet",
        ("se.fc", "se.excite"),
        ("down",),
        "classifier",
        {"num_classes": 6},
    ),
    Subject(
        "vit.VisionTransformer",
        ("patch_embed", "patch_embedding"),
        ("head",),
        "pre_logits",
        {"num_classes": 4},
    ),
    Subject("tying.RNNModel", ("rnn", "lstm"), ("decoder",), "extra", {"ntoken": 40}),
    Subject("unet.UNet", ("outc", "out_conv"), ("up3",), "aux", {"n_classes": 3}),
    Subject("lit_lightning.Net", ("bn", "norm"), ("fc2",), "fc3", {"hidden": 12}),
    Subject(
        "gpt_mini.GPT",
        ("lm_head", "head"),
        ("transformer.ln_f",),
        "value_head",
        {"config": lambda module: module.GPTConfig(vocab_size=48)},
    ),
    Subject(
        "sequential_models.FeatureExtractor",
        ("classifier", "fc_head"),
        ("classifier.fc2",),
        "extra",
        {"num_classes": 3},
    ),
    Subject(
        "seq2seq.Seq2Seq",
        ("decoder.attention", "decoder.attn"),
        ("encoder.fc",),
        "extra",
        {"dec_hid_dim": 14},
    ),
    Subject("unknown_env.EnvNet", ("head", "classifier"), ("stem",), "extra", {"num_classes": 4}),
    Subject(
        "unknown_import.WithMissingImport",
        ("head", "classifier"),
        ("embed",),
        "extra",
        {"num_classes": 5},
    ),
]


@dataclass(frozen=True)
class Source:
    """Where a checkpoint's tensors come from: a fixture class built with torch."""

    file: str
    class_name: str
    init: Mapping[str, InitValue] = field(default_factory=dict)
    wrap: str | None = None  # "DataParallel" | "compile": the state_dict of the wrapped model
    env: Mapping[str, str] = field(default_factory=dict)  # the run-time environment it was built in

    @staticmethod
    def of(case_id: str, env: Mapping[str, str] | None = None, **init: InitValue) -> Source:
        case = CASES_BY_ID[case_id]
        return Source(case.file, case.class_name, {**case.init, **init}, env=env or {})


@dataclass(frozen=True)
class Variant:
    id: str
    case_id: str  # the model the checkpoint is checked against
    source: Source | None = None  # None: the model itself
    container: str = "zip"
    prefix: str = ""  # prepended to every checkpoint key (no trailing dot)
    rename: tuple[str, str] | None = None  # (model path, checkpoint path), applied to the keys
    drop: tuple[str, ...] = ()  # model paths whose keys are left out
    add: str | None = None  # attribute path of an extra nn.Linear(3, 2) in the checkpoint
    lightning: str | None = None  # "wrapper" | "hparams": a real Lightning checkpoint
    init: Mapping[str, Any] | None = None  # passed to check(); None: the case's init
    # -- expectations (the mapping and the load are always checked)
    expect_prefix: str | None = None  # checkpoint_prefix of the one `key-prefix` finding
    expect_renames: tuple[tuple[str, str], ...] = ()  # (model_prefix, checkpoint_prefix) each
    expect_missing: tuple[str, ...] = ()  # model paths, one `missing-key` finding each
    expect_unexpected: tuple[str, ...] = ()  # checkpoint key prefixes, one `unexpected-key` finding
    expect_shapes: bool = False  # `shape-mismatch` on exactly the keys whose shapes differ
    expect_reverse_prefix: str | None = None  # model_prefix of a `key-prefix` the checkpoint lacks

    @property
    def case(self) -> Case:
        return CASES_BY_ID[self.case_id]


def _variants() -> list[Variant]:
    out: list[Variant] = []
    for s in SUBJECTS:
        c = s.case_id
        out += [Variant(f"{c}/clean-{box}", c, container=box) for box in CONTAINERS]
        out += [Variant(f"{c}/prefix-{p}", c, prefix=p, expect_prefix=p) for p in PREFIXES]
        out.append(
            Variant(
                f"{c}/rename-{s.rename[0]}-to-{s.rename[1]}",
                c,
                rename=s.rename,
                expect_renames=(s.rename,),
            )
        )
        out.append(
            Variant(
                f"{c}/prefix-module+rename",
                c,
                prefix="module",
                rename=s.rename,
                expect_prefix="module",
                expect_renames=(s.rename,),
            )
        )
        out.append(Variant(f"{c}/drop-{'+'.join(s.drop)}", c, drop=s.drop, expect_missing=s.drop))
        # a mapping with something to do, in the wrapped containers
        for box in ("model_state_dict-dict", "nested-dict"):
            out.append(
                Variant(
                    f"{c}/prefix-module+rename-in-{box}",
                    c,
                    container=box,
                    prefix="module",
                    rename=s.rename,
                    expect_prefix="module",
                    expect_renames=(s.rename,),
                )
            )
        out.append(
            Variant(
                f"{c}/drop-{'+'.join(s.drop)}-in-lightning-dict",
                c,
                container="lightning-dict",
                drop=s.drop,
                expect_missing=s.drop,
            )
        )
        out.append(Variant(f"{c}/add-{s.add}", c, add=s.add, expect_unexpected=(s.add,)))
        out.append(
            Variant(
                f"{c}/shape-{'+'.join(f'{k}' for k in s.alt_init)}",
                c,
                source=Source.of(c, **s.alt_init),
                expect_shapes=True,
            )
        )
    out += [
        # the seeds, with the classes they describe
        Variant(
            "seed:layer1-saved,layer_1-loaded",
            "seed_lightning.MyModel",
            source=Source.of("seed_lightning.MyModelOld"),
            expect_renames=(("layer_1", "layer1"),),
        ),
        Variant(
            "seed:layer3-added-after-saving",
            "seed_lightning.MyModelGrown",
            source=Source.of("seed_lightning.MyModelOld"),
            expect_missing=("layer3",),
        ),
        Variant(
            "seed:layer3-in-checkpoint-only",
            "seed_lightning.MyModelOld",
            source=Source.of("seed_lightning.MyModelGrown"),
            expect_unexpected=("layer3",),
        ),
        Variant(
            "seed:conv1-saved,convolution_one-loaded",
            "seed_rename.Model2",
            source=Source.of("seed_rename.Model1"),
            expect_renames=(("convolution_one", "conv1"),),
        ),
        Variant(
            "seed:hidden-20-saved,30-loaded",
            "seed_hidden.ModelV2",
            source=Source.of("seed_hidden.ModelV1"),
            expect_shapes=True,
        ),
        Variant(
            "seed:kernel-3-saved,5-loaded",
            "seed_hidden.PreTrainedModelV2",
            source=Source.of("seed_hidden.PreTrainedModelV1"),
            expect_shapes=True,
        ),
        Variant(
            "seed:DataParallel",
            "seed_hidden.SimpleModel",
            source=Source("seed_hidden.py", "SimpleModel", wrap="DataParallel"),
            expect_prefix="module",
        ),
        Variant(
            "seed:torch.compile",
            "mlp.MLP",
            source=Source("mlp.py", "MLP", wrap="compile"),
            expect_prefix="_orig_mod",
        ),
        Variant(
            "seed:resnet-saved,backbone-loaded",
            "resnet.BackboneClassifier",
            source=Source.of("resnet.Classifier"),
            expect_renames=(("backbone", "resnet"),),
        ),
        Variant(
            "seed:partial-backbone",
            "resnet.Classifier",
            source=Source.of("resnet.ResNetTiny"),
            expect_reverse_prefix="resnet",
            expect_shapes=True,
        ),
        Variant(
            "seed:lightning-nesting",
            "lit_lightning.Net",
            lightning="wrapper",
            expect_prefix="model",
        ),
        Variant(
            "lightning:hparams-build-the-model",
            "lit_pl.LitClassifier",
            lightning="hparams",
            init={},
        ),
        Variant(
            "spec:net.*-saved-as-model.*-is-a-rename",
            "mlp.MLPRegressor",
            rename=("net", "model"),
            expect_renames=(("net", "model"),),
        ),
        # no false alarms where the analysis cannot know: whatever the run-time value was
        Variant("unknown:EnvDepthNet/clean-zip", "unknown_env.EnvDepthNet"),
        Variant(
            "unknown:EnvDepthNet/depth-3-at-run-time",
            "unknown_env.EnvDepthNet",
            source=Source.of("unknown_env.EnvDepthNet", env={"CKPTLENS_FIXTURE_DEPTH": "3"}),
        ),
        Variant(
            "unknown:EnvDepthNet/prefix-module",
            "unknown_env.EnvDepthNet",
            prefix="module",
            expect_prefix="module",
        ),
        Variant(
            "unknown:EnvDepthNet/drop-out",
            "unknown_env.EnvDepthNet",
            drop=("out",),
            expect_missing=("out",),
        ),
        Variant(
            "unknown:EnvNet/feature-dim-24-at-run-time",
            "unknown_env.EnvNet",
            source=Source.of("unknown_env.EnvNet", env={"CKPTLENS_FIXTURE_FEATURE_DIM": "24"}),
        ),
    ]
    return out


VARIANTS = _variants()
assert len({v.id for v in VARIANTS}) == len(VARIANTS)


# ---------------------------------------------------------------- writing checkpoints


def _resolve_init(module: Any, init: Mapping[str, InitValue]) -> dict[str, Any]:
    return {k: (v(module) if callable(v) else v) for k, v in init.items()}


def _randomize(model: nn.Module, seed: int) -> None:
    """Distinct values everywhere, so that a tensor loaded into the wrong slot shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype))
            elif t.dtype in (torch.int64, torch.int32):
                t.copy_(torch.randint(0, 1000, t.shape, generator=gen).to(t.dtype))


def _set_path(model: nn.Module, path: str, value: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, value)


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def _source_model(v: Variant) -> nn.Module:
    src = v.source or Source(v.case.file, v.case.class_name, v.case.init)
    module = import_fixture(src.file)
    with warnings.catch_warnings(), _environment(src.env):
        warnings.simplefilter("ignore")
        torch.manual_seed(1)
        model = getattr(module, src.class_name)(**_resolve_init(module, src.init))
        _randomize(model, seed=zlib.crc32(v.id.encode()))
        if v.add:
            _set_path(model, v.add, nn.Linear(3, 2))
            _randomize(model.get_submodule(v.add), seed=7)
        if src.wrap == "DataParallel":
            model = nn.DataParallel(model)
        elif src.wrap == "compile":
            model = torch.compile(model)
    return model


def _edit_keys(v: Variant, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        if any(under(key, d) for d in v.drop):
            continue
        if v.rename and under(key, v.rename[0]):
            key = v.rename[1] + key[len(v.rename[0]) :]
        if v.prefix:
            key = f"{v.prefix}.{key}"
        out[key] = value
    return out


def _optimizer_state(model: nn.Module) -> dict[str, Any]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=0.0)
    for p in params:
        p.grad = torch.zeros_like(p)
    opt.step()
    return opt.state_dict()


def _write(
    path: Path, sd: dict[str, torch.Tensor], container: str, model: nn.Module
) -> dict[str, torch.Tensor]:
    """Writes `sd` in `container`; returns the tensors as written (for the load check)."""
    if container == "safetensors":
        from safetensors.torch import save_file

        sd = {k: v.detach().clone().contiguous() for k, v in sd.items()}  # no shared storage
        save_file(sd, str(path))
    elif container == "zip":
        torch.save(sd, path)
    elif container == "legacy":
        torch.save(sd, path, _use_new_zipfile_serialization=False)
    elif container == "lightning-dict":
        torch.save({"epoch": 3, "state_dict": sd, "optimizer": _optimizer_state(model)}, path)
    elif container == "model-dict":
        torch.save({"model": sd, "args": {"lr": 0.1, "epochs": 3}}, path)
    elif container == "model_state_dict-dict":
        torch.save(
            {
                "epoch": 3,
                "model_state_dict": sd,
                "optimizer_state_dict": _optimizer_state(model),
                "loss": 0.25,
            },
            path,
        )
    elif container == "nested-dict":
        torch.save({"model": {"state_dict": sd, "meta": {"version": 2}}, "step": 40}, path)
    else:
        raise ValueError(container)
    return sd


class _Tiny(torch.utils.data.Dataset):
    def __init__(self, n_features: int, n_classes: int) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(8, n_features, generator=gen)
        self.y = torch.randint(0, n_classes, (8,), generator=gen)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def _lightning_checkpoint(kind: str, path: Path) -> None:
    """A checkpoint written by a real Trainer after one training step."""
    if kind == "wrapper":
        import lightning.pytorch as lp

        model, trainer_mod, data = make("lit_lightning.py", "LitWrapper", {}), lp, _Tiny(8, 2)
    else:
        import pytorch_lightning as plm

        model, trainer_mod, data = (
            make("lit_pl.py", "LitClassifier", {"hidden_dim": 48}),
            plm,
            _Tiny(12, 3),
        )
    trainer = trainer_mod.Trainer(
        max_steps=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(path.parent),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=4))
    trainer.save_checkpoint(str(path))


@dataclass
class Written:
    path: Path
    tensors: dict[str, torch.Tensor]  # the state_dict in the file, as written


class CheckpointFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, Written] = {}

    def get(self, v: Variant) -> Written:
        if v.id not in self.cache:
            self.cache[v.id] = self._write(v)
        return self.cache[v.id]

    def _write(self, v: Variant) -> Written:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", v.id)
        if v.lightning:
            path = self.root / f"{stem}.ckpt"
            _lightning_checkpoint(v.lightning, path)
            sd = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
            return Written(path, dict(sd))
        suffix = ".safetensors" if v.container == "safetensors" else ".pt"
        path = self.root / f"{stem}{suffix}"
        model = _source_model(v)
        sd = _edit_keys(v, model.state_dict())
        return Written(path, _write(path, sd, v.container, model))


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> CheckpointFactory:
    return CheckpointFactory(tmp_path_factory.mktemp("ckptlens-variants"))


# ---------------------------------------------------------------- checking


def _truth(v: Variant) -> Truth:
    init = v.init if v.init is not None else v.case.init
    if v.lightning == "hparams":
        init = {"hidden_dim": 48}  # what the checkpoint's hyper_parameters say
    return build(v.case.file, v.case.class_name, init)


def _show(findings: list[Any]) -> str:
    lines = []
    for f in findings:
        lines.append(
            f"  {f.code} [{f.severity.value}] {Path(f.range.file).name}:{f.range.start_line}:{f.range.start_col}"
            f" model_prefix={f.model_prefix!r} checkpoint_prefix={f.checkpoint_prefix!r}"
            f"\n      model_keys={list(f.model_keys)[:6]}{'...' if len(f.model_keys) > 6 else ''}"
            f"\n      checkpoint_keys={list(f.checkpoint_keys)[:6]}{'...' if len(f.checkpoint_keys) > 6 else ''}"
            f"\n      {f.message[:300]}"
        )
    return "\n" + "\n".join(lines)


def _mentions_shape(message: str, shape: tuple[int, ...]) -> bool:
    """`[30, 10]`, `(30, 10)`, `torch.Size([30, 10])`, `30x10`, `30 × 10` all count."""
    dims = r"\s*(?:,|x|×)\s*".join(str(d) for d in shape)
    return re.search(rf"(?<![\d.]){dims}(?![\d.])", message) is not None


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _unknowable(case: Case, key: str) -> bool:
    return any(under(key, prefix) for prefix in case.unknown)


@pytest.mark.parametrize("v", VARIANTS, ids=[v.id for v in VARIANTS])
def test_check_variant(v: Variant, checkpoints: CheckpointFactory) -> None:
    written = checkpoints.get(v)
    truth = _truth(v)
    init = v.init if v.init is not None else v.case.init
    result = api.check(fixture_path(v.case.file), v.case.class_name, written.path, init=dict(init))
    findings = list(result.findings)
    shown = _show(findings)
    ckpt_keys = list(written.tensors)
    model_keys = list(truth.tensors)

    # which failing findings, how many
    failing = Counter(f.code for f in findings if f.fails)
    want: Counter[str] = Counter()
    wrapper = f"{v.prefix}." if v.prefix else ""
    expect_prefix = v.expect_prefix
    if (
        v.prefix
        and v.rename
        and set(truth.keys_under(v.rename[0])) == set(model_keys)
        and +failing == Counter({"renamed-module": 1})
    ):
        # The renamed module is the whole model: `resnet.*` <-> `module.backbone.*` may also be
        # read as one rename to `module.backbone` (SPEC: "whatever the new name is").
        expect_prefix, wrapper = None, ""
        v = dataclasses.replace(
            v, expect_prefix=None, expect_renames=((v.rename[0], f"{v.prefix}.{v.rename[1]}"),)
        )
    if expect_prefix is not None or v.expect_reverse_prefix is not None:
        want["key-prefix"] = 1
    want["renamed-module"] = len(v.expect_renames)
    want["missing-key"] = len(v.expect_missing)
    want["unexpected-key"] = len(v.expect_unexpected)
    if v.expect_shapes:
        assert failing["shape-mismatch"] >= 1, shown
        want["shape-mismatch"] = failing["shape-mismatch"]
    # unverified: one per unresolvable part of the fixture that checkpoint tensors fall under
    in_model_space = {
        (k[len(wrapper) :] if wrapper and k.startswith(wrapper) else k): k for k in ckpt_keys
    }
    unverified_parts = {
        p: {raw for k, raw in in_model_space.items() if under(k, p)}
        for p in v.case.unresolved
        if any(under(k, p) for k in in_model_space)
    }
    want["unverified"] = len(unverified_parts)
    assert +failing == +want, shown
    for f in findings:
        if f.code == "unverified":
            assert f.severity.value == "warning", shown
            assert f.model_prefix in unverified_parts, shown
            assert set(f.checkpoint_keys) == unverified_parts[f.model_prefix], shown
    # coverage: every checkpoint tensor counted once; unchecked exactly those under unknown parts
    cov = result.coverage
    assert cov.tensors == len(ckpt_keys)
    assert cov.checked + cov.keys_only + cov.unchecked == cov.tensors
    assert cov.unchecked == sum(len(keys) for keys in unverified_parts.values()), (cov, shown)
    assert all(f.fails for f in findings if f.is_mismatch), shown

    # key-prefix
    prefixes = [f for f in findings if f.code == "key-prefix"]
    if expect_prefix is not None:
        assert prefixes[0].checkpoint_prefix == expect_prefix, shown
    if v.expect_reverse_prefix is not None:
        assert prefixes[0].model_prefix == v.expect_reverse_prefix, shown
        assert prefixes[0].checkpoint_prefix in (None, ""), shown

    # renamed-module: prefixes, keys, and the `self.<attr>` line of the model side
    renames = {f.model_prefix: f for f in findings if f.code == "renamed-module"}
    for model_prefix, ckpt_prefix in v.expect_renames:
        assert model_prefix in renames, shown
        f = renames[model_prefix]
        # with a wrapper prefix as well, either namespace is fine for the checkpoint side
        assert f.checkpoint_prefix in (ckpt_prefix, wrapper + ckpt_prefix), shown
        assert set(f.model_keys) == set(truth.keys_under(model_prefix)), shown
        full = [k for k in ckpt_keys if under(k, wrapper + ckpt_prefix)]
        assert set(f.checkpoint_keys) in ({*full}, {k[len(wrapper) :] for k in full}), shown
        where = truth.module_origins[model_prefix]
        assert _same_file(f.range.file, where.file), shown
        assert (f.range.start_line, f.range.start_col) == (where.line, where.col), (
            where.short(),
            shown,
        )

    # missing-key: one per dropped module, exactly its keys, at the line creating it
    missing = [f for f in findings if f.code == "missing-key"]
    tied = result.predicted.tied
    retied = {k for f in findings if f.code == "tied-weights" for k in f.model_keys}
    for path in v.expect_missing:
        # a tied tensor (`decoder.weight = encoder.weight`) whose partner is in the checkpoint is
        # filled through the tie: reported as information, not missing
        keys = {k for k in truth.keys_under(path) if not (k in tied and tied[k] in ckpt_keys)}
        assert {k for k in truth.keys_under(path) if k not in keys} <= retied, shown
        hits = [f for f in missing if set(f.model_keys) == keys]
        assert len(hits) == 1, (path, shown)
        where = truth.module_origins[path]
        assert _same_file(hits[0].range.file, where.file), shown
        assert hits[0].range.start_line == where.line, (where.short(), shown)

    # unexpected-key: exactly the added keys
    for prefix in v.expect_unexpected:
        f = next(f for f in findings if f.code == "unexpected-key")
        assert set(f.checkpoint_keys) == {k for k in ckpt_keys if under(k, prefix)}, shown

    # shape-mismatch: exactly the keys whose shapes differ, both shapes in each message
    shape_pairs: dict[str, str] = {}
    if v.expect_shapes:
        shape_pairs = _shape_pairs(v, truth, written)
        assert shape_pairs, "the variant changes no shape: fix the manifest"
        found = [f for f in findings if f.code == "shape-mismatch"]
        assert {k for f in found for k in f.model_keys} == set(shape_pairs.values()), shown
        assert {k for f in found for k in f.checkpoint_keys} == set(shape_pairs), shown
        for f in found:
            assert any(
                _mentions_shape(f.message, truth.tensors[mk].shape)
                and _mentions_shape(f.message, tuple(written.tensors[ck].shape))
                for ck, mk in shape_pairs.items()
                if mk in f.model_keys
            ), shown

    # the mapping: complete, and what it says about dropped/missing is what the variant did
    m = result.mapping
    assert set(m.mapping) | set(m.dropped) == set(ckpt_keys), (
        "every checkpoint key is mapped or dropped"
    )
    assert not set(m.mapping) & set(m.dropped)
    want_dropped = {k for k in ckpt_keys if any(under(k, p) for p in v.expect_unexpected)} | set(
        shape_pairs
    )
    want_missing = {k for p in v.expect_missing for k in truth.keys_under(p)} | set(
        shape_pairs.values()
    )
    assert set(m.dropped) == want_dropped
    assert set(m.missing) == want_missing
    if not (v.prefix or v.rename or v.source or v.lightning):
        assert m.mapping == {k: k for k in ckpt_keys if k not in want_dropped}
    if expect_prefix is not None and not v.rename:
        cut = len(expect_prefix) + 1
        assert m.mapping == {k: k[cut:] for k in ckpt_keys}

    _assert_loads(v, truth, written, m)


def _shape_pairs(v: Variant, truth: Truth, written: Written) -> dict[str, str]:
    """checkpoint key -> model key, for the tensors whose shapes differ (knowable ones)."""
    pairs = {}
    lead = v.expect_reverse_prefix + "." if v.expect_reverse_prefix else ""
    for ck, tensor in written.tensors.items():
        mk = lead + ck
        if mk in truth.tensors and tuple(tensor.shape) != truth.tensors[mk].shape:
            assert not _unknowable(v.case, mk), (
                "the variant changes an unknowable shape: fix the manifest"
            )
            pairs[ck] = mk
    return pairs


def _assert_loads(v: Variant, truth: Truth, written: Written, m: api.KeyMapping) -> None:
    """SPEC: apply `mapping`, discard `dropped`, and `load_state_dict` accepts it. The model is
    built as the user would run it: in the environment the checkpoint was written in."""
    with _environment(v.source.env if v.source else {}):
        model = make(truth.rel, truth.class_name, truth.init)
    model_keys = list(model.state_dict())
    dropped = set(m.dropped)
    remapped = {m.mapping.get(k, k): t for k, t in written.tensors.items() if k not in dropped}
    assert set(remapped) <= set(model_keys), sorted(set(remapped) - set(model_keys))
    assert set(m.missing) == set(model_keys) - set(remapped)
    model.load_state_dict(remapped, strict=not m.missing)
    loaded = model.state_dict()
    for ck, tensor in written.tensors.items():
        if ck not in dropped:
            mk = m.mapping.get(ck, ck)
            assert torch.equal(loaded[mk], tensor), f"{ck} -> {mk}: not the checkpoint's tensor"


# ---------------------------------------------------------------- the generated code, as written


def _checked(v: Variant, checkpoints: CheckpointFactory) -> tuple[Written, api.CheckResult]:
    written = checkpoints.get(v)
    init = v.init if v.init is not None else v.case.init
    result = api.check(fixture_path(v.case.file), v.case.class_name, written.path, init=dict(init))
    want = ("state_dict",) if v.lightning else STATE_DICT_PATHS[v.container]
    assert result.index.state_dict_path == want
    return written, result


def _assert_loaded_as_mapped(
    written: Written, result: api.CheckResult, model: nn.Module, outcome: Any
) -> None:
    """load_state_dict's answer lists exactly the missing keys the mapping reports, nothing
    unexpected, and every kept tensor of the file sits where the mapping puts it.

    One exception is torch's own: given a state_dict without version metadata (the mapping
    builds a new dict), a batch norm layer fills its missing `num_batches_tracked` with its
    own value instead of reporting it (torch's upgrade from version 1), so that key, reported
    missing by ckptlens, keeps the model's value without torch listing it."""
    m = result.mapping
    filled = {
        key
        for key in m.missing
        if key.endswith(".num_batches_tracked")
        and isinstance(model.get_submodule(key.rpartition(".")[0]), nn.modules.batchnorm._BatchNorm)
    }
    assert sorted(outcome.missing_keys) == sorted(set(m.missing) - filled)
    assert list(outcome.unexpected_keys) == []
    loaded = model.state_dict()
    dropped = set(m.dropped)
    for ck, tensor in written.tensors.items():
        if ck not in dropped:
            mk = m.mapping.get(ck, ck)
            assert torch.equal(loaded[mk], tensor), f"{ck} -> {mk}: not the checkpoint's tensor"


@pytest.mark.parametrize("v", VARIANTS, ids=[v.id for v in VARIANTS])
def test_mapping_function_loads_the_file_as_its_docstring_says(
    v: Variant, checkpoints: CheckpointFactory
) -> None:
    """`map --format python`: the docstring ends with the code loading the file on disk
    through the function (`torch.load(path)` of the file as saved, wrapper entries and all).
    Run as written, it loads every tensor where it belongs, strictly, or with `strict=False`
    missing exactly the keys the mapping reports."""
    written, result = _checked(v, checkpoints)
    source = render_python(result.comparison, class_name=v.case.class_name, checkpoint=result.index)
    code = docstring_code(source)
    assert ("strict=False" in code) == bool(result.mapping.missing), code
    assert ("STATE_DICT_PATH = " in source) == bool(result.index.state_dict_path)
    truth = _truth(v)
    with _environment(v.source.env if v.source else {}):
        model = make(truth.rel, truth.class_name, truth.init)
    namespace: dict[str, Any] = {"torch": torch, "model": model, "path": str(written.path)}
    exec(compile(source, "<generated>", "exec"), namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = run_as_written(code, namespace)
    _assert_loaded_as_mapped(written, result, model, outcome)


@pytest.mark.parametrize("v", VARIANTS, ids=[v.id for v in VARIANTS])
def test_mapping_pre_hook_loads_the_file_as_its_docstring_says(
    v: Variant, checkpoints: CheckpointFactory
) -> None:
    """*Generate key mapping* in the class: the pre-hook inserted into the fixture's own source
    lets the user's unchanged `model.load_state_dict(torch.load(path))` (the docstring's code)
    load the file as written; the analysis reads the inserted code back, and re-checking with it
    leaves only the keys the mapping reports missing."""
    written, result = _checked(v, checkpoints)
    original_path = fixture_path(v.case.file)
    original = original_path.read_text()
    cls = next(
        node
        for node in ast.parse(original).body
        if isinstance(node, ast.ClassDef) and node.name == v.case.class_name
    )
    indent = " " * cls.body[0].col_offset
    method = render_python(
        result.comparison, class_name=v.case.class_name, indent=indent, checkpoint=result.index
    )
    fix = mapping_in_class(
        original, str(original_path), v.case.class_name, cls.lineno, method, "remap_state_dict"
    )
    assert fix is not None
    edited = apply_edits(original, fix.edits)
    code = docstring_code(edited)
    assert code.splitlines()[-1].startswith("model.load_state_dict(")
    assert "remap_state_dict(" not in code  # the pre-hook applies it

    # the analysis reads the mapping back; re-checked through it, only the missing keys stay
    decl = scan_source(str(original_path), edited).classes[v.case.class_name]
    assert decl.mapping is not None
    assert decl.mapping.state_dict_path == result.index.state_dict_path
    init = v.init if v.init is not None else v.case.init
    mapped = dataclasses.replace(
        result.index, tensors=remap_tensors(decl.mapping, result.index.tensors)
    )
    again = api.check(original_path, v.case.class_name, mapped, init=dict(init))
    # what the mapping cannot fix: missing keys, and tensors under parts nothing can resolve
    unverified = [f for f in again.findings if f.code == "unverified"]
    assert {f.model_prefix for f in unverified} <= set(v.case.unresolved), _show(unverified)
    failing = [f for f in again.findings if f.fails and f.code != "unverified"]
    assert {f.code for f in failing} <= {"missing-key"}, _show(failing)
    # a tied tensor missing from the file is filled through its tie: information, not failing
    retied = {k for f in again.findings if f.code == "tied-weights" for k in f.model_keys}
    assert {k for f in failing for k in f.model_keys} == set(result.mapping.missing) - retied

    truth = _truth(v)
    package = ".".join(Path(v.case.file).parts[:-1]) or None
    with _environment(v.source.env if v.source else {}):
        module = load_edited(edited, original_path, package)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = getattr(module, v.case.class_name)(**truth.init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = run_as_written(code, {"torch": torch, "model": model, "path": str(written.path)})
    _assert_loaded_as_mapped(written, result, model, outcome)


# ---------------------------------------------------------------- the CLI


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _variant(vid: str) -> Variant:
    return next(v for v in VARIANTS if v.id == vid)


@pytest.fixture(scope="session")
def corrupt(
    tmp_path_factory: pytest.TempPathFactory, checkpoints: CheckpointFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckptlens-corrupt")
    good = checkpoints.get(_variant("mlp.MLP/clean-zip")).path.read_bytes()
    truncated = root / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = root / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint\n" * 40)
    empty = root / "empty.pth"
    empty.write_bytes(b"")
    return {"truncated": truncated, "garbage": garbage, "empty": empty}


BAD_USAGE = [
    "unknown-class",
    "missing-source",
    "missing-checkpoint",
    "truncated",
    "garbage",
    "empty",
]


@pytest.mark.parametrize("what", BAD_USAGE)
def test_cli_bad_usage(
    what: str, checkpoints: CheckpointFactory, corrupt: dict[str, Path], tmp_path: Path
) -> None:
    source, klass = fixture_path("mlp.py"), "MLP"
    ckpt = checkpoints.get(_variant("mlp.MLP/clean-zip")).path
    if what == "unknown-class":
        klass = "NoSuchNet"
    elif what == "missing-source":
        source = tmp_path / "no_such_model.py"
    elif what == "missing-checkpoint":
        ckpt = tmp_path / "no_such.ckpt"
    else:
        ckpt = corrupt[what]
    proc = _cli("check", source, "--class", klass, "--checkpoint", ckpt, "--format", "json")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.strip()


def test_cli_mismatch_json(checkpoints: CheckpointFactory) -> None:
    v = _variant("seed:layer1-saved,layer_1-loaded")
    ckpt = checkpoints.get(v).path
    proc = _cli(
        "check",
        fixture_path(v.case.file),
        "--class",
        v.case.class_name,
        "--checkpoint",
        ckpt,
        "--format",
        "json",
    )
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    data = json.loads(proc.stdout)
    assert list(data) == ["findings", "coverage", "inferred", "constructor"]
    n = len(checkpoints.get(v).tensors)
    assert data["coverage"] == {"tensors": n, "checked": n, "keys_only": 0, "unchecked": 0}
    for f in data["findings"]:
        assert list(f) == SPEC_FINDING_FIELDS, f
        assert f["severity"] in ("error", "warning", "information", "hint")
        assert isinstance(f["line"], int) and f["line"] >= 1
        assert isinstance(f["column"], int) and f["column"] >= 1
        assert Path(f["file"]).is_absolute()
        assert all(isinstance(k, str) for k in f["model_keys"] + f["checkpoint_keys"])
        assert f["model_prefix"] is None or isinstance(f["model_prefix"], str)
        assert f["checkpoint_prefix"] is None or isinstance(f["checkpoint_prefix"], str)
    (rename,) = [f for f in data["findings"] if f["code"] == "renamed-module"]
    where = _truth(v).module_origins["layer_1"]
    assert (rename["line"], rename["column"]) == (where.line, where.col + 1)  # 1-based column
    assert (rename["model_prefix"], rename["checkpoint_prefix"]) == ("layer_1", "layer1")
    assert rename["model_keys"] == ["layer_1.weight", "layer_1.bias"]
    assert rename["checkpoint_keys"] == ["layer1.weight", "layer1.bias"]
    assert _same_file(rename["file"], where.file)


def test_cli_shape_mismatch_exit_1(checkpoints: CheckpointFactory) -> None:
    v = _variant("seed:hidden-20-saved,30-loaded")
    proc = _cli(
        "check",
        fixture_path(v.case.file),
        "--class",
        v.case.class_name,
        "--checkpoint",
        checkpoints.get(v).path,
        "--format",
        "json",
    )
    assert proc.returncode == 1, proc.stderr
    codes = {
        f["code"]
        for f in json.loads(proc.stdout)["findings"]
        if f["severity"] in ("error", "warning")
    }
    assert codes == {"shape-mismatch"}


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_cli_clean_exit_0(fmt: str, checkpoints: CheckpointFactory) -> None:
    ckpt = checkpoints.get(_variant("mlp.MLP/clean-lightning-dict")).path
    proc = _cli(
        "check", fixture_path("mlp.py"), "--class", "MLP", "--checkpoint", ckpt, "--format", fmt
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    if fmt == "json":
        findings = json.loads(proc.stdout)["findings"]
        assert all(f["severity"] in ("information", "hint") for f in findings)


def test_cli_init_literal(checkpoints: CheckpointFactory) -> None:
    """`--init hidden=20` builds the model the shape variant's checkpoint came from."""
    ckpt = checkpoints.get(_variant("mlp.MLP/shape-hidden")).path
    base = (
        "check",
        fixture_path("mlp.py"),
        "--class",
        "MLP",
        "--checkpoint",
        ckpt,
        "--format",
        "json",
    )
    assert _cli(*base).returncode == 1
    proc = _cli(*base, "--init", "hidden=20")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
