"""The layer catalog is proven against torch: every row, built from random valid arguments,
predicts exactly the real layer's state_dict (keys, shapes, dtypes) and attributes."""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import typing
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptlens.engine.catalog import (
    REQUIRED,
    ChildFromArg,
    ChildLayer,
    LibraryFunction,
    bind,
    lookup,
    rows,
    state_dict_of,
)
from ckptlens.engine.catalog_base import VAR_KEYWORD, VAR_POSITIONAL, LayerSpec, Row, module_arg
from ckptlens.engine.objects import ModuleValue
from ckptlens.engine.values import TensorValue, Unknown, Unresolvable

warnings.filterwarnings("ignore")

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- realising abstract values


def resolve(qualname: str) -> Any:
    """The Python object a qualified name names (`torch.nn.Linear` -> the class)."""
    module_name, _, attr = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError:
        owner = resolve(module_name)
        return getattr(owner, attr)


def realize(value: Any, name: str = "") -> Any:
    """The real torch value an abstract argument stands for."""
    if isinstance(value, ChildLayer):
        return construct(value.qualname, value.args)
    if isinstance(value, TensorValue):
        dtype = getattr(torch, value.dtype)
        assert value.shape is not None and None not in value.shape
        return (
            torch.rand(value.shape).to(dtype)
            if dtype.is_floating_point
            else torch.zeros(value.shape, dtype=dtype)
        )
    if isinstance(value, LibraryFunction):
        return resolve(value.qualname)
    if name == "dtype" and isinstance(value, str):
        return getattr(torch, value.removeprefix("torch."))
    if isinstance(value, list):
        return [realize(v) for v in value]
    if isinstance(value, tuple):
        return tuple(realize(v) for v in value)
    if isinstance(value, dict):
        return {k: realize(v) for k, v in value.items()}
    return value


def construct(qualname: str, bound: dict[str, Any]) -> nn.Module:
    """The real layer, called the way the bound arguments say."""
    spec = lookup(qualname)
    assert spec is not None
    cls = resolve(spec.qualname)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in spec.params:
        value = realize(bound[p.name], p.name)
        if p.kind == VAR_POSITIONAL:
            args.extend(value)
        elif p.kind == VAR_KEYWORD:
            kwargs.update(value)
        else:
            kwargs[p.name] = value
    return cls(*args, **kwargs)


def real_state(layer: nn.Module) -> list[tuple[str, tuple[int, ...] | None, str]]:
    out = []
    for key, value in layer.state_dict().items():
        shape = (
            None if isinstance(value, nn.parameter.UninitializedTensorMixin) else tuple(value.shape)
        )
        out.append((key, shape, str(value.dtype).removeprefix("torch.")))
    return out


def split_call(spec: LayerSpec, kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(positional, keyword) arguments of a call: a `*args` parameter's values go positionally."""
    for p in spec.params:
        if p.kind == VAR_POSITIONAL and p.name in kwargs:
            rest = {k: v for k, v in kwargs.items() if k != p.name}
            return tuple(kwargs[p.name]), rest
    return (), kwargs


def predicted_state(qualname: str, kwargs: dict[str, Any]) -> list[tuple[str, Any, str]]:
    spec = lookup(qualname)
    assert spec is not None
    args, rest = split_call(spec, kwargs)
    return [(key, decl.shape, decl.dtype) for key, decl in state_dict_of(qualname, args, rest)]


def same_attr(expected: Any, actual: Any) -> bool:
    if isinstance(expected, ChildLayer):
        return isinstance(actual, nn.Module)
    if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected):
        return math.isnan(actual)
    return bool(expected == actual)


def check(
    qualname: str, kwargs: dict[str, Any], forward: Callable[[nn.Module], None] | None = None
) -> None:
    """Build the real layer and compare it with the row: state_dict and attributes."""
    spec = lookup(qualname)
    assert spec is not None
    bound = bind(spec, *split_call(spec, kwargs))
    assert bind(spec, (), bound) == bound  # a ChildLayer's arguments bind again unchanged
    layer = construct(qualname, bound)
    for name, value in spec.build(bound).attributes.items():
        assert same_attr(value, getattr(layer, name)), (name, value, getattr(layer, name))
    predicted = predicted_state(qualname, kwargs)
    if forward is not None:  # a lazy layer: materialize it; the dims it infers are None
        forward(layer)
        real = real_state(layer)
        assert [(k, d) for k, _, d in predicted] == [(k, d) for k, _, d in real]
        for (key, want, _), (_, got, _) in zip(predicted, real, strict=True):
            assert want is not None and got is not None and len(want) == len(got), key
            assert all(w is None or w == g for w, g in zip(want, got, strict=True)), (
                key,
                want,
                got,
            )
    else:
        assert predicted == real_state(layer)


# ---------------------------------------------------------------- strategies

small = st.integers(1, 5)
dtypes = st.sampled_from([None, "torch.float64", "torch.float16", "torch.float", "torch.bfloat16"])
eps = st.sampled_from([1e-5, 1e-3])


def tensor_value(shape: tuple[int, ...], dtype: str = "float32") -> TensorValue:
    return TensorValue(shape, dtype)


def int_or_tuple(n: int, values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(values, st.tuples(*[values] * n), st.lists(values, min_size=n, max_size=n))


@st.composite
def linear(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "in_features": draw(small),
        "out_features": draw(small),
        "bias": draw(st.booleans()),
        "dtype": draw(dtypes),
    }


@st.composite
def bilinear(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "in1_features": draw(small),
        "in2_features": draw(small),
        "out_features": draw(small),
        "bias": draw(st.booleans()),
        "dtype": draw(dtypes),
    }


@st.composite
def conv(draw: st.DrawFn, n: int, transposed: bool, lazy: bool = False) -> dict[str, Any]:
    groups = draw(st.integers(1, 3))
    stride = draw(int_or_tuple(n, st.integers(1, 2)))
    dilation = draw(int_or_tuple(n, st.integers(1, 2)))
    kwargs: dict[str, Any] = {
        "out_channels": groups * draw(small),
        "kernel_size": draw(int_or_tuple(n, st.integers(1, 3))),
        "stride": stride,
        "dilation": dilation,
        "groups": groups,
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from([None, "torch.float64"]) if lazy else dtypes),
    }
    if not lazy:
        kwargs["in_channels"] = groups * draw(small)
    unit_stride = all(s == 1 for s in (stride if isinstance(stride, (tuple, list)) else [stride]))
    if transposed:
        kwargs["padding"] = draw(int_or_tuple(n, st.integers(0, 1)))
        # output_padding must be smaller than stride or dilation
        # output_padding < stride or dilation is checked in forward only (which lazy layers run)
        kwargs["output_padding"] = 0 if lazy else draw(int_or_tuple(n, st.integers(0, 1)))
    else:
        options = [int_or_tuple(n, st.integers(0, 2)), st.just("valid")]
        if unit_stride:
            options.append(st.just("same"))
        kwargs["padding"] = draw(st.one_of(options))
        kwargs["padding_mode"] = draw(
            st.sampled_from(["zeros", "reflect", "replicate", "circular"])
        )
    return kwargs


@st.composite
def conv_nd(draw: st.DrawFn, transposed: bool | None = None) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    return {
        "in_channels": groups * draw(small),
        "out_channels": groups * draw(small),
        "kernel_size": tuple(draw(st.integers(1, 3)) for _ in range(n)),
        "stride": (1,) * n,
        "padding": (0,) * n,
        "dilation": (1,) * n,
        "transposed": draw(st.booleans()) if transposed is None else transposed,
        "output_padding": tuple(draw(st.integers(0, 1)) for _ in range(n)),
        "groups": groups,
        "bias": draw(st.booleans()),
        "padding_mode": "zeros",
    }


@st.composite
def embedding(draw: st.DrawFn, bag: bool) -> dict[str, Any]:
    num, dim = draw(st.integers(1, 6)), draw(small)
    kwargs: dict[str, Any] = {
        "num_embeddings": num,
        "embedding_dim": dim,
        "padding_idx": draw(st.one_of(st.none(), st.integers(-num, num - 1))),
        "max_norm": draw(st.sampled_from([None, 1.0])),
        "scale_grad_by_freq": draw(st.booleans()),
        "sparse": draw(st.booleans()),
    }
    if draw(st.booleans()):
        kwargs["_weight"] = tensor_value((num, dim), draw(st.sampled_from(["float32", "float64"])))
    else:
        kwargs["dtype"] = draw(dtypes)
    if bag:
        kwargs["mode"] = draw(st.sampled_from(["mean", "sum", "max"]))
        kwargs["include_last_offset"] = draw(st.booleans())
        if kwargs["mode"] == "max":
            kwargs["padding_idx"] = None
    else:
        kwargs["_freeze"] = draw(st.booleans())
    return kwargs


@st.composite
def norm(draw: st.DrawFn, lazy: bool = False) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "eps": draw(eps),
        "momentum": draw(st.sampled_from([0.1, None])),
        "affine": draw(st.booleans()),
        "track_running_stats": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from([None, "torch.float64"]) if lazy else dtypes),
    }
    if not lazy:
        kwargs["num_features"] = draw(small)
    return kwargs


@st.composite
def instance_norm(draw: st.DrawFn, lazy: bool = False) -> dict[str, Any]:
    kwargs = draw(norm(lazy))
    kwargs["momentum"] = 0.1
    return kwargs


@st.composite
def layer_norm(draw: st.DrawFn, rms: bool = False) -> dict[str, Any]:
    shape = draw(
        st.one_of(
            small,
            st.tuples(small),
            st.tuples(small, small),
            st.lists(small, min_size=1, max_size=3),
        )
    )
    kwargs: dict[str, Any] = {
        "normalized_shape": shape,
        "elementwise_affine": draw(st.booleans()),
        "dtype": draw(dtypes),
    }
    kwargs["eps"] = draw(st.sampled_from([None, 1e-6])) if rms else draw(eps)
    if not rms:
        kwargs["bias"] = draw(st.booleans())
    return kwargs


@st.composite
def group_norm(draw: st.DrawFn) -> dict[str, Any]:
    groups = draw(small)
    return {
        "num_groups": groups,
        "num_channels": groups * draw(small),
        "eps": draw(eps),
        "affine": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "dtype": draw(dtypes),
    }


@st.composite
def prelu(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "num_parameters": draw(small),
        "init": draw(st.sampled_from([0.25, 0.1])),
        "dtype": draw(dtypes),
    }


@st.composite
def rnn(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    hidden = draw(st.integers(2, 5))
    layers = draw(st.integers(1, 3))
    kwargs: dict[str, Any] = {
        "input_size": draw(small),
        "hidden_size": hidden,
        "num_layers": layers,
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "dropout": draw(st.sampled_from([0.0, 0.5])) if layers > 1 else 0.0,
        "bidirectional": draw(st.booleans()),
        "dtype": draw(st.sampled_from([None, "torch.float64"])),
    }
    if kind == "RNNBase":
        kwargs["mode"] = draw(st.sampled_from(["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]))
        kwargs["proj_size"] = draw(st.integers(0, hidden - 1)) if kwargs["mode"] == "LSTM" else 0
    elif kind == "LSTM":
        kwargs["proj_size"] = draw(st.integers(0, hidden - 1))
    elif kind == "RNN":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return kwargs


@st.composite
def rnn_cell(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "input_size": draw(small),
        "hidden_size": draw(small),
        "bias": draw(st.booleans()),
        "dtype": draw(dtypes),
    }
    if kind == "RNNCell":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "RNNCellBase":
        kwargs["num_chunks"] = draw(st.integers(1, 4))
    return kwargs


@st.composite
def mha(draw: st.DrawFn) -> dict[str, Any]:
    heads = draw(st.integers(1, 3))
    embed = heads * draw(st.integers(1, 3))
    other_dim = st.one_of(st.none(), st.just(embed), small)
    return {
        "embed_dim": embed,
        "num_heads": heads,
        "dropout": draw(st.sampled_from([0.0, 0.1])),
        "bias": draw(st.booleans()),
        "add_bias_kv": draw(st.booleans()),
        "add_zero_attn": draw(st.booleans()),
        "kdim": draw(other_dim),
        "vdim": draw(other_dim),
        "batch_first": draw(st.booleans()),
        "dtype": draw(dtypes),
    }


def _layer(qualname: str, **kwargs: Any) -> ChildLayer:
    spec = lookup(qualname)
    assert spec is not None
    return ChildLayer("", spec.qualname, bind(spec, (), kwargs))


activations = st.sampled_from(
    [
        "relu",
        "gelu",
        LibraryFunction("torch.nn.functional.gelu"),
        LibraryFunction("torch.nn.functional.relu"),
        _layer("torch.nn.GELU"),
        _layer("torch.nn.PReLU", num_parameters=1),
    ]
)


@st.composite
def transformer_layer(
    draw: st.DrawFn, d_model: int | None = None, factory: bool = True
) -> dict[str, Any]:
    nhead = draw(st.integers(1, 2))
    kwargs: dict[str, Any] = {
        "d_model": d_model if d_model is not None else nhead * draw(st.integers(1, 3)),
        "nhead": nhead if d_model is None else 1,
        "dim_feedforward": draw(small),
        "dropout": draw(st.sampled_from([0.0, 0.1])),
        "activation": draw(activations),
        "layer_norm_eps": draw(eps),
        "batch_first": draw(st.booleans()),
        "norm_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
    }
    if factory:
        kwargs["dtype"] = draw(st.sampled_from([None, "torch.float64"]))
    return kwargs


@st.composite
def transformer_stack(draw: st.DrawFn, decoder: bool) -> dict[str, Any]:
    layer_kwargs = draw(transformer_layer())
    layer_row = (
        "torch.nn.TransformerDecoderLayer" if decoder else "torch.nn.TransformerEncoderLayer"
    )
    norm_value = draw(
        st.sampled_from(
            [None, _layer("torch.nn.LayerNorm", normalized_shape=layer_kwargs["d_model"])]
        )
    )
    kwargs: dict[str, Any] = {
        "decoder_layer" if decoder else "encoder_layer": _layer(layer_row, **layer_kwargs),
        "num_layers": draw(st.integers(1, 3)),
        "norm": norm_value,
    }
    if not decoder:
        kwargs["enable_nested_tensor"] = draw(st.booleans())
        kwargs["mask_check"] = draw(st.booleans())
    return kwargs


@st.composite
def transformer(draw: st.DrawFn) -> dict[str, Any]:
    nhead = draw(st.integers(1, 2))
    d_model = nhead * draw(st.integers(1, 2))
    custom = st.sampled_from(
        [None, None, _layer("torch.nn.Linear", in_features=d_model, out_features=2)]
    )
    return {
        "d_model": d_model,
        "nhead": nhead,
        "num_encoder_layers": draw(st.integers(1, 2)),
        "num_decoder_layers": draw(st.integers(1, 2)),
        "dim_feedforward": draw(small),
        "dropout": 0.0,
        "activation": draw(activations),
        "custom_encoder": draw(custom),
        "custom_decoder": draw(custom),
        "layer_norm_eps": draw(eps),
        "batch_first": draw(st.booleans()),
        "norm_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from([None, "torch.float64"])),
    }


@st.composite
def adaptive_log_softmax(draw: st.DrawFn) -> dict[str, Any]:
    n_classes = draw(st.integers(3, 12))
    cutoffs = sorted(draw(st.sets(st.integers(1, n_classes - 1), min_size=1, max_size=3)))
    return {
        "in_features": draw(st.integers(2, 16)),
        "n_classes": n_classes,
        "cutoffs": draw(st.sampled_from([cutoffs, tuple(cutoffs)])),
        "div_value": draw(st.sampled_from([4.0, 2.0, 1.5, 2])),
        "head_bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from([None, "torch.float64"])),
    }


legacy = st.sampled_from([None, True, False])


@st.composite
def weighted_loss(
    draw: st.DrawFn,
    extra: dict[str, st.SearchStrategy[Any]],
    tensors: tuple[str, ...] = ("weight",),
    legacy_args: bool = True,
) -> dict[str, Any]:
    classes = draw(small)
    kwargs: dict[str, Any] = {
        name: draw(
            st.sampled_from([None, tensor_value((classes,)), tensor_value((classes,), "float64")])
        )
        for name in tensors
    }
    if legacy_args:
        kwargs["size_average"] = draw(legacy)
        kwargs["reduce"] = draw(legacy)
    kwargs["reduction"] = draw(st.sampled_from(["mean", "sum", "none"]))
    kwargs.update({k: draw(v) for k, v in extra.items()})
    return kwargs


@st.composite
def linear_cross_entropy(draw: st.DrawFn) -> dict[str, Any]:
    classes = draw(small)
    return {
        "in_features": draw(small),
        "num_classes": classes,
        "out_features": draw(st.sampled_from([(), (2,), (2, 3)])),
        "bias": draw(st.booleans()),
        "weight": draw(st.sampled_from([None, tensor_value((classes,))])),
        "ignore_index": draw(st.sampled_from([None, -100, 0])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.2])),
        "reduction": draw(st.sampled_from(["mean", "sum"])),
        "dtype": draw(st.sampled_from([None, "torch.float64"])),
    }


@st.composite
def fractional_max_pool(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "kernel_size": draw(int_or_tuple(n, st.integers(1, 3))),
        "return_indices": draw(st.booleans()),
        "_random_samples": draw(st.sampled_from([None, tensor_value((1, 2, n))])),
    }
    if draw(st.booleans()):
        kwargs["output_size"] = draw(int_or_tuple(n, st.integers(1, 3)))
    else:
        kwargs["output_ratio"] = draw(st.sampled_from([0.5, (0.5,) * n]))
    return kwargs


modules = st.lists(
    st.one_of(
        linear().map(lambda k: _layer("torch.nn.Linear", **k)),
        st.just(_layer("torch.nn.ReLU")),
        norm().map(lambda k: _layer("torch.nn.BatchNorm1d", **k)),
    ),
    max_size=3,
)


@st.composite
def sequential(draw: st.DrawFn) -> dict[str, Any]:
    return {"args": tuple(draw(modules))}


@st.composite
def module_list(draw: st.DrawFn) -> dict[str, Any]:
    return {"modules": draw(st.one_of(st.none(), modules))}


@st.composite
def module_dict(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(modules)
    names = draw(st.permutations(["b", "a", "c"]))
    return {"modules": dict(zip(names, items, strict=False))}


tensors = st.lists(st.tuples(small, small).map(lambda s: tensor_value(s)), max_size=3)


@st.composite
def parameter_list(draw: st.DrawFn) -> dict[str, Any]:
    return {"values": draw(tensors)}


@st.composite
def parameter_dict(draw: st.DrawFn) -> dict[str, Any]:
    values = draw(tensors)
    names = draw(st.permutations(["b", "a", "c"]))
    return {"parameters": dict(zip(names, values, strict=False))}


@st.composite
def data_parallel(draw: st.DrawFn) -> dict[str, Any]:
    return {"module": _layer("torch.nn.Linear", **draw(linear()))}


def _input(
    shape_fn: Callable[[dict[str, Any]], tuple[int, ...]],
) -> Callable[[dict[str, Any]], Callable[[nn.Module], None]]:
    """A forward pass that materializes a lazy layer from an input of the drawn size."""

    def make(kwargs: dict[str, Any]) -> Callable[[nn.Module], None]:
        dtype = realize(kwargs.get("dtype"), "dtype") or torch.float32

        def run(layer: nn.Module) -> None:
            layer(torch.rand(shape_fn(kwargs), dtype=dtype))

        return run

    return make


def _conv_input(n: int) -> Callable[[dict[str, Any]], Callable[[nn.Module], None]]:
    return _input(lambda k: (1, k["groups"] * 2, *(8,) * n))


# qualname -> (strategy of keyword arguments, optional forward pass for lazy layers)
CASES: dict[str, tuple[st.SearchStrategy[dict[str, Any]], Callable[[dict[str, Any]], Callable[[nn.Module], None]] | None]] = {
    "torch.nn.Linear": (linear(), None),
    "torch.nn.modules.linear.NonDynamicallyQuantizableLinear": (linear(), None),
    "torch.nn.LazyLinear": (linear().map(lambda k: {key: v for key, v in k.items() if key != "in_features"} | {"dtype": None}), _input(lambda k: (2, 3))),
    "torch.nn.Bilinear": (bilinear(), None),
    **{f"torch.nn.Conv{n}d": (conv(n, False), None) for n in (1, 2, 3)},
    **{f"torch.nn.ConvTranspose{n}d": (conv(n, True), None) for n in (1, 2, 3)},
    **{f"torch.nn.LazyConv{n}d": (conv(n, False, lazy=True), _conv_input(n)) for n in (1, 2, 3)},
    **{f"torch.nn.LazyConvTranspose{n}d": (conv(n, True, lazy=True), _conv_input(n)) for n in (1, 2, 3)},
    "torch.nn.modules.conv._ConvNd": (conv_nd(), None),
    "torch.nn.modules.conv._ConvTransposeNd": (conv_nd(transposed=True), None),
    "torch.nn.Embedding": (embedding(False), None),
    "torch.nn.EmbeddingBag": (embedding(True), None),
    **{f"torch.nn.BatchNorm{n}d": (norm(), None) for n in (1, 2, 3)},
    "torch.nn.SyncBatchNorm": (norm(), None),
    "torch.nn.modules.batchnorm._NormBase": (norm(), None),
    "torch.nn.modules.batchnorm._BatchNorm": (norm(), None),
    **{f"torch.nn.LazyBatchNorm{n}d": (norm(lazy=True), _input(lambda k, n=n: (2, 3, *(2,) * n))) for n in (1, 2, 3)},
    **{f"torch.nn.InstanceNorm{n}d": (instance_norm(), None) for n in (1, 2, 3)},
    "torch.nn.modules.instancenorm._InstanceNorm": (instance_norm(), None),
    **{f"torch.nn.LazyInstanceNorm{n}d": (instance_norm(lazy=True), _input(lambda k, n=n: (2, 3, *(3,) * n))) for n in (1, 2, 3)},
    "torch.nn.LayerNorm": (layer_norm(), None),
    "torch.nn.RMSNorm": (layer_norm(rms=True), None),
    "torch.nn.GroupNorm": (group_norm(), None),
    "torch.nn.PReLU": (prelu(), None),
    **{f"torch.nn.{kind}": (rnn(kind), None) for kind in ("RNNBase", "RNN", "LSTM", "GRU")},
    **{f"torch.nn.{kind}": (rnn_cell(kind), None) for kind in ("RNNCellBase", "RNNCell", "LSTMCell", "GRUCell")},
    "torch.nn.MultiheadAttention": (mha(), None),
    "torch.nn.TransformerEncoderLayer": (transformer_layer(), None),
    "torch.nn.TransformerDecoderLayer": (transformer_layer(), None),
    "torch.nn.TransformerEncoder": (transformer_stack(False), None),
    "torch.nn.TransformerDecoder": (transformer_stack(True), None),
    "torch.nn.Transformer": (transformer(), None),
    "torch.nn.AdaptiveLogSoftmaxWithLoss": (adaptive_log_softmax(), None),
    "torch.nn.modules.loss._WeightedLoss": (weighted_loss({}), None),
    "torch.nn.NLLLoss": (weighted_loss({"ignore_index": st.sampled_from([-100, 0])}), None),
    "torch.nn.NLLLoss2d": (weighted_loss({"ignore_index": st.sampled_from([-100, 0])}), None),
    "torch.nn.CrossEntropyLoss": (weighted_loss({"ignore_index": st.sampled_from([-100, 0]), "label_smoothing": st.sampled_from([0.0, 0.1])}), None),
    "torch.nn.BCELoss": (weighted_loss({}), None),
    "torch.nn.BCEWithLogitsLoss": (weighted_loss({}, ("weight", "pos_weight")), None),
    "torch.nn.MultiLabelSoftMarginLoss": (weighted_loss({}), None),
    "torch.nn.MultiMarginLoss": (weighted_loss({"p": st.sampled_from([1, 2]), "margin": st.sampled_from([1.0, 0.5])}), None),
    "torch.nn.LinearCrossEntropyLoss": (linear_cross_entropy(), None),
    "torch.nn.FractionalMaxPool2d": (fractional_max_pool(2), None),
    "torch.nn.FractionalMaxPool3d": (fractional_max_pool(3), None),
    "torch.nn.Sequential": (sequential(), None),
    "torch.nn.ModuleList": (module_list(), None),
    "torch.nn.ModuleDict": (module_dict(), None),
    "torch.nn.ParameterList": (parameter_list(), None),
    "torch.nn.ParameterDict": (parameter_dict(), None),
    "torch.nn.DataParallel": (data_parallel(), None),
    "einops.layers.torch.EinMix": (st.sampled_from([
        {"pattern": "b t c -> b t c2", "weight_shape": "c c2", "bias_shape": "c2", "c": 3, "c2": 4},
        {"pattern": "t b c -> t b c", "weight_shape": "c", "c": 5},
        {"pattern": "h w c -> hout w c", "weight_shape": "h hout", "bias_shape": "hout", "h": 2, "hout": 6},
        {"pattern": "... (head cin) -> ... (head cout)", "weight_shape": "head cin cout", "bias_shape": "head cout", "head": 2, "cin": 3, "cout": 4},
    ]), None),
}  # fmt: skip

# rows that own no tensors whatever their arguments, checked by test_parameterless_row
PARAMETERLESS = [r for r in rows() if r.qualname not in CASES]
# built by test_distributed_data_parallel (it needs a process group)
NOT_CONSTRUCTED = {"torch.nn.parallel.distributed.DistributedDataParallel"}


@pytest.mark.parametrize("qualname", sorted(CASES))
def test_row_matches_torch(qualname: str) -> None:
    strategy, forward = CASES[qualname]

    @SETTINGS
    @given(strategy)
    def run(kwargs: dict[str, Any]) -> None:
        check(qualname, kwargs, forward(kwargs) if forward else None)

    run()


def test_distributed_data_parallel(tmp_path: Any) -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1
    )
    try:
        for inner in (
            _layer("torch.nn.Linear", in_features=3, out_features=4),
            _layer("torch.nn.BatchNorm1d", num_features=2),
        ):
            check(
                "torch.nn.parallel.DistributedDataParallel",
                {"module": inner, "broadcast_buffers": False},
            )
    finally:
        dist.destroy_process_group()


# required arguments of parameterless rows, for building them
EXAMPLES: dict[str, dict[str, Any]] = {
    **{f"AdaptiveAvgPool{n}d": {"output_size": 2} for n in (1, 2, 3)},
    **{
        f"AdaptiveMaxPool{n}d": {"output_size": (2,) * n, "return_indices": True} for n in (1, 2, 3)
    },
    "AvgPool1d": {"kernel_size": 2},
    "AvgPool2d": {"kernel_size": (2, 3), "padding": 1},
    "AvgPool3d": {"kernel_size": 2, "stride": 1},
    **{f"MaxPool{n}d": {"kernel_size": 3, "dilation": 2} for n in (1, 2, 3)},
    **{f"MaxUnpool{n}d": {"kernel_size": 2, "padding": 1} for n in (1, 2, 3)},
    **{f"LPPool{n}d": {"norm_type": 2, "kernel_size": 2} for n in (1, 2, 3)},
    **{
        f"{k}Pad{n}d": {"padding": 1}
        for k in ("Reflection", "Replication", "Zero", "Circular")
        for n in (1, 2, 3)
    },
    **{f"ConstantPad{n}d": {"padding": (1,) * (2 * n), "value": 0.5} for n in (1, 2, 3)},
    "ChannelShuffle": {"groups": 2},
    "CrossMapLRN2d": {"size": 3},
    "LocalResponseNorm": {"size": 3, "k": 2.0},
    "Fold": {"output_size": 4, "kernel_size": 2},
    "Unfold": {"kernel_size": (2, 3), "stride": 2},
    "PixelShuffle": {"upscale_factor": 2},
    "PixelUnshuffle": {"downscale_factor": 2},
    "Threshold": {"threshold": 0.1, "value": 0.0},
    "Unflatten": {"dim": 1, "unflattened_size": (2, 3)},
    "Hardtanh": {"min_value": -2.0},
    "_MaxPoolNd": {"kernel_size": 2},
    "_LPPoolNd": {"norm_type": 1, "kernel_size": 3, "stride": 2},
    "_AdaptiveMaxPoolNd": {"output_size": 3},
    "_AdaptiveAvgPoolNd": {"output_size": (2, None)},
    "_ConstantPadNd": {"value": 1.5},
    "Upsample": {"scale_factor": 2, "mode": "bilinear"},
    "UpsamplingNearest2d": {"size": 4},
    "PairwiseDistance": {"p": 1.0},
    "Softmax": {"dim": 1},
    "KLDivLoss": {"size_average": False},
    "MSELoss": {"reduce": False},
    "L1Loss": {"reduction": "sum"},
    "Rearrange": {"pattern": "b (h p) c -> b h (p c)", "p": 2},
    "Reduce": {"pattern": "b n d -> b d", "reduction": "mean"},
}


@pytest.mark.parametrize("r", PARAMETERLESS, ids=lambda r: r.qualname)
def test_parameterless_row(r: Row) -> None:
    cls = resolve(r.qualname)
    assert [p.name for p in r.params] == _torch_param_names(cls)
    if r.qualname in NOT_CONSTRUCTED:
        return
    kwargs = EXAMPLES.get(r.name, {})
    bound = bind(r.spec(), (), kwargs)
    assert bind(r.spec(), (), bound) == bound
    layer = construct(r.qualname, bound)
    assert layer.state_dict() == {}
    assert state_dict_of(r.qualname, (), kwargs) == []
    for name, value in r.spec().build(bound).attributes.items():
        assert same_attr(value, getattr(layer, name)), (name, value, getattr(layer, name))


def _torch_signature(cls: type) -> inspect.Signature:
    """The constructor's signature; for `*args, **kwargs` constructors with typed overloads
    (RNN, LSTM, GRU), the first overload."""
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    kinds = {p.kind for p in sig.parameters.values()}
    if (
        kinds
        <= {
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        }
        and len(sig.parameters) == 3
    ):
        overloads = typing.get_overloads(cls.__init__)  # type: ignore[misc]
        if overloads:
            sig = inspect.signature(overloads[0])
    return sig.replace(parameters=list(sig.parameters.values())[1:])


def _torch_param_names(cls: type) -> list[str]:
    return list(_torch_signature(cls).parameters)


_KINDS = {
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


@pytest.mark.parametrize("r", rows(), ids=lambda r: r.qualname)
def test_signature_matches_torch(r: Row) -> None:
    cls = resolve(r.qualname)
    assert isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__name__ == r.name
    torch_params = list(_torch_signature(cls).parameters.values())
    assert [p.name for p in r.params] == [p.name for p in torch_params]
    for mine, theirs in zip(r.params, torch_params, strict=True):
        assert mine.kind == _KINDS[theirs.kind], mine.name
        if theirs.default is inspect.Parameter.empty:
            assert mine.default is REQUIRED, mine.name
        elif isinstance(mine.default, LibraryFunction):
            assert resolve(mine.default.qualname) is theirs.default
        else:
            assert mine.default == theirs.default and type(mine.default) is type(theirs.default), (
                mine.name
            )


def _public_paths(cls: type) -> list[str]:
    """Every `module.Name` under torch.nn / torch.nn.modules.* that names `cls`."""
    modules = [nn, nn.modules] + [
        importlib.import_module(f"torch.nn.modules.{info.name}")
        for info in pkgutil.iter_modules(nn.modules.__path__)
    ]
    paths = []
    for module in modules:
        for attr in dir(module):
            if not attr.startswith("_") and getattr(module, attr, None) is cls:
                paths.append(f"{module.__name__}.{attr}")
    return paths


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in nn.modules.__all__
        if isinstance(getattr(nn.modules, n), type)
        and issubclass(getattr(nn.modules, n), nn.Module)
    ],
)
def test_every_module_has_a_row_by_every_path(name: str) -> None:
    cls = getattr(nn.modules, name)
    paths = _public_paths(cls)
    assert (
        f"torch.nn.{name}" in paths
        and f"torch.nn.modules.{cls.__module__.rsplit('.', 1)[-1]}.{name}" in paths
    )
    canonical = {lookup(p).qualname if lookup(p) else None for p in paths}  # type: ignore[union-attr]
    assert canonical == {f"torch.nn.{name}"}, paths
    assert resolve(f"torch.nn.{name}") is cls
    spec = lookup(f"torch.nn.{name}")
    assert spec is not None and spec.is_container == (
        name in {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}
    )


def test_private_and_wrapper_paths() -> None:
    names = {
        "torch.nn.modules.linear.NonDynamicallyQuantizableLinear": "torch.nn.modules.linear.NonDynamicallyQuantizableLinear",
        "torch.nn.modules.activation.NonDynamicallyQuantizableLinear": "torch.nn.modules.linear.NonDynamicallyQuantizableLinear",
        "torch.nn.modules.batchnorm._BatchNorm": "torch.nn.modules.batchnorm._BatchNorm",
        "torch.nn.parallel.DataParallel": "torch.nn.DataParallel",
        "torch.nn.parallel.data_parallel.DataParallel": "torch.nn.DataParallel",
        "torch.nn.parallel.DistributedDataParallel": "torch.nn.parallel.distributed.DistributedDataParallel",
        "torch.nn.modules.transformer.LayerNorm": "torch.nn.LayerNorm",
    }
    for path, canonical in names.items():
        spec = lookup(path)
        assert spec is not None and spec.qualname == canonical, path
        assert resolve(path) is resolve(canonical)
    assert lookup("torch.nn.functional.relu") is None
    assert lookup("torch.nn.modules.linear.Nope") is None
    assert lookup("torch.nn.modules.linear.sub.Linear") is None


def test_torchmetrics_rows() -> None:
    spec = lookup("torchmetrics.classification.MulticlassAccuracy")
    assert spec is not None
    bound = bind(spec, (), {"num_classes": 3, "average": "macro"})
    assert state_dict_of(spec.qualname, (), {"num_classes": 3}) == []
    assert spec.build(bound).children == []
    tm = pytest.importorskip("torchmetrics")
    assert tm.classification.MulticlassAccuracy(num_classes=3).state_dict() == {}
    assert lookup("torchmetrics.Accuracy") is not None
    assert lookup("torchmetrics.functional.accuracy") is None
    assert lookup("torchmetrics.functional.classification.Foo") is None
    fid = lookup("torchmetrics.image.fid.FrechetInceptionDistance")
    assert fid is not None
    with pytest.raises(Unresolvable):
        fid.build(bind(fid, (), {"feature": 64}))


# ---------------------------------------------------------------- unknown arguments


def U(reason: str = "test", maybe_module: bool = False) -> Unknown:
    return Unknown(reason, maybe_module)


def shapes(qualname: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {key: decl.shape for key, decl in state_dict_of(qualname, args, kwargs)}


def test_unknown_dims_become_none() -> None:
    assert shapes("torch.nn.Linear", U(), 4) == {"weight": (4, None), "bias": (4,)}
    assert shapes("torch.nn.Conv2d", 6, U(), 3, groups=U()) == {
        "weight": (None, None, 3, 3),
        "bias": (None,),
    }
    assert shapes("torch.nn.Conv2d", 6, 4, U()) == {"weight": (4, 6, None, None), "bias": (4,)}
    assert shapes("torch.nn.Conv2d", 6, 4, (3, U()))["weight"] == (4, 6, 3, None)
    assert shapes("torch.nn.ConvTranspose1d", U(), 8, 3, groups=2)["weight"] == (None, 4, 3)
    assert shapes("torch.nn.LayerNorm", U()) == {"weight": None, "bias": None}
    assert shapes("torch.nn.LayerNorm", (U(), 4)) == {"weight": (None, 4), "bias": (None, 4)}
    assert shapes("torch.nn.Embedding", U(), 8) == {"weight": (None, 8)}
    assert shapes("torch.nn.BatchNorm1d", U())["running_mean"] == (None,)
    lstm = shapes("torch.nn.LSTM", 4, U(), num_layers=2)
    assert lstm["weight_ih_l0"] == (None, 4) and lstm["weight_ih_l1"] == (None, None)
    assert shapes("torch.nn.MultiheadAttention", U(), 2)["in_proj_weight"] == (None, None)
    assert shapes("torch.nn.MultiheadAttention", 8, U())["in_proj_weight"] == (24, 8)
    assert shapes("torch.nn.Linear", 4, 4, dtype=U()) == {"weight": (4, 4), "bias": (4,)}
    assert {d.dtype for _, d in state_dict_of("torch.nn.Linear", (4, 4), {"dtype": U()})} == {
        "unknown"
    }
    spec = lookup("torch.nn.Linear")
    assert spec is not None
    attributes = spec.build(bind(spec, (U("in"), 3), {})).attributes
    assert attributes["in_features"] == U("in") and attributes["out_features"] == 3


@pytest.mark.parametrize(
    ("qualname", "args", "kwargs"),
    [
        ("torch.nn.Linear", (4, 4), {"bias": U()}),
        ("torch.nn.BatchNorm2d", (4,), {"affine": U()}),
        ("torch.nn.BatchNorm2d", (4,), {"track_running_stats": U()}),
        ("torch.nn.LSTM", (4, 8), {"num_layers": U()}),
        ("torch.nn.LSTM", (4, 8), {"bidirectional": U()}),
        ("torch.nn.LSTM", (4, 8), {"proj_size": U()}),
        ("torch.nn.MultiheadAttention", (8, 2), {"kdim": U()}),
        ("torch.nn.MultiheadAttention", (U(), 2), {"vdim": 4}),
        ("torch.nn.CrossEntropyLoss", (), {"weight": U()}),
        ("torch.nn.BCEWithLogitsLoss", (), {"pos_weight": U()}),
        ("torch.nn.AdaptiveLogSoftmaxWithLoss", (8, 10, U()), {}),
        ("torch.nn.TransformerEncoder", (None, U()), {}),
    ],
)
def test_structural_unknowns_raise(
    qualname: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    spec = lookup(qualname)
    assert spec is not None
    with pytest.raises(Unresolvable):
        spec.build(bind(spec, args, kwargs))


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.floats(-2, 2, allow_nan=False),
    st.text(max_size=3),
    st.just(U()),
    st.just(U(maybe_module=True)),
    st.tuples(st.integers(-1, 3), st.just(U())),
    st.lists(st.integers(0, 3), max_size=3),
    st.just(TensorValue((2,))),
    st.just(TensorValue(None)),
    st.just(ModuleValue(type_name="x.Net")),
    st.just(_layer("torch.nn.Linear", in_features=2, out_features=2)),
)


@pytest.mark.parametrize("r", rows(), ids=lambda r: r.qualname)
def test_any_arguments_build_or_raise_unresolvable(r: Row) -> None:
    """Whatever the interpreter passes, a row answers or raises Unresolvable, never crashes."""
    named = [p for p in r.params if p.kind in ("positional_or_keyword", "keyword_only")]

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(st.fixed_dictionaries({}, optional={p.name: junk for p in named}))
    def run(kwargs: dict[str, Any]) -> None:
        spec = r.spec()
        try:
            built = spec.build(bind(spec, (), kwargs))
        except Unresolvable:
            return
        for child in built.children:
            assert isinstance(child, (ChildLayer, ChildFromArg))

    run()


def test_bind() -> None:
    spec = lookup("torch.nn.Linear")
    assert spec is not None
    assert bind(spec, (3, 4), {}) == {
        "in_features": 3,
        "out_features": 4,
        "bias": True,
        "device": None,
        "dtype": None,
    }
    assert bind(spec, (3,), {"out_features": U(), "bias": False})["out_features"] == U()
    for args, kwargs in [
        ((3,), {}),
        ((3, 4, True, None, None, 1), {}),
        ((3, 4), {"in_features": 3}),
        ((3, 4), {"nope": 1}),
    ]:
        with pytest.raises(Unresolvable):
            bind(spec, args, kwargs)
    with pytest.raises(Unresolvable):
        bind(spec, U(), {})  # type: ignore[arg-type]
    with pytest.raises(Unresolvable):
        bind(spec, (3, 4), U())  # type: ignore[arg-type]
    seq = lookup("torch.nn.Sequential")
    assert seq is not None and bind(seq, (1, 2), {}) == {"args": (1, 2)}
    identity = lookup("torch.nn.Identity")
    assert identity is not None and bind(identity, (1,), {"x": 2}) == {
        "args": (1,),
        "kwargs": {"x": 2},
    }
    norm = lookup("torch.nn.BatchNorm1d")
    assert norm is not None
    with pytest.raises(Unresolvable):  # bias is keyword-only
        bind(norm, (4, 1e-5, 0.1, True, True, None, None, False), {})


def test_module_arguments_from_the_interpreter() -> None:
    layer = ModuleValue(type_name="torch.nn.TransformerEncoderLayer")
    spec = lookup("torch.nn.TransformerEncoder")
    assert spec is not None
    built = spec.build(
        bind(spec, (layer, 3), {"norm": ModuleValue(type_name="torch.nn.LayerNorm")})
    )
    assert built.children == [
        ChildFromArg("layers", "encoder_layer", 3),
        ChildFromArg("norm", "norm"),
    ]
    built = spec.build(bind(spec, (U(maybe_module=True), 2), {}))
    assert built.children == [ChildFromArg("layers", "encoder_layer", 2)]
    assert module_arg("m", None, "m") == []
    tel = lookup("torch.nn.TransformerEncoderLayer")
    assert tel is not None
    children = tel.build(
        bind(tel, (8, 2), {"activation": ModuleValue(type_name="torch.nn.GELU")})
    ).children
    assert children[-1] == ChildFromArg("activation", "activation")
    for activation in ("gelu", U(), LibraryFunction("torch.nn.functional.gelu")):
        names = [c.name for c in tel.build(bind(tel, (8, 2), {"activation": activation})).children]
        assert "activation" not in names
    names = [
        c.name for c in tel.build(bind(tel, (8, 2), {"activation": U(maybe_module=True)})).children
    ]
    assert names[-1] == "activation"
    transformer_spec = lookup("torch.nn.Transformer")
    assert transformer_spec is not None
    custom = transformer_spec.build(
        bind(transformer_spec, (), {"custom_encoder": ModuleValue(type_name="x.Enc")})
    )
    assert custom.children[0] == ChildFromArg("encoder", "custom_encoder")
    assert isinstance(custom.children[1], ChildLayer) and custom.children[1].name == "decoder"
    dp = lookup("torch.nn.DataParallel")
    assert dp is not None
    assert dp.build(bind(dp, (ModuleValue(type_name="x.Net"),), {})).children == [
        ChildFromArg("module", "module")
    ]


def test_child_layers_carry_complete_arguments() -> None:
    spec = lookup("torch.nn.MultiheadAttention")
    assert spec is not None
    out_proj = spec.build(bind(spec, (8, 2), {})).children[0]
    assert isinstance(out_proj, ChildLayer)
    target = lookup(out_proj.qualname)
    assert isinstance(target, LayerSpec)
    assert list(out_proj.args) == [p.name for p in target.params]
