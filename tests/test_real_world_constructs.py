"""Constructs real model libraries lean on (torchvision, timm), on inline sources: each resolves
exactly where Python would, and is unknown -- never a guess -- where it cannot be known."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ckptlens.api import predict


def _predict(tmp_path: Path, source: str, name: str = "Net", **kwargs: object):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(source))
    return predict(path, name, **kwargs)  # type: ignore[arg-type]


def _keys(predicted) -> dict[str, object]:
    return {k: t.shape for k, t in predicted.tensors.items()}


def _unknown(predicted) -> list[str]:
    return [part.prefix for part in predicted.unknown]


def test_sequential_of_an_unknown_ordered_dict_is_unknown_as_a_whole(tmp_path: Path) -> None:
    # torchvision RegNet: the blocks are named `block1`...; with their number unknown, the
    # container's children are unknown -- not a single unknown child called `0`
    predicted = _predict(
        tmp_path,
        """
        import os
        from collections import OrderedDict
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                blocks = []
                for i in range(int(os.environ["DEPTH"])):
                    blocks.append((f"block{i + 1}", nn.Linear(4, 4)))
                self.trunk = nn.Sequential(OrderedDict(blocks))
                self.fc = nn.Linear(4, 2)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (2, 4), "fc.bias": (2,)}
    assert _unknown(predicted) == ["trunk"]


def test_library_base_constructor_called_unbound_builds_its_tensors(tmp_path: Path) -> None:
    # timm's LayerNorm2d-style classes: `nn.LayerNorm.__init__(self, ...)` instead of super()
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class LayerNorm2d(nn.LayerNorm):
            def __init__(self, channels, eps=1e-6):
                nn.LayerNorm.__init__(self, channels, eps=eps)

        class Plain(nn.Module):
            def __init__(self):
                nn.Module.__init__(self)
                self.fc = nn.Linear(3, 2, bias=False)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.norm = LayerNorm2d(8)
                self.plain = Plain()
        """,
    )
    assert _keys(predicted) == {"norm.weight": (8,), "norm.bias": (8,), "plain.fc.weight": (2, 3)}
    assert _unknown(predicted) == []


def test_isinstance_against_abstract_and_library_types_answers_for_plain_values(tmp_path: Path) -> None:
    # torchvision's `isinstance(setting, Sequence)`, timm's `isinstance(x, collections.abc.Iterable)`
    # and `isinstance(norm_layer, functools.partial)`: a False here would run the library's `raise`
    predicted = _predict(
        tmp_path,
        """
        import collections.abc
        import functools
        import numbers
        import types
        from typing import Callable, Sequence
        import torch.nn as nn

        def width(x):
            return x

        class Net(nn.Module):
            def __init__(self, sizes=(4, 6)):
                super().__init__()
                if not isinstance(sizes, Sequence):
                    raise ValueError("sizes")
                assert isinstance([1], collections.abc.Iterable) and not isinstance(3, collections.abc.Iterable)
                layer = functools.partial(nn.Linear, bias=False)
                dims = [isinstance(layer, functools.partial), isinstance(nn.Linear, functools.partial),
                        isinstance(width, types.FunctionType) and not isinstance(nn.BatchNorm2d, types.FunctionType), isinstance(nn.Linear, type),
                        isinstance(3, type), isinstance(2.5, numbers.Number), isinstance("a", numbers.Number),
                        isinstance(width, Callable), isinstance(4, Callable), isinstance({}, collections.abc.Mapping)]
                self.fc = layer(sizes[0], sizes[1] + sum(2 ** i for i, d in enumerate(dims) if d))
                self.seq = nn.Sequential(nn.ReLU())
                self.flag = nn.Linear(2, 1 + isinstance(self.seq, collections.abc.Iterable))
        """,
    )
    # True at positions 0, 2, 3, 5, 7, 9 -> 1 + 4 + 8 + 32 + 128 + 512 = 685
    assert _keys(predicted) == {"fc.weight": (691, 4), "flag.weight": (2, 2), "flag.bias": (2,)}
    assert _unknown(predicted) == []


def test_isinstance_of_an_unknown_library_type_stays_unknown(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import typing
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3 if isinstance([1], typing.SupportsInt) else 5)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (None, 4), "fc.bias": (None,)}


def test_enum_members_are_instances_of_their_class_with_name_and_value(tmp_path: Path) -> None:
    # torchvision's weights enums: `Weights.verify(w)` raises unless `isinstance(w, cls)`
    predicted = _predict(
        tmp_path,
        """
        from enum import Enum
        import torch.nn as nn

        class Size(Enum):
            SMALL = 4
            LARGE = 16

            @classmethod
            def verify(cls, obj):
                if obj is not None and not isinstance(obj, cls):
                    raise TypeError("bad")
                return obj

            @property
            def width(self):
                return self.value * 2

        class Net(nn.Module):
            def __init__(self, size=Size.LARGE):
                super().__init__()
                size = Size.verify(size)
                assert size is Size.LARGE and Size(4) is Size.SMALL and Size["SMALL"] is Size.SMALL
                self.fc = nn.Linear(size.value, size.width, bias=size.name == "SMALL")
                self.heads = nn.ModuleList([nn.Linear(1, s.value, bias=False) for s in Size])
        """,
    )
    assert _keys(predicted) == {"fc.weight": (32, 16), "heads.0.weight": (4, 1), "heads.1.weight": (16, 1)}
    assert _unknown(predicted) == []


def test_dataclass_subclass_with_its_own_init_runs_it_and_reaches_the_generated_one(tmp_path: Path) -> None:
    # torchvision's MBConvConfig: scales the widths, then `super().__init__(...)` of a dataclass
    predicted = _predict(
        tmp_path,
        """
        from dataclasses import dataclass, field
        from functools import partial
        import torch.nn as nn

        @dataclass
        class _Config:
            width: int
            depth: int
            extra: list = field(default_factory=lambda: [1, 2])

            def __post_init__(self):
                self.total = self.width * self.depth

        class Config(_Config):
            def __init__(self, width, depth, width_mult=1.0):
                super().__init__(int(width * width_mult), depth)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                conf = partial(Config, width_mult=2.0)(3, 4)
                self.fc = nn.Linear(conf.width, conf.total + len(conf.extra))
        """,
    )
    assert _keys(predicted) == {"fc.weight": (26, 6), "fc.bias": (26,)}


def test_module_list_grown_in_a_loop_of_unknown_length_stays_a_module_tree(tmp_path: Path) -> None:
    # torchvision maxvit_t: `self.layers += [...]` per item of an unknown list, then `self.modules()`
    predicted = _predict(
        tmp_path,
        """
        import os
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList()
                for p in os.environ["RATES"].split(","):
                    self.layers += [nn.Linear(2, 2)]
                self.head = nn.Linear(2, 3)
                for m in self.modules():
                    pass
        """,
    )
    assert _keys(predicted) == {"head.weight": (3, 2), "head.bias": (3,)}
    assert _unknown(predicted) == ["layers"]


def test_itertools_functools_operator_math_and_numpy_in_shapes(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import collections.abc
        import functools
        import itertools
        import math
        import operator
        from itertools import repeat
        import numpy as np
        import torch.nn as nn

        def _ntuple(n):
            def parse(x):
                if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
                    return tuple(x)
                return tuple(repeat(x, n))
            return parse

        to_2tuple = _ntuple(2)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                kh, kw = to_2tuple(3)
                widths = list(itertools.accumulate([8, 8, 16]))          # 8, 16, 32
                pairs = list(itertools.product([1, 2], repeat=2))        # 4 pairs
                chained = list(itertools.chain([1], (2, 3), itertools.islice(range(10), 2)))
                depth = functools.reduce(operator.mul, [2, 3], 1)        # 6
                rates = np.linspace(0, 0.1, depth).tolist()
                assert len(rates) == 6 and rates[-1] == 0.1
                hidden = int(np.prod([2, 4])) + int(np.log2(16)) + math.isqrt(17)   # 8 + 4 + 4
                self.conv = nn.Conv2d(widths[0], widths[-1], (kh, kw))
                self.fc = nn.Linear(hidden, len(pairs) + len(chained) + depth)      # 4 + 5 + 6
                self.heads = nn.ModuleList(nn.Linear(2, 2, bias=False) for _ in np.arange(3))
                self.scaled = nn.Linear(int((np.array([1, 2]) * 3)[1]), 1, bias=False)
        """,
    )
    assert _keys(predicted) == {
        "conv.weight": (32, 8, 3, 3), "conv.bias": (32,),
        "fc.weight": (15, 16), "fc.bias": (15,),
        "heads.0.weight": (2, 2), "heads.1.weight": (2, 2), "heads.2.weight": (2, 2),
        "scaled.weight": (1, 6),
    }
    assert _unknown(predicted) == []


def test_itertools_repeat_without_a_count_is_unknown_not_a_guess(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import itertools
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList(nn.Linear(2, d) for d in itertools.repeat(4))
                self.fc = nn.Linear(2, 1)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (1, 2), "fc.bias": (1,)}
    assert _unknown(predicted) == ["blocks"]


def test_isinstance_of_none_and_classes_against_torch_classes_is_false(tmp_path: Path) -> None:
    # timm's get_attn(None): `isinstance(attn_type, torch.nn.Module)` before anything else
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        def get_attn(attn_type):
            if isinstance(attn_type, torch.nn.Module):
                return attn_type
            return None if attn_type is None else nn.Identity

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                attn = get_attn(None)
                self.fc = nn.Linear(2, 3 if attn is None and not isinstance(nn.Linear, nn.Module) else 5)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (3, 2), "fc.bias": (3,)}


def test_partial_attributes_tensor_iteration_and_library_feature_checks(tmp_path: Path) -> None:
    # timm: get_norm_layer unbinds `partial.func`/`.keywords`; drop rates come from
    # `[x.item() for x in torch.linspace(...)]`; `hasattr(F, "scaled_dot_product_attention")`
    predicted = _predict(
        tmp_path,
        """
        import functools
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class DropPath(nn.Module):
            def __init__(self, p=0.0):
                super().__init__()
                self.p = p

        class Net(nn.Module):
            def __init__(self, rate=0.1):
                super().__init__()
                norm = functools.partial(nn.LayerNorm, eps=1e-6)
                layer, kw = norm.func, norm.keywords
                self.norm = layer(4, **kw)
                dpr = [x.item() for x in torch.linspace(0, rate, 3)]
                self.drops = nn.ModuleList([DropPath(p) if p > 0.0 else nn.Identity() for p in dpr])
                self.fused = nn.Linear(2, 1 if hasattr(F, "scaled_dot_product_attention") else 3)
        """,
    )
    assert _keys(predicted) == {"norm.weight": (4,), "norm.bias": (4,), "fused.weight": (1, 2), "fused.bias": (1,)}
    assert _unknown(predicted) == []


def test_relative_position_index_buffers_have_their_shapes(tmp_path: Path) -> None:
    # Swin / MaxViT / BEiT: meshgrid, stack, flatten, broadcasting, permute, sum(-1)
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, window=(3, 4)):
                super().__init__()
                coords = torch.stack(torch.meshgrid(torch.arange(window[0]), torch.arange(window[1]), indexing="ij"))
                flat = torch.flatten(coords, 1)
                relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
                relative[:, :, 0] += window[0] - 1
                self.register_buffer("relative_position_index", relative.sum(-1).flatten())
                h = torch.arange(-(window[0] - 1), window[0], dtype=torch.float32)
                w = torch.arange(-(window[1] - 1), window[1], dtype=torch.float32)
                table = torch.stack(torch.meshgrid([h, w], indexing="xy")).permute(1, 2, 0).unsqueeze(0)
                table = torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0
                self.register_buffer("table", table)
                self.register_buffer("both", torch.cat([torch.zeros(2, 3), torch.ones(5, 3)], dim=0).sum(dim=1, keepdim=True))
        """,
    )
    assert _keys(predicted) == {"relative_position_index": (144,), "table": (1, 7, 5, 2), "both": (7, 1)}
    assert [t.dtype for t in predicted.tensors.values()] == ["int64", "float32", "float32"]


def test_config_values_set_through_setattr_dunders_and_dict_are_kept(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Config:
            def __init__(self, **kwargs):
                self.hidden = 4
                self.depth = 1
                for key, value in kwargs.items():
                    self.__setattr__(key, value)

        class Frozen:
            def __init__(self, **kwargs):
                object.__setattr__(self, "width", 2)
                self.__dict__.update(kwargs)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                config = Config(hidden=16, depth=2)
                frozen = Frozen(width=3)
                self.layers = nn.ModuleList(nn.Linear(config.hidden, frozen.width) for _ in range(config.depth))
                self.__setattr__("head", nn.Linear(frozen.width, 1, bias=False))
        """,
    )
    assert _keys(predicted) == {
        "layers.0.weight": (3, 16), "layers.0.bias": (3,),
        "layers.1.weight": (3, 16), "layers.1.bias": (3,),
        "head.weight": (1, 3),
    }


def test_einops_layers_and_functions(tmp_path: Path) -> None:
    # ground truth from torch + einops 0.8: Rearrange/Reduce own nothing, EinMix owns a weight
    # and a bias shaped like its output; rearrange/repeat map shapes through the pattern
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn
        from einops import rearrange, repeat
        from einops.layers.torch import EinMix, Rearrange, Reduce

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.to_patch = nn.Sequential(Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=4, p2=4), nn.Linear(48, 8))
                self.pool = Reduce("b n d -> b d", "mean")
                self.mix = EinMix("b t c -> b t c2", weight_shape="c c2", bias_shape="c2", c=8, c2=5)
                self.register_buffer("tokens", repeat(torch.zeros(8), "d -> n d", n=3))
                self.register_buffer("merged", rearrange(torch.zeros(2, 3, 4), "a b c -> (a b) c"))
                self.register_buffer("split", rearrange(torch.zeros(6, 4), "(a b) c -> a b c", a=2))
        """,
    )
    assert _keys(predicted) == {
        "to_patch.1.weight": (8, 48), "to_patch.1.bias": (8,),
        "mix.weight": (8, 5), "mix.bias": (1, 1, 5),
        "tokens": (3, 8), "merged": (6, 4), "split": (2, 3, 4),
    }
    assert _unknown(predicted) == []


def test_dataclass_fields_bind_as_the_generated_init_does(tmp_path: Path) -> None:
    # init=False fields take no argument, kw_only ones no position, a redefined field keeps its
    # place, default_factory builds a fresh default
    predicted = _predict(
        tmp_path,
        """
        from dataclasses import KW_ONLY, dataclass, field
        import torch.nn as nn

        @dataclass
        class Base:
            width: int = 2
            depth: int = 1

        @dataclass
        class Config(Base):
            width: int = 3
            total: int = field(init=False, default=0)
            heads: int = 1
            blocks: list = field(default_factory=lambda: [4, 4])
            _: KW_ONLY
            bias: bool = True

            def __post_init__(self):
                self.total = self.width * self.depth

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                config = Config(5, 2, 7, bias=False)
                self.fc = nn.Linear(config.total, config.heads + len(config.blocks), bias=config.bias)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (9, 10)}


def test_enum_members_compare_as_python_does(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        from enum import Enum
        import torch.nn as nn

        class Mode(str, Enum):
            WIDE = "wide"

        class Plain(Enum):
            WIDE = "wide"

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, 4 if Mode.WIDE == "wide" else 1)
                self.b = nn.Linear(2, 4 if Plain.WIDE == "wide" else 1)
        """,
    )
    assert _keys(predicted) == {"a.weight": (4, 2), "a.bias": (4,), "b.weight": (1, 2), "b.bias": (1,)}


def test_tensor_split_tolist_and_library_dir(tmp_path: Path) -> None:
    # timm: `[x.tolist() for x in torch.linspace(0, r, sum(depths)).split(depths)]` per stage;
    # `'silu' in dir(torch.nn.functional)` picks the activation class
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        _has_silu = "silu" in dir(torch.nn.functional)

        class Net(nn.Module):
            def __init__(self, depths=(1, 2), rate=0.1):
                super().__init__()
                dpr = [x.tolist() for x in torch.linspace(0, rate, sum(depths)).split(depths)]
                self.stages = nn.ModuleList(
                    nn.Sequential(*[nn.Linear(2, 2, bias=False) for _ in rates]) for rates in dpr
                )
                self.act = nn.SiLU() if _has_silu else nn.Linear(1, 1)
        """,
    )
    assert _keys(predicted) == {"stages.0.0.weight": (2, 2), "stages.1.0.weight": (2, 2), "stages.1.1.weight": (2, 2)}
    assert _unknown(predicted) == []


def test_collections_changed_at_unknown_places_become_unknown_not_stale(tmp_path: Path) -> None:
    # timm's _update_default_model_kwargs with an unknown cfg: `kwargs.setdefault(n, ...)` for an
    # unknown `n` may set `num_classes`; the model must not be built with the stale default
    predicted = _predict(
        tmp_path,
        """
        import os
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, num_classes=1000, width=4):
                super().__init__()
                self.fc = nn.Linear(width, num_classes)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                name = os.environ["NAME"]
                kwargs = {"width": 4}
                kwargs.setdefault(name, 10)
                self.head = Head(**kwargs)
                layers = [nn.Linear(2, 2)]
                layers.extend(os.environ["MORE"])
                self.seq = nn.Sequential(*layers)
                sizes = [3, 3]
                sizes[int(os.environ["I"])] = 7
                self.last = nn.Linear(2, sizes[0])
                self.keep = nn.Linear(2, 5)
        """,
    )
    keys = _keys(predicted)
    # nothing stale: no head built with the default 1000, no Sequential of one layer, no `last`
    # of width 3 -- each is unknown (how much around it is, is the containment's business)
    assert keys.get("head.fc.weight", (None, 4))[0] is None
    assert "seq.0.weight" not in keys or predicted.is_unknown("seq.1")
    assert keys.get("last.weight", (None, 2))[0] is None
    assert predicted.unknown


def test_constant_drop_path_rates_are_exact_values(tmp_path: Path) -> None:
    # the default drop_path_rate=0.: every rate is 0.0, so `DropPath if rate > 0 else Identity`
    # (or None) is decided; a non-zero rate leaves the values unknown
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, rate):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.drop = nn.Linear(2, 2) if rate > 0.0 else None

        class Net(nn.Module):
            def __init__(self, depths=(1, 2), drop_path_rate=0.0, other=0.1):
                super().__init__()
                dpr = [x.tolist() for x in torch.linspace(0, drop_path_rate, sum(depths)).split(depths)]
                self.stages = nn.ModuleList(nn.Sequential(*[Block(r) for r in rates]) for rates in dpr)
                self.first = Block(torch.linspace(0, other, 3)[0].item())
                self.last = Block([x.item() for x in torch.linspace(other, other, 2)][-1])
        """,
    )
    keys = _keys(predicted)
    assert [k for k in keys if k.startswith("stages.")] == [
        "stages.0.0.fc.weight", "stages.0.0.fc.bias", "stages.1.0.fc.weight", "stages.1.0.fc.bias",
        "stages.1.1.fc.weight", "stages.1.1.fc.bias",
    ]
    assert "last.drop.weight" in keys and _unknown(predicted) == ["first.drop"]


def test_isinstance_of_a_config_object_against_abstract_types(tmp_path: Path) -> None:
    # timm's byobnet: `if not isinstance(stage_blocks_cfg, Sequence): stage_blocks_cfg = (stage_blocks_cfg,)`
    predicted = _predict(
        tmp_path,
        """
        from collections.abc import Iterable, Sequence
        from dataclasses import dataclass
        import torch.nn as nn

        @dataclass
        class BlockCfg:
            c: int = 4

        class Blocks:
            def __iter__(self):
                return iter([])

        class Net(nn.Module):
            def __init__(self, cfg=BlockCfg()):
                super().__init__()
                cfgs = cfg if isinstance(cfg, Sequence) else (cfg,)
                self.layers = nn.ModuleList(nn.Linear(2, c.c) for c in cfgs)
                self.flag = nn.Linear(1, 1 + isinstance(Blocks(), Iterable) + 2 * isinstance(cfg, Iterable), bias=False)
        """,
    )
    assert _keys(predicted) == {"layers.0.weight": (4, 2), "layers.0.bias": (4,), "flag.weight": (2, 1)}


def test_issubclass_of_user_and_library_classes(tmp_path: Path) -> None:
    # timm's resnet: `issubclass(aa_layer, nn.AvgPool2d)` decides the stem pooling
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class BlurPool2d(nn.Module):
            pass

        class MyPool(nn.AvgPool2d):
            pass

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                flags = [issubclass(BlurPool2d, nn.AvgPool2d), issubclass(MyPool, nn.AvgPool2d),
                         issubclass(nn.AvgPool2d, nn.AvgPool2d), issubclass(nn.Linear, BlurPool2d),
                         issubclass(BlurPool2d, nn.Module)]
                self.fc = nn.Linear(1, sum(2 ** i for i, f in enumerate(flags) if f), bias=False)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (22, 1)}


def test_partial_of_a_partial_flattens_and_class_names_read(tmp_path: Path) -> None:
    # timm's get_norm_act_layer: unbinds `partial.func`, then maps `norm_layer.__name__.lower()`
    predicted = _predict(
        tmp_path,
        """
        from functools import partial
        import torch.nn as nn

        SIZES = {"batchnorm2d": 3, "layernorm": 5}

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                norm = partial(partial(nn.BatchNorm2d, eps=1e-3), momentum=0.2)
                layer = norm.func
                self.norm = norm(SIZES[layer.__name__.lower()])
                self.fc = nn.Linear(len(norm.keywords), 1, bias=False)
        """,
    )
    keys = _keys(predicted)
    assert keys["norm.weight"] == (3,) and keys["fc.weight"] == (1, 2)


def test_init_loops_over_named_modules_resolve(tmp_path: Path) -> None:
    # timm's `for n, m in self.named_modules(): if hasattr(m, 'zero_init_last'): m.zero_init_last()`
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

            def zero_init_last(self):
                self.extra = nn.Linear(2, 1, bias=False)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.Sequential(Block(), nn.ReLU())
                for name, m in self.named_modules():
                    if hasattr(m, "zero_init_last"):
                        m.zero_init_last()
                    if isinstance(m, nn.Linear):
                        nn.init.zeros_(m.weight)
        """,
    )
    assert _keys(predicted) == {
        "blocks.0.fc.weight": (2, 2), "blocks.0.fc.bias": (2,), "blocks.0.extra.weight": (1, 2),
    }
    assert _unknown(predicted) == []


def test_calling_an_object_runs_its_class_call(tmp_path: Path) -> None:
    # timm's EfficientNet: `nn.Sequential(*builder(stem_size, block_args))`
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Builder:
            def __init__(self, bias):
                self.bias = bias

            def __call__(self, width, depths):
                return [nn.Linear(width, width, bias=self.bias) for _ in range(sum(depths))]

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                builder = Builder(False)
                self.blocks = nn.Sequential(*builder(3, [1, 1]))
        """,
    )
    assert _keys(predicted) == {"blocks.0.weight": (3, 3), "blocks.1.weight": (3, 3)}


def test_block_strings_decoded_with_re_split(tmp_path: Path) -> None:
    # timm's EfficientNet arch strings: 'ir_r2_k3_s2_e6_c24' decoded with re.split
    predicted = _predict(
        tmp_path,
        """
        import re
        import torch.nn as nn

        def decode(block):
            options = {}
            for op in block.split("_")[1:]:
                key, value = re.split(r"(\\d.*)", op)[:2]
                options[key] = value
            return int(options["r"]), int(options["c"])

        class Net(nn.Module):
            def __init__(self, arch="ir_r2_k3_s2_e6_c24"):
                super().__init__()
                repeats, channels = decode(arch)
                self.blocks = nn.Sequential(*[nn.Linear(channels, channels, bias=False) for _ in range(repeats)])
                self.name = nn.Linear(1, len(re.sub("_", "", arch)), bias=False)
        """,
    )
    assert _keys(predicted) == {"blocks.0.weight": (24, 24), "blocks.1.weight": (24, 24), "name.weight": (13, 1)}


def test_a_layer_called_with_arguments_it_does_not_take_raises_type_error(tmp_path: Path) -> None:
    # timm's create_act_layer: `try: act_layer(inplace=True) except TypeError: act_layer()`
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        def create_act(layer):
            try:
                return layer(inplace=True)
            except TypeError:
                return layer()

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = create_act(nn.GELU)
                self.fc = nn.Linear(2, 3 if isinstance(self.act, nn.GELU) else 1)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (3, 2), "fc.bias": (3,)}
    assert _unknown(predicted) == []


def test_config_setattr_through_super_reaching_object_sets_the_value(tmp_path: Path) -> None:
    # transformers' PreTrainedConfig.__setattr__ maps names, then `super().__setattr__(key, value)`;
    # SeamlessM4T copies its `t2u_*` values over the plain ones that way in a loop
    predicted = _predict(
        tmp_path,
        """
        import copy
        import torch.nn as nn

        class Config:
            attribute_map = {"n_embd": "hidden_size"}

            def __init__(self):
                self.hidden_size = 8
                self.t2u_hidden_size = 4
                self.t2u_n_embd = 6

            def __setattr__(self, key, value):
                if key in super().__getattribute__("attribute_map"):
                    key = super().__getattribute__("attribute_map")[key]
                super().__setattr__(key, value)

            def to_dict(self):
                return copy.deepcopy(self.__dict__)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                config = copy.deepcopy(Config())
                self.before = nn.Linear(config.hidden_size, 1)
                for param, val in config.to_dict().items():
                    if param.startswith("t2u_"):
                        config.__setattr__(param[4:], val)
                self.after = nn.Linear(config.hidden_size, 1)
        """,
    )
    assert _keys(predicted) == {"before.weight": (1, 8), "before.bias": (1,), "after.weight": (1, 6), "after.bias": (1,)}
    assert _unknown(predicted) == []


def test_dataclass_fields_are_assigned_through_the_attribute_map(tmp_path: Path) -> None:
    # transformers' Step3p7 config: the field `num_local_experts = 128` sets `n_routed_experts`
    # through `attribute_map`, and the later field `n_routed_experts = 288` sets it again
    predicted = _predict(
        tmp_path,
        """
        from dataclasses import dataclass
        import torch.nn as nn

        @dataclass
        class Config:
            attribute_map = {"num_local_experts": "n_routed_experts"}
            num_local_experts: int = 128
            n_routed_experts: int = 288
            other: int = 3

            def __setattr__(self, key, value):
                if key in super().__getattribute__("attribute_map"):
                    key = super().__getattribute__("attribute_map")[key]
                super().__setattr__(key, value)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                config = Config()
                self.experts = nn.Linear(config.num_local_experts, config.other)
        """,
    )
    assert _keys(predicted) == {"experts.weight": (3, 288), "experts.bias": (3,)}


def test_transformers_prelu_activation_owns_its_weight(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("transformers")
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn
        from transformers.activations import ACT2FN, get_activation

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = ACT2FN["prelu"]
                self.by_name = get_activation("prelu")
                self.gelu = ACT2FN["gelu"]
                self.xielu = ACT2FN["xielu"]
        """,
    )
    assert _keys(predicted) == {"act.weight": (1,), "by_name.weight": (1,)}
    assert _unknown(predicted) == ["xielu"]


def test_an_activation_whose_name_is_unknown_may_hold_tensors(tmp_path: Path) -> None:
    # `ACT2FN[name]` with the name unknown may be `prelu` (a weight) or `xielu` (four tensors):
    # those keys are unknown, never assumed absent (a checkpoint saved with `prelu` would
    # otherwise get `unexpected-key` errors)
    import pytest

    pytest.importorskip("transformers")
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn
        from transformers.activations import ACT2FN, get_activation

        class Net(nn.Module):
            def __init__(self, config, name):
                super().__init__()
                self.act = ACT2FN[config.hidden_act]
                self.by_name = get_activation(name)
                self.gelu = ACT2FN["gelu"]
                self.proj = nn.Linear(4, 4)
        """,
    )
    assert _keys(predicted) == {"proj.weight": (4, 4), "proj.bias": (4,)}
    assert _unknown(predicted) == ["act", "by_name"]


def test_a_module_picked_from_a_table_by_an_unknown_name_may_hold_tensors(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, kind, index):
                super().__init__()
                self.act = {"prelu": nn.PReLU(), "relu": nn.ReLU()}[kind]
                self.pick = [nn.Linear(2, 2), nn.Identity()][index]
                self.number = {"a": 1, "b": 2}[kind]
        """,
    )
    assert _keys(predicted) == {}
    assert _unknown(predicted) == ["act", "pick"]


def test_a_huge_table_comprehension_is_not_followed_and_the_model_still_resolves(tmp_path: Path) -> None:
    # transformers VideoMAE: a 1568 x 768 sinusoid table built by nested comprehensions used to
    # spend the whole step budget, leaving the whole model unknown
    predicted = _predict(
        tmp_path,
        """
        import numpy as np
        import torch
        import torch.nn as nn

        def table(n_position, d_hid):
            def angles(position):
                return [position / np.power(10000, 2 * (j // 2) / d_hid) for j in range(d_hid)]

            return torch.FloatTensor(np.array([angles(i) for i in range(n_position)])).unsqueeze(0)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.position_embeddings = table(1568, 768)
                self.proj = nn.Linear(768, 4)
        """,
    )
    assert _keys(predicted) == {"proj.weight": (4, 768), "proj.bias": (4,)}
    assert _unknown(predicted) == []


def test_a_module_level_registration_fills_another_module_s_registry(tmp_path: Path) -> None:
    # timm: mobilevit.py runs `register_block('mobilevit', MobileVitBlock)` at import time, and
    # byobnet builds its stages from that registry
    (tmp_path / "registry.py").write_text(textwrap.dedent(
        """
        import torch.nn as nn

        _blocks = dict(basic=nn.Identity)

        def register_block(name, fn):
            _blocks[name] = fn

        def create_block(name, *args):
            assert name in _blocks, f"unknown block {name}"
            return _blocks[name](*args)
        """))
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn
        from registry import create_block, register_block

        class Special(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(width, width)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.first = create_block("basic")
                self.second = create_block("special", 3)

        register_block("special", Special)
        """,
    )
    assert _keys(predicted) == {"second.fc.weight": (3, 3), "second.fc.bias": (3,)}
    assert _unknown(predicted) == []


def test_a_loop_that_only_fills_a_tensor_is_not_run(tmp_path: Path) -> None:
    # timm MaxViT: every attention block builds one-hot lookup tables in nested loops; running
    # them spent the whole step budget. Names the loop assigns are unknown after it.
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        def lookup(length):
            ret = torch.zeros(length, length, 2 * length - 1)
            for i in range(length):
                for x in range(length):
                    v = x - i + length - 1
                    if abs(x - i) > length:
                        continue
                    ret[i, x, v] = 1
            return ret, v

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList()
                for _ in range(400):
                    table, last = lookup(24)
                    self.blocks.append(nn.Linear(table.shape[-1], 2))
                self.tail = nn.Linear(2, last)
        """,
    )
    assert len(predicted.tensors) == 802 and predicted.tensors["blocks.399.weight"].shape == (2, 47)
    assert predicted.tensors["tail.weight"].shape == (None, 2)  # `last` is not known


def test_top_level_statements_that_fill_a_module_level_table_run_after_it(tmp_path: Path) -> None:
    # timm byobnet: `for k in (...): model_cfgs[k + '_gap'] = replace(model_cfgs[k], ...)` at
    # module level; a statement changing two tables runs once
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        widths = dict(small=4, big=8)
        order = []
        for k in ("small", "big"):
            widths[k + "_x2"] = widths[k] * 2
            order.append(k)
        widths.update(huge=16)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(widths["big_x2"], widths["huge"])
                self.b = nn.Linear(len(order), 1)
        """,
    )
    assert _keys(predicted) == {"a.weight": (16, 16), "a.bias": (16,), "b.weight": (1, 2), "b.bias": (1,)}
    assert _unknown(predicted) == []


def test_a_child_replaced_through_the_modules_table_is_replaced(tmp_path: Path) -> None:
    # transformers RT-DETR / DETR: `model._modules[name] = FrozenBatchNorm2d(...)` replaces every
    # BatchNorm2d of the backbone (no `num_batches_tracked` any more)
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        class Frozen(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.register_buffer("weight", torch.ones(n))

        def replace(model):
            for name, module in model.named_children():
                if isinstance(module, nn.BatchNorm2d):
                    model._modules[name] = Frozen(module.num_features)
                if len(list(module.children())) > 0:
                    replace(module)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
                replace(self)
        """,
    )
    assert _keys(predicted) == {"body.0.weight": (4, 3, 1, 1), "body.0.bias": (4,), "body.1.weight": (4,)}


def test_replacing_children_by_exact_type_through_the_modules_table(tmp_path: Path) -> None:
    # torchvision quantization `_replace_relu`: `type(mod) is nn.ReLU` over every child
    # (containers too), then `module._modules[key] = nn.ReLU(inplace=False)`
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        def _replace_relu(module):
            reassign = {}
            for name, mod in module.named_children():
                _replace_relu(mod)
                if type(mod) is nn.ReLU or type(mod) is nn.ReLU6:
                    reassign[name] = nn.ReLU(inplace=False)
            for key, value in reassign.items():
                module._modules[key] = value

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Sequential(nn.ReLU6()))
                self.head = nn.Linear(4, 2)
                _replace_relu(self)
        """,
    )
    assert _keys(predicted) == {"body.0.weight": (4, 3), "body.0.bias": (4,), "head.weight": (2, 4), "head.bias": (2,)}
    assert _unknown(predicted) == []


def test_numpy_lcm_and_argsort_of_known_values(tmp_path: Path) -> None:
    # transformers Reformer (`np.lcm` of two chunk lengths), PP-DocLayoutV3 (`np.argsort(strides)`)
    predicted = _predict(
        tmp_path,
        """
        import numpy as np
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, strides=(32, 8, 16), channels=(5, 6, 7)):
                super().__init__()
                order = np.argsort(strides, axis=0).tolist()
                widths = [channels[i] for i in order]
                self.first = nn.Linear(widths[0], np.lcm(4, 6))
                self.ties = nn.Linear(np.argsort([1, 1]).tolist()[0] + 1, 1)
        """,
    )
    assert _keys(predicted)["first.weight"] == (12, 6)
    assert _keys(predicted)["ties.weight"] == (1, None)  # the order of ties is not modelled


def test_numpy_linspace_of_equal_ends_is_its_start_everywhere(tmp_path: Path) -> None:
    # transformers DINOv3 ConvNeXt: `np.linspace(0, drop_path_rate=0.0, n)` decides Identity
    predicted = _predict(
        tmp_path,
        """
        import numpy as np
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, rate=0.0):
                super().__init__()
                rates = np.linspace(0, rate, 4).tolist()
                self.blocks = nn.ModuleList([nn.Dropout(r) if r > 0.0 else nn.Linear(2, 2) for r in rates])
        """,
    )
    assert len(predicted.tensors) == 8 and _unknown(predicted) == []
