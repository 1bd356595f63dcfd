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
