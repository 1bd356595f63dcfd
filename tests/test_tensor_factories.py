"""Tensor factories and methods over abstract values, each checked against real torch."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptlens.engine.dtype_names import UNKNOWN_DTYPE, dtype_name
from ckptlens.engine.tensor_methods import tensor_attribute, tensor_method
from ckptlens.engine.tensors import BufferValue, tensor_call
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

U = Unknown("test")


def resolve(qualname: str) -> Any:
    module_name, _, attr = qualname.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def real(value: Any) -> Any:
    """The torch value an abstract argument stands for."""
    if isinstance(value, TensorValue):
        assert value.shape is not None and None not in value.shape
        tensor = torch.ones(value.shape, dtype=getattr(torch, value.dtype))  # type: ignore[arg-type]
        if value.is_parameter:
            return nn.Parameter(tensor, requires_grad=value.requires_grad)
        return tensor.requires_grad_(value.requires_grad)
    if isinstance(value, str) and value.startswith("torch.") and hasattr(torch, value[6:]):
        return getattr(torch, value[6:])
    if isinstance(value, list):
        return [real(v) for v in value]
    if isinstance(value, tuple):
        return tuple(real(v) for v in value)
    return value


def abstract(tensor: torch.Tensor) -> TensorValue:
    return TensorValue(
        tuple(tensor.shape),
        str(tensor.dtype).removeprefix("torch."),
        isinstance(tensor, nn.Parameter),
        tensor.requires_grad,
    )


def same(predicted: Any, actual: Any) -> None:
    if isinstance(actual, torch.Tensor):
        assert isinstance(predicted, TensorValue), predicted
        assert abstract(actual) == TensorValue(
            predicted.shape, predicted.dtype, predicted.is_parameter, predicted.requires_grad
        )
    elif isinstance(actual, torch.Size):
        assert predicted == tuple(actual)
    elif isinstance(actual, torch.dtype):
        assert predicted == str(actual)
    else:
        assert predicted == actual


t23 = TensorValue((2, 3))
long4 = TensorValue((4,), "int64", False, False)
param23 = TensorValue((2, 3), "float32", True, True)

FACTORY_CASES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("torch.zeros", (2, 3), {}),
    ("torch.zeros", ((2, 3),), {}),
    ("torch.zeros", ([2, 3],), {}),
    ("torch.zeros", (5,), {}),
    ("torch.zeros", (), {"size": (2, 3)}),
    ("torch.zeros", (2, 3), {"dtype": "torch.long"}),
    ("torch.zeros", (2,), {"dtype": "torch.bool"}),
    ("torch.zeros", (2,), {"dtype": int}),
    ("torch.zeros", (2,), {"dtype": float}),
    ("torch.ones", (2, 3), {"dtype": "torch.half"}),
    ("torch.ones", ((),), {}),
    ("torch.empty", (4,), {"requires_grad": True}),
    ("torch.empty", (0, 2), {"dtype": "torch.int32"}),
    ("torch.rand", (2, 2), {"dtype": "torch.float64"}),
    ("torch.randn", (3,), {}),
    ("torch.randn", (1, 1, 4), {"dtype": "torch.bfloat16"}),
    ("torch.randint", (10, (2, 3)), {}),
    ("torch.randint", (0, 10, (4,)), {}),
    ("torch.randint", (5,), {"size": (2,)}),
    ("torch.randint", (5, (2,)), {"dtype": "torch.int32"}),
    ("torch.full", ((2, 2), 1.5), {}),
    ("torch.full", ((2,), 3), {}),
    ("torch.full", ((2,), True), {}),
    ("torch.full", ((2,), 1), {"dtype": "torch.float"}),
    ("torch.full", (), {"size": (3,), "fill_value": -1.0}),
    ("torch.zeros_like", (t23,), {}),
    ("torch.ones_like", (t23,), {"dtype": "torch.long"}),
    ("torch.empty_like", (long4,), {}),
    ("torch.randn_like", (t23,), {}),
    ("torch.rand_like", (t23,), {"dtype": "torch.float64"}),
    ("torch.full_like", (long4, 7), {}),
    ("torch.zeros_like", (param23,), {}),
    ("torch.eye", (3,), {}),
    ("torch.eye", (3, 4), {}),
    ("torch.eye", (2,), {"dtype": "torch.long"}),
    ("torch.arange", (5,), {}),
    ("torch.arange", (1, 5), {}),
    ("torch.arange", (0, 1, 0.1), {}),
    ("torch.arange", (0.0, 5), {}),
    ("torch.arange", (10, 0, -3), {}),
    ("torch.arange", (0, 10, 3), {}),
    ("torch.arange", (1, 2.5, 0.5), {}),
    ("torch.arange", (0, 8, 2), {"dtype": "torch.float"}),
    ("torch.arange", (), {"end": 4}),
    ("torch.arange", (), {"start": 2, "end": 9, "step": 2}),
    ("torch.linspace", (0, 1, 5), {}),
    ("torch.linspace", (0, 1), {"steps": 3}),
    ("torch.logspace", (0, 1, 7), {"dtype": "torch.float64"}),
    ("torch.tensor", ([[1, 2], [3, 4]],), {}),
    ("torch.tensor", ([1.0, 2],), {}),
    ("torch.tensor", ([True, False],), {}),
    ("torch.tensor", ([True, 2],), {}),
    ("torch.tensor", (3,), {}),
    ("torch.tensor", (2.5,), {}),
    ("torch.tensor", ([],), {}),
    ("torch.tensor", ([[1], [2]],), {"dtype": "torch.float"}),
    ("torch.tensor", ((1, 2, 3),), {}),
    ("torch.tensor", ([[[0.5]]],), {"requires_grad": True}),
    ("torch.as_tensor", ([1, 2, 3],), {}),
    ("torch.as_tensor", (t23,), {}),
    ("torch.as_tensor", (t23,), {"dtype": "torch.float64"}),
    ("torch.Tensor", (2, 3), {}),
    ("torch.Tensor", ([1, 2, 3],), {}),
    ("torch.Tensor", (), {}),
    ("torch.Tensor", ((4, 5),), {}),
    ("torch.FloatTensor", (4,), {}),
    ("torch.LongTensor", ([1, 2],), {}),
    ("torch.LongTensor", (3, 2), {}),
    ("torch.BoolTensor", (2,), {}),
    ("torch.DoubleTensor", ([[1.0]],), {}),
    ("torch.nn.Parameter", (t23,), {}),
    ("torch.nn.Parameter", (t23, False), {}),
    ("torch.nn.Parameter", (), {}),
    ("torch.nn.Parameter", (), {"data": long4, "requires_grad": False}),
    ("torch.nn.parameter.Parameter", (TensorValue((3,), "float16"),), {}),
    ("torch.nn.init.xavier_uniform_", (t23,), {}),
    ("torch.nn.init.zeros_", (param23,), {}),
    ("torch.nn.init.normal_", (t23,), {"std": 0.02}),
    ("torch.nn.init.trunc_normal_", (param23,), {"std": 0.02}),
    ("torch.nn.init.kaiming_normal_", (), {"tensor": t23, "mode": "fan_out"}),
    ("torch.nn.init.constant_", (t23, 0.5), {}),
    ("torch.nn.init.orthogonal_", (t23,), {}),
    ("torch.tril", (TensorValue((3, 3)),), {}),
    ("torch.triu", (long4.__class__((3, 3), "int64", False, False),), {}),
    ("torch.outer", (TensorValue((3,)), TensorValue((4,))), {}),
    ("torch.exp", (TensorValue((3,)),), {}),
    ("torch.sin", (long4,), {}),
]


@pytest.mark.parametrize(("qualname", "args", "kwargs"), FACTORY_CASES, ids=lambda v: str(v)[:40])
def test_factory_matches_torch(
    qualname: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    predicted = tensor_call(qualname, args, kwargs)
    actual = resolve(qualname)(*real(args), **{k: real(v) for k, v in kwargs.items()})
    same(predicted, actual)


def test_buffer_values() -> None:
    buffer = tensor_call("torch.nn.Buffer", (t23,), {"persistent": False})
    assert isinstance(buffer, BufferValue) and not buffer.persistent
    actual = nn.Buffer(torch.ones(2, 3), persistent=False)
    assert buffer.shape == tuple(actual.shape) and buffer.dtype == "float32"
    assert not actual.persistent  # type: ignore[attr-defined]
    kept = tensor_call("torch.nn.parameter.Buffer", (long4,), {})
    assert isinstance(kept, BufferValue) and kept.persistent and kept.dtype == "int64"
    empty = tensor_call("torch.nn.Buffer", (), {})
    assert isinstance(empty, BufferValue) and empty.shape == tuple(nn.Buffer().shape)

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kept = nn.Buffer(torch.ones(2))
            self.dropped = nn.Buffer(torch.ones(2), persistent=False)

    assert list(Holder().state_dict()) == ["kept"]


def test_not_factories() -> None:
    assert tensor_call("torch.nn.init.calculate_gain", ("relu",), {}) is None
    assert tensor_call("torch.einsum", ("ij->ji", t23), {}) is None
    assert tensor_call("math.sqrt", (4,), {}) is None


def test_unknown_arguments() -> None:
    def call(qualname: str, *args: Any, **kwargs: Any) -> TensorValue:
        value = tensor_call(qualname, args, kwargs)
        assert value is not None
        return value

    assert call("torch.zeros", U).shape is None  # an int or a whole size: rank unknown
    assert call("torch.zeros", 2, U).shape == (2, None)
    assert call("torch.zeros", (U, 4)).shape == (None, 4)
    assert call("torch.zeros", 2, dtype=U).dtype == UNKNOWN_DTYPE
    assert call("torch.full", (U, 2), 1.0).shape == (None, 2)
    assert call("torch.arange", U).shape == (None,)
    assert call("torch.arange", 0, U, 0.5).dtype == "float32"
    assert call("torch.arange", 0, U).dtype == UNKNOWN_DTYPE
    assert call("torch.linspace", 0, 1, U).shape == (None,)
    assert call("torch.eye", U).shape == (None, None)
    assert call("torch.eye", 3, U).shape == (3, None)
    mixed = call("torch.tensor", [U, 1])
    assert mixed.shape == (2,) and mixed.dtype == UNKNOWN_DTYPE
    assert call("torch.tensor", [[1.0, U], [U, 2]]).shape == (2, 2)
    assert call("torch.tensor", [1.0, U]).dtype == "float32"
    assert call("torch.tensor", U).shape is None
    assert call("torch.zeros_like", U).shape is None
    assert call("torch.nn.Parameter", U).is_parameter
    assert call("torch.nn.Parameter", call("torch.randn", U, 4)).shape == (None, 4)
    assert call("torch.nn.init.normal_", U).shape is None


# ---------------------------------------------------------------- methods

METHOD_CASES: list[tuple[TensorValue, str, tuple[Any, ...], dict[str, Any]]] = [
    (TensorValue((2, 3, 4)), "view", (6, 4), {}),
    (TensorValue((2, 3, 4)), "view", (-1,), {}),
    (TensorValue((2, 3, 4)), "view", ((4, -1),), {}),
    (TensorValue((2, 3, 4)), "reshape", (2, -1, 2), {}),
    (TensorValue((2, 3, 4)), "reshape", (), {"shape": (24,)}),
    (TensorValue((4, 4)), "view", (1, 1, 4, 4), {}),
    (TensorValue((3,)), "unsqueeze", (0,), {}),
    (TensorValue((3,)), "unsqueeze", (-1,), {}),
    (TensorValue((2, 3)), "unsqueeze", (1,), {}),
    (TensorValue((1, 3, 1)), "squeeze", (), {}),
    (TensorValue((1, 3, 1)), "squeeze", (0,), {}),
    (TensorValue((1, 3, 1)), "squeeze", (1,), {}),
    (TensorValue((1, 3, 1)), "squeeze", (-1,), {}),
    (TensorValue((1, 3, 1)), "squeeze", ((0, 2),), {}),
    (TensorValue((1, 3)), "expand", (4, -1), {}),
    (TensorValue((3, 1)), "expand", (2, 3, 5), {}),
    (TensorValue((3, 1)), "expand", ((2, -1, 5),), {}),
    (TensorValue((2, 3)), "repeat", (2, 1), {}),
    (TensorValue((2, 3)), "repeat", (4, 2, 1), {}),
    (TensorValue((2, 3)), "t", (), {}),
    (TensorValue((3,)), "t", (), {}),
    (TensorValue((2, 3, 4)), "transpose", (0, 2), {}),
    (TensorValue((2, 3, 4)), "transpose", (-1, -2), {}),
    (TensorValue((2, 3, 4)), "permute", (2, 0, 1), {}),
    (TensorValue((2, 3, 4)), "permute", ((1, 2, 0),), {}),
    (TensorValue((2, 3, 4)), "flatten", (), {}),
    (TensorValue((2, 3, 4)), "flatten", (1,), {}),
    (TensorValue((2, 3, 4, 5)), "flatten", (1, 2), {}),
    (TensorValue(()), "flatten", (), {}),
    (TensorValue((2,)), "float", (), {}),
    (TensorValue((2,)), "half", (), {}),
    (TensorValue((2,)), "double", (), {}),
    (TensorValue((2,)), "long", (), {}),
    (TensorValue((2,)), "int", (), {}),
    (TensorValue((2,)), "bool", (), {}),
    (TensorValue((2,)), "bfloat16", (), {}),
    (TensorValue((2,)), "to", ("torch.float16",), {}),
    (TensorValue((2,)), "to", (), {"dtype": "torch.long"}),
    (TensorValue((2,)), "to", ("cpu",), {}),
    (TensorValue((2,)), "to", ("cpu", "torch.float64"), {}),
    (TensorValue((2,)), "to", (long4,), {}),
    (TensorValue((2,)), "type", ("torch.long",), {}),
    (param23, "float", (), {}),
    (param23, "double", (), {}),
    (param23, "to", ("torch.float32",), {}),
    (param23, "clone", (), {}),
    (param23, "detach", (), {}),
    (param23, "contiguous", (), {}),
    (param23, "view", (-1,), {}),
    (param23, "requires_grad_", (False,), {}),
    (param23, "normal_", (), {"std": 0.02}),
    (param23, "uniform_", (-0.1, 0.1), {}),
    (param23, "zero_", (), {}),
    (param23, "fill_", (1.0,), {}),
    (t23, "requires_grad_", (), {}),
    (t23, "new_zeros", ((4,),), {}),
    (long4, "new_ones", (2, 2), {}),
    (long4, "new_full", ((3,), 1.5), {}),
    (t23, "new_empty", ((1,),), {"dtype": "torch.bool"}),
    (TensorValue((3, 3)), "tril", (), {}),
    (TensorValue((3, 3)), "triu", (1,), {}),
    (long4, "exp", (), {}),
    (TensorValue((2, 3)), "size", (), {}),
    (TensorValue((2, 3)), "size", (1,), {}),
    (TensorValue((2, 3)), "size", (-2,), {}),
    (TensorValue((2, 3)), "numel", (), {}),
    (TensorValue((2, 3)), "dim", (), {}),
    (TensorValue(()), "dim", (), {}),
]


@pytest.mark.parametrize(
    ("value", "name", "args", "kwargs"), METHOD_CASES, ids=lambda v: str(v)[:40]
)
def test_method_matches_torch(
    value: TensorValue, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    tensor = real(value)
    predicted = tensor_method(value, name, args, kwargs)
    with (
        torch.no_grad()
        if name.endswith("_") and name != "requires_grad_"
        else contextlib.nullcontext()
    ):
        # model code initialises in place under no_grad (or on `.data`)
        actual = getattr(tensor, name)(*real(args), **{k: real(v) for k, v in kwargs.items()})
    same(predicted, actual)
    if predicted is value:  # torch returned the very tensor (in-place, or no conversion)
        assert actual is tensor


@pytest.mark.parametrize("name", ["shape", "ndim", "dtype", "T", "mT", "data"])
@pytest.mark.parametrize("value", [t23, param23, TensorValue((2, 3, 4), "int64", False, False)])
def test_attribute_matches_torch(value: TensorValue, name: str) -> None:
    same(tensor_attribute(value, name), getattr(real(value), name))


def test_methods_with_unknowns() -> None:
    unknown_dim = TensorValue((2, None))
    assert tensor_method(unknown_dim, "view", (-1,), {}).shape == (None,)
    assert tensor_method(unknown_dim, "view", (2, -1), {}).shape == (2, None)
    assert tensor_method(TensorValue((4, 6)), "view", (U, -1), {}).shape == (None, None)
    assert tensor_method(unknown_dim, "unsqueeze", (0,), {}).shape == (1, 2, None)
    assert tensor_method(unknown_dim, "squeeze", (), {}).shape is None
    assert tensor_method(unknown_dim, "squeeze", (0,), {}).shape == (2, None)
    assert tensor_method(unknown_dim, "t", (), {}).shape == (None, 2)
    assert tensor_method(unknown_dim, "flatten", (), {}).shape == (None,)
    assert tensor_method(unknown_dim, "repeat", (3, 1), {}).shape == (6, None)
    assert tensor_method(unknown_dim, "expand", (5, -1, -1), {}).shape == (5, 2, None)
    size = tensor_method(unknown_dim, "size", (), {})
    assert size[0] == 2 and is_unknown(size[1])
    assert is_unknown(tensor_method(unknown_dim, "size", (1,), {}))
    assert is_unknown(tensor_method(unknown_dim, "numel", (), {}))
    assert tensor_method(unknown_dim, "dim", (), {}) == 2
    rank_unknown = TensorValue(None)
    assert is_unknown(tensor_method(rank_unknown, "size", (), {}))
    assert is_unknown(tensor_method(rank_unknown, "dim", (), {}))
    assert tensor_method(rank_unknown, "view", (3, -1), {}).shape == (3, None)
    assert tensor_method(rank_unknown, "unsqueeze", (0,), {}).shape is None
    assert tensor_method(rank_unknown, "float", (), {}).dtype == "float32"
    assert is_unknown(tensor_attribute(TensorValue((2,), UNKNOWN_DTYPE), "dtype"))
    assert tensor_method(t23, "to", (U,), {}).dtype == UNKNOWN_DTYPE
    assert tensor_method(t23, "item", (), {}) is None
    assert tensor_method(t23, "no_such_method", (), {}) is None


def test_dtype_names() -> None:
    for name in (
        "float",
        "double",
        "half",
        "long",
        "int",
        "short",
        "bool",
        "uint8",
        "int8",
        "cfloat",
        "bfloat16",
    ):
        assert dtype_name(f"torch.{name}") == str(getattr(torch, name)).removeprefix("torch.")
    assert dtype_name(None) == "float32"
    assert dtype_name(U) == UNKNOWN_DTYPE
    assert dtype_name("torch.nope") == UNKNOWN_DTYPE


# ---------------------------------------------------------------- properties

numbers = st.one_of(
    st.integers(-20, 20), st.floats(-20, 20, allow_nan=False, width=32).map(lambda x: round(x, 2))
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(numbers, numbers, numbers)
def test_arange_length_matches_torch(start: Any, end: Any, step: Any) -> None:
    try:
        actual = torch.arange(start, end, step)
    except RuntimeError:
        return  # zero step, or a step pointing away from end
    predicted = tensor_call("torch.arange", (start, end, step), {})
    assert predicted is not None
    assert predicted.shape == tuple(actual.shape)
    assert predicted.dtype == str(actual.dtype).removeprefix("torch.")


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(shapes, st.data())
def test_shape_methods_match_torch(shape: tuple[int, ...], data: st.DataObject) -> None:
    tensor = torch.zeros(shape)
    value = TensorValue(shape, "float32", False, False)
    rank = len(shape)
    axis = st.integers(-rank, rank - 1)
    choices = [
        ("reshape", (-1, shape[-1])),
        ("unsqueeze", (data.draw(st.integers(-rank - 1, rank)),)),
        ("squeeze", (data.draw(axis),)),
        ("transpose", (data.draw(axis), data.draw(axis))),
        ("permute", tuple(data.draw(st.permutations(range(rank))))),
        ("flatten", tuple(sorted((data.draw(axis) % rank, data.draw(axis) % rank)))),
        ("repeat", tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank + 1)))),
        ("expand", (data.draw(st.integers(1, 3)), *shape)),
    ]
    for name, args in choices:
        same(tensor_method(value, name, args, {}), getattr(tensor, name)(*args))
