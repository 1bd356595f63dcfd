"""Known values of small tensors a constructor computes with (torchvision RegNet's widths), each
checked against real torch: values, dtype and shape; unknown where they are not modelled."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptlens.api import predict
from ckptlens.engine import tensor_data
from ckptlens.engine.tensor_methods import tensor_method
from ckptlens.engine.tensors import tensor_call
from ckptlens.engine.values import TensorValue


def known(tensor: torch.Tensor) -> TensorValue:
    assert tensor.dim() <= 1
    return TensorValue(tuple(tensor.shape), str(tensor.dtype).removeprefix("torch."), False, False,
                       data=tuple(tensor.reshape(-1).tolist()))


def same(predicted: Any, actual: torch.Tensor) -> None:
    assert isinstance(predicted, TensorValue), predicted
    assert predicted.dtype == str(actual.dtype).removeprefix("torch.")
    assert predicted.shape == tuple(actual.shape)
    assert predicted.data == tuple(actual.reshape(-1).tolist())


OPERANDS = [
    torch.arange(5), torch.arange(5, dtype=torch.int32), torch.tensor([0.5, 1.25, 3.0]),
    torch.tensor(7), torch.tensor(2.5), torch.tensor([1.0, 2.0], dtype=torch.float64),
    3, 0.1, 2.0, True,
]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
@pytest.mark.parametrize("a", range(len(OPERANDS)))
@pytest.mark.parametrize("b", range(len(OPERANDS)))
def test_binary_operations_promote_and_round_as_torch(op: str, a: int, b: int) -> None:
    left, right = OPERANDS[a], OPERANDS[b]
    if not isinstance(left, torch.Tensor) and not isinstance(right, torch.Tensor):
        return
    try:
        actual = {"add": lambda: left + right, "sub": lambda: left - right, "mul": lambda: left * right,
                  "div": lambda: left / right, "pow": lambda: left ** right}[op]()
    except RuntimeError:
        actual = None

    def abstract(v: Any) -> Any:
        return known(v) if isinstance(v, torch.Tensor) else v
    predicted = tensor_data.binary("truediv" if op == "div" else op, abstract(left), abstract(right))
    if any(v is True or getattr(v, "dtype", None) == torch.bool for v in (left, right)):
        assert predicted is None  # not modelled
        return
    if actual is None or actual.dtype == torch.bool or (actual.is_floating_point() and not torch.isfinite(actual).all()):
        assert predicted is None
        return
    same(predicted, actual)


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(1, 40),
    w_0=st.integers(1, 40).map(lambda k: 8 * k),
    w_a=st.floats(0.0, 200.0, allow_nan=False).map(lambda x: round(x, 2)),
    w_m=st.floats(1.05, 3.0).map(lambda x: round(x, 2)),
)
def test_regnet_block_widths_are_torch_s(depth: int, w_0: int, w_a: float, w_m: float) -> None:
    """torchvision's `BlockParams.from_init_params` arithmetic, value for value."""
    widths_cont = torch.arange(depth) * w_a + w_0
    capacity = torch.round(torch.log(widths_cont / w_0) / math.log(w_m))
    widths = (torch.round(torch.divide(w_0 * torch.pow(w_m, capacity), 8)) * 8).int()

    p_cont = tensor_data.binary("add", tensor_data.binary("mul", tensor_call("torch.arange", [depth], {}), w_a), w_0)
    p_cap = tensor_call("torch.round", [tensor_data.binary(
        "div", tensor_call("torch.log", [tensor_data.binary("div", p_cont, w_0)], {}), math.log(w_m))], {})
    p_pow = tensor_call("torch.pow", [w_m, p_cap], {})
    p_widths = tensor_method(tensor_data.binary("mul", tensor_call("torch.round", [
        tensor_call("torch.divide", [tensor_data.binary("mul", w_0, p_pow), 8], {})], {}), 8), "int", [], {})
    same(p_cont, widths_cont)
    same(p_cap, capacity)
    same(p_widths, widths)
    assert tensor_method(p_widths, "tolist", [], {}) == widths.tolist()


def test_literal_diff_cumsum_and_conversions() -> None:
    same(tensor_call("torch.tensor", [[0, 3, 7, 12]], {}), torch.tensor([0, 3, 7, 12]))
    same(tensor_call("torch.tensor", [[1, 2.5]], {}), torch.tensor([1, 2.5]))
    same(tensor_call("torch.tensor", [[True, False]], {}), torch.tensor([True, False]))
    same(tensor_call("torch.tensor", [[1, 2]], {"dtype": "torch.float64"}), torch.tensor([1, 2], dtype=torch.float64))
    same(tensor_call("torch.diff", [known(torch.tensor([0, 3, 7, 12]))], {}), torch.diff(torch.tensor([0, 3, 7, 12])))
    same(tensor_call("torch.cumsum", [known(torch.tensor([1, 2, 3], dtype=torch.int32)), 0], {}),
         torch.cumsum(torch.tensor([1, 2, 3], dtype=torch.int32), 0))
    same(tensor_method(known(torch.tensor([0.1, 0.7])), "cumsum", [0], {}), torch.tensor([0.1, 0.7]).cumsum(0))
    same(tensor_method(known(torch.tensor([1.7, -2.5])), "int", [], {}), torch.tensor([1.7, -2.5]).int())
    same(tensor_method(known(torch.tensor([1.5, 2.5, -0.5])), "round", [], {}), torch.tensor([1.5, 2.5, -0.5]).round())
    same(tensor_call("torch.arange", [0, 1, 0.1], {}), torch.arange(0, 1, 0.1))
    same(tensor_call("torch.arange", [2, 9, 3], {"dtype": "torch.float64"}), torch.arange(2, 9, 3, dtype=torch.float64))


def test_unique_max_and_a_device_argument() -> None:
    """timm's `generate_regnet`: `torch.unique(..., return_counts=True)`, `.max().item()`,
    factories given `device='cpu'`."""
    widths = torch.tensor([48, 48, 104, 104, 104, 208], device="cpu")
    made = tensor_call("torch.tensor", [[48, 48, 104, 104, 104, 208]], {"device": "cpu"})
    same(made, widths)
    values, counts = tensor_call("torch.unique", [made], {"return_counts": True})
    real_values, real_counts = torch.unique(widths, return_counts=True)
    same(values, real_values)
    same(counts, real_counts)
    same(tensor_method(known(torch.tensor([3.0, 1.0, 2.0])), "max", [], {}), torch.tensor([3.0, 1.0, 2.0]).max())
    assert tensor_method(tensor_method(made, "min", [], {}), "item", [], {}) == 48
    same(tensor_method(made, "unique", [], {}), widths.unique())
    # timm NesT: `(4 ** torch.arange(levels)).flip(0).tolist()`
    levels = tensor_data.binary("pow", 4, tensor_call("torch.arange", [3], {"dtype": "torch.long"}))
    same(tensor_method(levels, "flip", [0], {}), (4 ** torch.arange(3, dtype=torch.long)).flip(0))
    same(tensor_call("torch.arange", [4], {"device": "cpu", "dtype": "torch.float32"}),
         torch.arange(4, device="cpu", dtype=torch.float32))


def test_values_stay_unknown_where_they_are_not_modelled() -> None:
    # too many values, unknown bounds, 2-D data, integer overflow: the shape only, as before
    big = tensor_call("torch.arange", [100_000], {})
    assert big.shape == (100_000,) and big.data is None
    assert tensor_data.literal([[1, 2], [3, 4]], None) is None
    assert tensor_data.binary("mul", known(torch.tensor([2**62])), 4) is None
    assert tensor_data.binary("floordiv", known(torch.tensor([1.5])), 2) is None
    assert tensor_data.binary("div", known(torch.tensor([1.0])), 0) is None


def test_regnet_style_widths_build_named_stages(tmp_path: Path) -> None:
    """Stage widths and depths derived through tensor arithmetic decide which blocks exist."""
    source = tmp_path / "model.py"
    source.write_text(textwrap.dedent(
        """
        import math
        from collections import OrderedDict
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, depth=13, w_0=24, w_a=36.44, w_m=2.49):
                super().__init__()
                cont = torch.arange(depth) * w_a + w_0
                cap = torch.round(torch.log(cont / w_0) / math.log(w_m))
                widths = (torch.round(torch.divide(w_0 * torch.pow(w_m, cap), 8)) * 8).int().tolist()
                splits = [w != p for w, p in zip(widths + [0], [0] + widths)]
                depths = torch.diff(torch.tensor([d for d, t in enumerate(splits) if t])).int().tolist()
                stage_widths = [w for w, t in zip(widths, splits[:-1]) if t]
                stages, width = [], 3
                for i, (w, d) in enumerate(zip(stage_widths, depths)):
                    stages.append((f"block{i + 1}", nn.Sequential(*[nn.Linear(width if j == 0 else w, w) for j in range(d)])))
                    width = w
                self.trunk = nn.Sequential(OrderedDict(stages))
        """))
    namespace: dict[str, Any] = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    real = namespace["Net"]().state_dict()
    predicted = predict(source, "Net")
    assert predicted.unknown == ()
    assert {k: t.shape for k, t in predicted.tensors.items()} == {k: tuple(v.shape) for k, v in real.items()}
    assert len({k.split(".")[1] for k in real}) > 1
