"""Constructs from public research repositories (tests/research/) that gave a false alarm or
left large parts unknown: each on a small model, with the keys torch builds (meta device)
where torch can build it, and unknown -- never a guess -- where the value cannot be known."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from ckptlens.api import predict


def _predict(tmp_path: Path, source: str, name: str = "Net", **kwargs: Any):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(source))
    return predict(path, name, **kwargs)


def _keys(predicted) -> dict[str, object]:
    return {k: t.shape for k, t in predicted.tensors.items()}


def _unknown(predicted) -> list[str]:
    return [part.prefix for part in predicted.unknown]


def _torch(tmp_path: Path, name: str = "Net", **kwargs: Any) -> dict[str, tuple[int, ...]]:
    """torch's own state_dict of `name(**kwargs)` from tmp_path/model.py (meta device)."""
    torch = pytest.importorskip("torch")
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"research_model_{abs(hash(tmp_path))}", tmp_path / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.device("meta"):
        model = getattr(module, name)(**kwargs)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


NANOGPT_LAYERNORM = """
    import torch
    import torch.nn as nn

    class LayerNorm(nn.Module):
        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    class Net(nn.Module):
        def __init__(self, bias):
            super().__init__()
            self.ln = LayerNorm(8, bias=bias)
            self.buf = torch.nn.Buffer(torch.zeros(3)) if bias else None
    """


@pytest.mark.parametrize("bias", [True, False])
def test_a_parameter_or_none_by_a_known_flag_is_exact(tmp_path: Path, bias: bool) -> None:
    # karpathy/nanoGPT's LayerNorm: `nn.Parameter(...) if bias else None`
    predicted = _predict(tmp_path, NANOGPT_LAYERNORM, init={"bias": bias})
    assert _keys(predicted) == _torch(tmp_path, bias=bias)
    assert _unknown(predicted) == []


def test_a_parameter_or_none_by_an_unknown_flag_is_an_unknown_key_never_a_dropped_one(tmp_path: Path) -> None:
    # the flag unknown (a config field nobody gave): `ln.bias` and `buf` may exist, so they are
    # unknown; before, the conditional made a plain attribute and the keys vanished (a correct
    # checkpoint got `unexpected-key` for them)
    source = NANOGPT_LAYERNORM.replace("def __init__(self, bias)", "def __init__(self, cfg)")
    source = source.replace("bias=bias)", "bias=cfg.bias)").replace("if bias else None\n    \"", "")
    source = source.replace("zeros(3)) if bias", "zeros(3)) if cfg.bias")
    predicted = _predict(tmp_path, source, config={"width": 8})
    assert _keys(predicted) == {"ln.weight": (8,)}
    assert _unknown(predicted) == ["ln.bias", "buf"]


LUCIDRAINS_DEFAULT = """
    from collections import namedtuple
    from functools import partial
    import torch
    from torch import nn

    AttentionConfig = namedtuple("AttentionConfig", ["enable_flash", "enable_math", "enable_mem_efficient"])
    Pair = namedtuple("Pair", "left, right", defaults=[4])

    def exists(x):
        return x is not None

    def default(val, d):
        if exists(val):
            return val
        return d() if callable(d) else d

    class RMSNorm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.scale = dim ** 0.5
            self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    class Net(nn.Module):
        def __init__(self, dim, dim_out=None, width=None):
            super().__init__()
            dim_out = default(dim_out, dim)
            width = default(width, lambda: dim * 2)
            self.cpu_config = AttentionConfig(True, True, True)
            pair = Pair(3)
            self.norm = RMSNorm(dim_out)
            self.proj = nn.Linear(dim, width)
            self.pair = nn.Linear(pair.left, pair.right)
            self.res = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()
            self.flash = nn.Linear(1, 1) if self.cpu_config.enable_flash else None
            self.plain = nn.Linear(1, 1) if callable(partial(max, 1)) and not callable(3) else None
    """


@pytest.mark.parametrize("init", [{"dim": 8}, {"dim": 8, "dim_out": 16, "width": 5}])
def test_callable_and_namedtuple_are_known(tmp_path: Path, init: dict[str, int]) -> None:
    # lucidrains/denoising-diffusion-pytorch: `default(val, d)` asks `callable(d)`, and `Attend`
    # keeps a `namedtuple` config; both were unknown and left norms, convs and configs unknown
    predicted = _predict(tmp_path, LUCIDRAINS_DEFAULT, init=init)
    assert _keys(predicted) == _torch(tmp_path, **init)
    assert _unknown(predicted) == []


def test_callable_of_an_instance_or_an_unknown_value_is_unknown(tmp_path: Path) -> None:
    # an object whose class may define `__call__`, an unknown argument: never a guess
    predicted = _predict(
        tmp_path,
        """
        from torch import nn

        class Thing:
            pass

        class Net(nn.Module):
            def __init__(self, given):
                super().__init__()
                self.a = nn.Linear(1, 1) if callable(Thing()) else nn.Linear(2, 2)
                self.b = nn.Linear(1, 1) if callable(given) else nn.Linear(2, 2)
        """,
    )
    # the branches build the same keys: only their dims are unknown
    unsure = {"weight": (None, None), "bias": (None,)}
    assert _keys(predicted) == {f"{m}.{k}": v for m in "ab" for k, v in unsure.items()}


CVT_LOCALS = """
    from torch import nn

    def group_dict_by_key(cond, d):
        return_val = [dict(), dict()]
        for key in d.keys():
            match = bool(cond(key))
            ind = int(not match)
            return_val[ind][key] = d[key]
        return (*return_val,)

    def group_by_key_prefix_and_remove_prefix(prefix, d):
        kwargs_with_prefix, kwargs = group_dict_by_key(lambda x: x.startswith(prefix), d)
        kwargs_without_prefix = dict(map(lambda x: (x[0][len(prefix):], x[1]), tuple(kwargs_with_prefix.items())))
        return kwargs_without_prefix, kwargs

    class Net(nn.Module):
        def __init__(self, *, s1_dim=4, s1_depth=2, s2_dim=6, s2_depth=3, classes=10):
            super().__init__()
            kwargs = dict(locals())
            assert kwargs["__class__"] is Net and kwargs["self"] is self
            layers = []
            for prefix in ("s1", "s2"):
                config, kwargs = group_by_key_prefix_and_remove_prefix(f"{prefix}_", kwargs)
                layers.append(nn.Sequential(*[nn.Linear(config["dim"], 1) for _ in range(config["depth"])]))
            self.layers = nn.Sequential(*layers)
            self.head = nn.Linear(len(kwargs), classes)
    """


@pytest.mark.parametrize("init", [{}, {"s1_depth": 1, "s2_dim": 5, "classes": 3}])
def test_locals_in_a_method_is_its_arguments_and_names(tmp_path: Path, init: dict[str, int]) -> None:
    # lucidrains/vit-pytorch's CvT groups `dict(locals())` by prefix: `locals()` was unknown and
    # every stage's depth with it (0.3 % of CvT's keys known)
    predicted = _predict(tmp_path, CVT_LOCALS, init=init)
    assert _keys(predicted) == _torch(tmp_path, **init)
    assert _unknown(predicted) == []


def test_locals_outside_a_method_body_is_unknown(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        from torch import nn

        WIDTH = 3
        TOP = locals()

        class Net(nn.Module):
            def __init__(self, width=2):
                super().__init__()
                self.a = nn.Linear(1, len(TOP))
                self.b = nn.Linear(1, len([locals() for _ in range(1)][0]))
        """,
    )
    assert _keys(predicted) == {"a.weight": (None, 1), "a.bias": (None,), "b.weight": (None, 1), "b.bias": (None,)}


POSITIONS = """
    import numpy as np
    import torch
    from torch import nn
    from einops import rearrange

    class Net(nn.Module):
        def __init__(self, length=10, channels=8, fmap_size=4, downsample=True):
            super().__init__()
            # openai/whisper's `sinusoids`
            increment = np.log(10000) / (channels // 2 - 1)
            inv = torch.exp(-increment * torch.arange(channels // 2))
            scaled = torch.arange(length)[:, np.newaxis] * inv[np.newaxis, :]
            self.register_buffer("sinusoids", torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1))
            # lucidrains/vit-pytorch's LeViT relative positions
            q_range = torch.arange(0, fmap_size, step=(2 if downsample else 1))
            k_range = torch.arange(fmap_size)
            q_pos = torch.stack(torch.meshgrid(q_range, q_range, indexing="ij"), dim=-1)
            k_pos = torch.stack(torch.meshgrid(k_range, k_range, indexing="ij"), dim=-1)
            q_pos, k_pos = map(lambda t: rearrange(t, "i j c -> (i j) c"), (q_pos, k_pos))
            rel_pos = (q_pos[:, None, ...] - k_pos[None, :, ...]).abs()
            x_rel, y_rel = rel_pos.unbind(dim=-1)
            self.register_buffer("pos_indices", (x_rel * fmap_size) + y_rel)
            first, *rest = torch.unbind(rel_pos, 1)
            self.register_buffer("first", first)
            self.register_buffer("rest", torch.zeros(len(rest)))
    """


@pytest.mark.parametrize("init", [{}, {"length": 7, "channels": 6, "fmap_size": 6, "downsample": False}])
def test_numpy_newaxis_and_unbind_keep_shapes(tmp_path: Path, init: dict[str, Any]) -> None:
    # `np.newaxis` (whisper's positional table) and `Tensor.unbind` (LeViT's `pos_indices`)
    # left those buffers' shapes unknown
    pytest.importorskip("einops")
    predicted = _predict(tmp_path, POSITIONS, init=init)
    assert {k: t.shape for k, t in predicted.tensors.items()} == _torch(tmp_path, **init)
    assert _unknown(predicted) == []


def test_inspect_isfunction_and_isclass_are_known(tmp_path: Path) -> None:
    # CompVis/stable-diffusion's `default(val, d)`: `d() if isfunction(d) else d` left every
    # cross-attention width unknown
    source = """
        from inspect import isfunction, isclass
        from functools import partial
        from torch import nn

        def default(val, d):
            return val if val is not None else (d() if isfunction(d) else d)

        class Net(nn.Module):
            def __init__(self, dim=4, context_dim=None):
                super().__init__()
                self.to_k = nn.Linear(default(context_dim, dim), 8)
                self.to_v = nn.Linear(default(context_dim, lambda: dim * 2), 8)
                self.a = nn.Linear(1, 1) if isclass(nn.Linear) and not isclass(partial(max)) else None
                self.b = nn.Linear(1, 1) if not isfunction(nn.Linear) and not isfunction(3) else None
        """
    for init in ({}, {"context_dim": 6}):
        predicted = _predict(tmp_path, source, init=init)
        assert _keys(predicted) == _torch(tmp_path, **init)
        assert _unknown(predicted) == []


def test_an_absolute_import_of_the_files_own_namespace_package(tmp_path: Path) -> None:
    # CompVis/stable-diffusion: `ldm/` and `ldm/modules/` have no `__init__.py`; the repository
    # runs from its root, so `from ldm.modules.util import conv` finds `ldm/modules/util.py`
    # (every layer of the UNet was unknown)
    (tmp_path / "ldm" / "modules" / "blocks").mkdir(parents=True)
    (tmp_path / "ldm" / "modules" / "util.py").write_text("from torch import nn\n\ndef conv(a, b):\n    return nn.Conv2d(a, b, 3)\n")
    (tmp_path / "ldm" / "modules" / "blocks" / "__init__.py").write_text("")
    model = tmp_path / "ldm" / "modules" / "blocks" / "model.py"
    model.write_text(textwrap.dedent("""
        from torch import nn
        from ldm.modules.util import conv
        from ldm.missing import thing

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = conv(2, 3)
                self.other = thing()
        """))
    predicted = predict(model, "Net")
    assert _keys(predicted) == {"conv.weight": (3, 2, 3, 3), "conv.bias": (3,)}
    assert _unknown(predicted) == ["other"]


LORA_CONV = """
    import torch
    from torch import nn

    class ConvLoRA(nn.Module):
        def __init__(self, conv_module, in_channels, out_channels, kernel_size, r=0, **kwargs):
            super().__init__()
            self.conv = conv_module(in_channels, out_channels, kernel_size, **kwargs)
            for name, param in self.conv.named_parameters():
                self.register_parameter(name, param)
            if r > 0:
                self.lora_A = nn.Parameter(self.conv.weight.new_zeros((r * kernel_size, in_channels * kernel_size)))

    class Net(nn.Module):
        def __init__(self, r=2, bias=True):
            super().__init__()
            self.a = ConvLoRA(nn.Conv2d, 4, 8, 3, r=r, bias=bias)
            self.b = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
            for name, param in self.b.named_parameters():
                self.register_parameter(name.replace(".", "_"), param)
    """


@pytest.mark.parametrize("init", [{}, {"r": 0, "bias": False}])
def test_named_parameters_of_a_known_module(tmp_path: Path, init: dict[str, Any]) -> None:
    # microsoft/LoRA's ConvLoRA registers its conv's parameters on itself: unknown, the module
    # was open (torch's extra keys unchecked)
    predicted = _predict(tmp_path, LORA_CONV, init=init)
    assert _keys(predicted) == _torch(tmp_path, **init)
    assert _unknown(predicted) == [] and list(predicted.open) == []


def test_named_parameters_of_a_module_with_an_unknown_part_stays_unknown(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        from torch import nn
        from somewhere_unknown import Thing

        class Net(nn.Module):
            def __init__(self, flag):
                super().__init__()
                inner = nn.Sequential(nn.Linear(2, 3), Thing())
                for name, param in inner.named_parameters():
                    self.register_parameter(name.replace(".", "_"), param)
                self.head = nn.Linear(3, 1)
        """,
    )
    assert _keys(predicted) == {"head.weight": (1, 3), "head.bias": (1,)}
    assert [part.prefix for part in predicted.open] == [""]


HIFIGAN = """
    import torch
    from torch import nn

    class AttrDict(dict):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.__dict__ = self

    class ResBlock(nn.Module):
        def __init__(self, h, channels, kernel_size=3):
            super().__init__()
            self.h = h
            self.conv = nn.Conv1d(channels, channels, kernel_size)

    class Net(nn.Module):
        def __init__(self, h):
            super().__init__()
            self.h = h
            self.conv_pre = nn.Conv1d(80, h.upsample_initial_channel, 7)
            self.ups = nn.ModuleList()
            for i, (u, k) in enumerate(zip(h.upsample_rates, h.upsample_kernel_sizes)):
                self.ups.append(nn.ConvTranspose1d(h.upsample_initial_channel // (2 ** i),
                                                   h.upsample_initial_channel // (2 ** (i + 1)), k, u))
                self.ups.append(ResBlock(h, h.upsample_initial_channel // (2 ** (i + 1))))

    class Head(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone
            self.fc = nn.Linear(backbone.fc.in_features, 2)
    """

HIFIGAN_CONFIG = {"upsample_rates": [8, 2], "upsample_kernel_sizes": [16, 4], "upsample_initial_channel": 32}


def test_a_sole_parameter_used_as_a_bag_of_values_takes_the_config(tmp_path: Path) -> None:
    # jik876/hifi-gan's `Generator(h)` with `h = AttrDict(json.load(config.json))`: `--config`
    # keys name no parameter, so they were all unused and every layer was unknown
    predicted = _predict(tmp_path, HIFIGAN, config=HIFIGAN_CONFIG)
    torch = pytest.importorskip("torch")
    import importlib.util

    spec = importlib.util.spec_from_file_location("research_hifigan", tmp_path / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.device("meta"):
        model = module.Net(module.AttrDict(HIFIGAN_CONFIG))
    assert _keys(predicted) == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert _unknown(predicted) == []


def test_a_sole_parameter_used_as_a_module_never_takes_the_config(tmp_path: Path) -> None:
    # `backbone.fc.in_features` reads an attribute of an attribute: a module, not a config
    # (and `backbone`, not given, may be a module: kept on `self`, checkpoint keys under it are
    # unverified, never `unexpected-key` errors; as such an argument is most often a number or a
    # name, it is no unknown part)
    predicted = _predict(tmp_path, HIFIGAN, "Head", config={"fc": {"in_features": 3}})
    assert _keys(predicted) == {"fc.weight": (2, None), "fc.bias": (2,)}
    assert _unknown(predicted) == []
    assert [p.prefix for p in predicted.open] == ["backbone"]
    assert not any(f.code == "unresolved" and f.model_prefix == "backbone" for f in predicted.findings)
    assert any(f.code == "unused-config" for f in predicted.findings)


def test_a_module_argument_nobody_gave_is_never_a_false_unexpected_key(tmp_path: Path) -> None:
    # facebookresearch/detr's `DETR(backbone, transformer, ...)`, lucidrains' `GaussianDiffusion(model)`:
    # checked without the module argument, its checkpoint keys were `unexpected-key` errors
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from ckptlens.api import check
    from ckptlens.findings import MISMATCH_CODES

    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self, backbone, classes=2):
                super().__init__()
                self.backbone = backbone
                self.fc = nn.Linear(4, classes)
        """))
    saved = tmp_path / "model.safetensors"
    save_file({"backbone.conv.weight": torch.zeros(3, 3), "fc.weight": torch.zeros(2, 4), "fc.bias": torch.zeros(2)}, saved)
    result = check(path, "Net", saved)
    assert [f.code for f in result.findings if f.code in MISMATCH_CODES] == []
    assert [f.code for f in result.findings] == ["unverified"]
    # a wrong head is still found
    save_file({"backbone.conv.weight": torch.zeros(3, 3), "fc.weight": torch.zeros(5, 4), "fc.bias": torch.zeros(5)}, saved)
    assert "shape-mismatch" in [f.code for f in check(path, "Net", saved).findings]


NVIT = """
    import torch
    from torch import nn
    import torch.nn.utils.parametrize as parametrize

    class L2Norm(nn.Module):
        def __init__(self, dim=-1):
            super().__init__()
            self.dim = dim

        def forward(self, t):
            return t / t.norm(dim=self.dim, keepdim=True)

    class Scaled(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(width))

        def forward(self, t):
            return t * self.scale

    class Net(nn.Module):
        def __init__(self, dim=8, depth=2, twice=False):
            super().__init__()
            self.linear = nn.Linear(dim, 4, bias=False)
            parametrize.register_parametrization(self.linear, "weight", L2Norm())
            if twice:
                parametrize.register_parametrization(self.linear, "weight", Scaled(dim))
            self.scales = nn.ParameterList([])
            for _ in range(depth):
                self.scales.append(nn.ParameterList([nn.Parameter(torch.ones(dim)), nn.Parameter(torch.ones(dim))]))
            self.scales.append(nn.Parameter(torch.zeros(3)))
            self.count = nn.Linear(len(self.scales), 1)
    """


@pytest.mark.parametrize("init", [{}, {"depth": 3, "twice": True}])
def test_register_parametrization_and_a_parameter_list_of_parameter_lists(tmp_path: Path, init: dict[str, Any]) -> None:
    # lucidrains/vit-pytorch's nViT: `parametrize.register_parametrization(self.linear, ...)` was
    # not followed (`linear.weight` predicted, torch has `linear.parametrizations.weight.original`)
    # and a ParameterList's module items were dropped: both false alarms
    predicted = _predict(tmp_path, NVIT, init=init)
    assert _keys(predicted) == _torch(tmp_path, **init)
    assert _unknown(predicted) == []


def test_a_module_handed_to_an_unmodelled_torch_utility_is_unknown(tmp_path: Path) -> None:
    # a torch.nn.utils function the analysis does not model may rename, add or drop the
    # tensors of the module it is handed: `a` is unknown (`prune.*` is modelled: see
    # tests/test_module_mutations.py)
    predicted = _predict(
        tmp_path,
        """
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(4, 3, 1)
                self.b = nn.Linear(3, 2)
                torch.nn.utils.convert_conv2d_weight_memory_format(self.a, torch.channels_last)
                torch.nn.utils.clip_grad_norm_(self.b.parameters(), 1.0)
        """,
    )
    assert _keys(predicted) == {"b.weight": (2, 3), "b.bias": (2,)}
    assert _unknown(predicted) == ["a"]


TYPE_AND_NAME = """
    import functools
    import types
    from torch import nn

    def is_lambda(f):
        return callable(f) and f.__name__ == "<lambda>"

    def named():
        return 3

    class Net(nn.Module):
        def __init__(self, norm_layer=nn.BatchNorm2d, make=lambda: 5, width=4):
            super().__init__()
            # taming-transformers' NLayerDiscriminator
            if type(norm_layer) == functools.partial:
                use_bias = norm_layer.func != nn.BatchNorm2d
            else:
                use_bias = norm_layer != nn.BatchNorm2d
            self.conv = nn.Conv2d(3, width, 3, bias=use_bias)
            self.norm = norm_layer(width)
            # lucidrains' simple_diffusion: `default(init_img_transform, lambda: ...)`
            self.a = nn.Linear(make() if is_lambda(make) else 1, 2)
            self.b = nn.Linear(named() if is_lambda(named) else 7, 2)
            self.c = nn.Linear(1, 1) if type(named) == types.FunctionType else None
    """


@pytest.mark.parametrize("init", [{}, {"width": 6}])
def test_type_of_a_partial_or_a_layer_class_and_a_function_name(tmp_path: Path, init: dict[str, Any]) -> None:
    predicted = _predict(tmp_path, TYPE_AND_NAME, init=init)
    assert _keys(predicted) == _torch(tmp_path, **init)
    assert _unknown(predicted) == []


def test_type_of_a_partial_norm_layer(tmp_path: Path) -> None:
    source = TYPE_AND_NAME + """
    class WithPartial(Net):
        def __init__(self):
            super().__init__(norm_layer=functools.partial(nn.InstanceNorm2d, affine=True))
    """
    predicted = _predict(tmp_path, source, "WithPartial")
    assert _keys(predicted) == _torch(tmp_path, "WithPartial")
    assert _unknown(predicted) == []


def test_type_of_a_source_class_is_known_only_with_the_plain_metaclass(tmp_path: Path) -> None:
    # taming's `NLayerDiscriminator(use_actnorm=True)` hands its own `ActNorm` class
    predicted = _predict(
        tmp_path,
        """
        import abc
        import functools
        from torch import nn

        class ActNorm(nn.Module):
            def __init__(self, n):
                super().__init__()

        class Meta(abc.ABCMeta):
            pass

        class Odd(nn.Module, metaclass=Meta):
            pass

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, 2, bias=type(ActNorm) == functools.partial)
                self.b = nn.Linear(2, 2, bias=type(Odd) == type)
        """,
    )
    assert _keys(predicted) == {"a.weight": (2, 2)}
    assert _unknown(predicted) == ["b"]


LORA_NEW = """
    from torch import nn

    class LoRALinear(nn.Module):
        def __new__(cls, dim_in, dim_out=None, dim=None):
            dim_out = dim_out if dim_out is not None else dim_in
            if dim is None:
                return nn.Linear(dim_in, dim_out, bias=False)
            return super().__new__(cls)

        def __init__(self, dim_in, dim_out=None, dim=None):
            super().__init__()
            dim_out = dim_out if dim_out is not None else dim_in
            self.down = nn.Linear(dim_in, dim, bias=False)
            self.up = nn.Linear(dim, dim_out, bias=False)

    class Net(nn.Module):
        def __init__(self, rank=None):
            super().__init__()
            self.a = LoRALinear(8, 4)
            self.b = LoRALinear(8, 4, dim=2)
            self.c = LoRALinear(8, 4, dim=rank)
    """


@pytest.mark.parametrize("init", [{}, {"rank": 3}])
def test_a_new_that_returns_another_module_or_the_instance(tmp_path: Path, init: dict[str, Any]) -> None:
    # lucidrains/x-transformers' LoRALinear: `__new__` returns a plain Linear when no rank is
    # given (its `__init__` never runs); it was predicted as down/up (a false alarm)
    predicted = _predict(tmp_path, LORA_NEW, init=init)
    assert _keys(predicted) == _torch(tmp_path, **init)
    assert _unknown(predicted) == []


def test_a_new_whose_result_depends_on_an_unknown_value_is_unknown(tmp_path: Path) -> None:
    predicted = _predict(tmp_path, LORA_NEW.replace("def __init__(self, rank=None)", "def __init__(self, cfg)")
                         .replace("dim=rank)", "dim=cfg.rank)"), config={"other": 1})
    assert _unknown(predicted) == ["c"]


def test_a_new_that_always_returns_its_instance_builds_as_usual(tmp_path: Path) -> None:
    # huggingface_hub's ModelHubMixin.__new__ (facebookresearch/hiera): records a config on the
    # instance through paths the analysis cannot follow, but returns the instance on every one
    source = """
        from torch import nn
        from somewhere_unknown import describe

        class Mixin:
            def __new__(cls, *args, **kwargs):
                instance = super().__new__(cls)
                if instance.config_known is not None:
                    return instance
                instance.config = describe(cls, args, kwargs)
                return instance

        class Net(nn.Module, Mixin):
            def __init__(self, width=3):
                super().__init__()
                self.proj = nn.Linear(2, width)
        """
    predicted = _predict(tmp_path, source)
    assert _keys(predicted) == {"proj.weight": (3, 2), "proj.bias": (3,)}
    assert _unknown(predicted) == []


def test_an_argument_nobody_gave_kept_on_self_is_no_unknown_part(tmp_path: Path) -> None:
    """`self.act_name = act` with `act` not given: no `unresolved` note on that line and no
    unknown part (most such arguments are numbers or names), while checkpoint tensors under it
    would be unverified (the test above)."""
    torch = pytest.importorskip("torch")
    from ckptlens.api import check

    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self, act, scale):
                super().__init__()
                self.act_name = act
                self.scale = scale
                self.fc = nn.Linear(4, 3)
        """))
    torch.save({"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3)}, tmp_path / "ckpt.pt")
    result = check(path, "Net", tmp_path / "ckpt.pt")
    assert result.findings == []
    assert result.coverage.checked == result.coverage.tensors == 2
    assert [p.prefix for p in result.predicted.unknown] == []
