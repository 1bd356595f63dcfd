"""Catalog rows for the torch.nn layers that own tensors or build submodules (torch 2.13.0).

Each builder mirrors the layer's `__init__`: parameters and buffers in registration order
(entries registered as None are skipped), children in `_modules` order, and the attributes
model code may read back. Sources: torch/nn/modules/*.py.
"""

from __future__ import annotations

import math
from typing import Any

from ckptlens.engine.catalog_base import (
    A,
    ChildLayer,
    LayerBuild,
    Row,
    TensorDecl,
    buffer,
    child,
    dim,
    dims,
    dtype_of,
    flag,
    floordiv,
    is_given,
    module_arg,
    nothing,
    ntuple,
    param,
    reduction,
    row,
    sub,
)
from ckptlens.engine.catalog_sequence import (
    multihead_attention,
    rnn,
    rnn_cell,
    transformer,
    transformer_layer,
    transformer_stack,
)
from ckptlens.engine.dtype_names import UNKNOWN_DTYPE
from ckptlens.engine.values import TensorValue, Unknown, Unresolvable, is_unknown

FACTORY = "device=None, dtype=None"


def _bias(args: A, name: str, shape: Any, dtype: str) -> list[TensorDecl]:
    return [param(name, shape, dtype)] if flag(args, "bias") else []


# ---------------------------------------------------------------- linear


def _linear(a: A) -> LayerBuild:
    out, dt = dim(a["out_features"]), dtype_of(a)
    return LayerBuild(
        [param("weight", (out, dim(a["in_features"])), dt), *_bias(a, "bias", (out,), dt)],
        attributes={"in_features": a["in_features"], "out_features": a["out_features"]},
    )


def _lazy_linear(a: A) -> LayerBuild:
    out, dt = dim(a["out_features"]), dtype_of(a)
    # UninitializedParameter until the first forward; the shapes are those it materializes to
    return LayerBuild(
        [param("weight", (out, None), dt), *_bias(a, "bias", (out,), dt)],
        attributes={"in_features": 0, "out_features": a["out_features"]},
    )


def _bilinear(a: A) -> LayerBuild:
    out, dt = dim(a["out_features"]), dtype_of(a)
    weight = param("weight", (out, dim(a["in1_features"]), dim(a["in2_features"])), dt)
    return LayerBuild(
        [weight, *_bias(a, "bias", (out,), dt)],
        attributes={k: a[k] for k in ("in1_features", "in2_features", "out_features")},
    )


# ---------------------------------------------------------------- convolution


def _conv(n: int, transposed: bool, lazy: bool = False) -> Any:
    def build(a: A) -> LayerBuild:
        kernel = ntuple(a["kernel_size"], n)
        in_ch: Any = 0 if lazy else a["in_channels"]
        out_ch, groups, dt = a["out_channels"], a["groups"], dtype_of(a)
        in_dim = None if lazy else dim(in_ch)
        if transposed:
            shape = (in_dim, floordiv(out_ch, groups), *dims(kernel))
        else:
            shape = (dim(out_ch), None if lazy else floordiv(in_ch, groups), *dims(kernel))
        padding = a["padding"]
        output_padding = ntuple(a.get("output_padding", 0), n)
        attributes = {
            "in_channels": in_ch,
            "out_channels": out_ch,
            "kernel_size": kernel,
            "stride": ntuple(a["stride"], n),
            "padding": padding if isinstance(padding, str) else ntuple(padding, n),
            "dilation": ntuple(a["dilation"], n),
            "transposed": transposed,
            "output_padding": output_padding,
            "groups": groups,
            "padding_mode": a["padding_mode"],
        }
        return LayerBuild(
            [param("weight", shape, dt), *_bias(a, "bias", (dim(out_ch),), dt)],
            attributes=attributes,
        )

    return build


_CONV_SIG = (
    "in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, "
    f"bias=True, padding_mode='zeros', {FACTORY}"
)
_CONV_T_SIG = (
    "in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, "
    f"bias=True, dilation=1, padding_mode='zeros', {FACTORY}"
)
_LAZY_CONV_SIG = _CONV_SIG.removeprefix("in_channels, ")
_LAZY_CONV_T_SIG = _CONV_T_SIG.removeprefix("in_channels, ")
_CONV_ND_SIG = (
    "in_channels, out_channels, kernel_size, stride, padding, dilation, transposed, "
    f"output_padding, groups, bias, padding_mode, {FACTORY}"
)


def _conv_nd(a: A) -> LayerBuild:
    # the private base takes normalised tuples and `transposed` directly
    rank = len(a["kernel_size"]) if isinstance(a["kernel_size"], (tuple, list)) else None
    if rank is None:
        raise Unresolvable("the kernel_size of _ConvNd is unknown")
    return _conv(rank, flag(a, "transposed"))(a)


# ---------------------------------------------------------------- embeddings


def _padding_idx(a: A) -> Any:
    idx, num = a["padding_idx"], a["num_embeddings"]
    if isinstance(idx, int) and not isinstance(idx, bool) and idx < 0:
        if is_unknown(num):
            return Unknown("padding_idx counts from the unknown num_embeddings")
        return num + idx
    return idx


def _embedding_weight(a: A) -> TensorDecl:
    shape = (dim(a["num_embeddings"]), dim(a["embedding_dim"]))
    given = a["_weight"]
    if given is None:
        return param("weight", shape, dtype_of(a))
    if isinstance(given, TensorValue):
        # torch asserts the given weight has the shape (num_embeddings, embedding_dim)
        if given.shape is not None and len(given.shape) == 2:
            shape = tuple(
                s if s is not None else g for s, g in zip(shape, given.shape, strict=True)
            )  # type: ignore[assignment]
        return param("weight", shape, given.dtype)
    return param("weight", shape, UNKNOWN_DTYPE)


def _embedding(bag: bool) -> Any:
    stored: tuple[str, ...] = (
        "num_embeddings",
        "embedding_dim",
        "max_norm",
        "norm_type",
        "scale_grad_by_freq",
        "sparse",
    )
    if bag:
        stored += ("mode", "include_last_offset")

    def build(a: A) -> LayerBuild:
        attributes = {k: a[k] for k in stored}
        attributes["padding_idx"] = _padding_idx(a)
        return LayerBuild([_embedding_weight(a)], attributes=attributes)

    return build


# ---------------------------------------------------------------- normalization

_NORM_ATTRS = ("num_features", "eps", "momentum", "affine", "track_running_stats")


def _norm(lazy: bool = False) -> Any:
    def build(a: A) -> LayerBuild:
        num = None if lazy else dim(a["num_features"])
        dt = dtype_of(a)
        parameters: list[TensorDecl] = []
        buffers: list[TensorDecl] = []
        if flag(a, "affine"):
            parameters = [param("weight", (num,), dt), *_bias(a, "bias", (num,), dt)]
        if flag(a, "track_running_stats"):
            buffers = [
                buffer("running_mean", (num,), dt),
                buffer("running_var", (num,), dt),
                buffer("num_batches_tracked", (), "int64"),
            ]
        attributes = {k: a[k] for k in _NORM_ATTRS if k in a}
        if lazy:
            attributes["num_features"] = 0
        return LayerBuild(parameters, buffers, attributes=attributes)

    return build


def _normalized_shape(value: Any) -> tuple[Any, Any]:
    """(the shape of the affine tensors, the `normalized_shape` attribute)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,), (value,)
    if isinstance(value, (tuple, list)):
        return dims(value), tuple(value)
    if is_unknown(value):  # an int or a sequence: the rank is unknown
        return None, value
    return None, Unknown("normalized_shape is not an int or a sequence")


def _layer_norm(a: A) -> LayerBuild:
    shape, attr = _normalized_shape(a["normalized_shape"])
    dt = dtype_of(a)
    parameters: list[TensorDecl] = []
    if flag(a, "elementwise_affine"):
        parameters = [param("weight", shape, dt), *_bias(a, "bias", shape, dt)]
    return LayerBuild(
        parameters,
        attributes={
            "normalized_shape": attr,
            "eps": a["eps"],
            "elementwise_affine": a["elementwise_affine"],
        },
    )


def _rms_norm(a: A) -> LayerBuild:
    shape, attr = _normalized_shape(a["normalized_shape"])
    parameters = [param("weight", shape, dtype_of(a))] if flag(a, "elementwise_affine") else []
    return LayerBuild(
        parameters,
        attributes={
            "normalized_shape": attr,
            "eps": a["eps"],
            "elementwise_affine": a["elementwise_affine"],
        },
    )


def _group_norm(a: A) -> LayerBuild:
    channels, dt = dim(a["num_channels"]), dtype_of(a)
    parameters: list[TensorDecl] = []
    if flag(a, "affine"):
        parameters = [param("weight", (channels,), dt), *_bias(a, "bias", (channels,), dt)]
    return LayerBuild(
        parameters, attributes={k: a[k] for k in ("num_groups", "num_channels", "eps", "affine")}
    )


def _prelu(a: A) -> LayerBuild:
    return LayerBuild(
        [param("weight", (dim(a["num_parameters"]),), dtype_of(a))],
        attributes={"num_parameters": a["num_parameters"], "init": a["init"]},
    )


# ---------------------------------------------------------------- adaptive softmax


def _adaptive_log_softmax(a: A) -> LayerBuild:
    cutoffs = a["cutoffs"]
    if is_unknown(cutoffs) or not isinstance(cutoffs, (list, tuple)):
        raise Unresolvable("the cutoffs of AdaptiveLogSoftmaxWithLoss are unknown")
    in_features, n_classes, div = a["in_features"], a["n_classes"], a["div_value"]
    all_cutoffs = [*cutoffs, n_classes]
    clusters = len(all_cutoffs) - 1
    shortlist = all_cutoffs[0]
    head_size = shortlist + clusters if dim(shortlist) is not None else Unknown("head_size")
    factory = {"device": a["device"], "dtype": a["dtype"]}
    head = child(
        "head",
        "torch.nn.Linear",
        in_features=in_features,
        out_features=head_size,
        bias=a["head_bias"],
        **factory,
    )
    tails = []
    for i in range(clusters):
        hsz: Any = Unknown("hidden size of an adaptive softmax cluster")
        if dim(in_features) is not None and isinstance(div, (int, float)) and not is_unknown(div):
            hsz = int(in_features // (div ** (i + 1)))
        osz: Any = sub(all_cutoffs[i + 1], all_cutoffs[i])
        osz = Unknown("size of an adaptive softmax cluster") if osz is None else osz
        first = child(
            "", "torch.nn.Linear", in_features=in_features, out_features=hsz, bias=False, **factory
        )
        second = child(
            "", "torch.nn.Linear", in_features=hsz, out_features=osz, bias=False, **factory
        )
        tails.append(child("", "torch.nn.Sequential", first, second))
    attributes = {
        "in_features": in_features,
        "n_classes": n_classes,
        "cutoffs": all_cutoffs,
        "div_value": div,
        "head_bias": a["head_bias"],
        "shortlist_size": shortlist,
        "n_clusters": clusters,
        "head_size": head_size,
    }
    return LayerBuild(
        children=[head, child("tail", "torch.nn.ModuleList", modules=tails)], attributes=attributes
    )


# ---------------------------------------------------------------- losses and tensor arguments


def tensor_buffer(a: A, name: str) -> list[TensorDecl]:
    """`self.register_buffer(name, <the argument>)`: a buffer when the argument is a tensor."""
    if not is_given(a, name):
        return []
    value = a[name]
    if isinstance(value, TensorValue):
        return [buffer(name, value.shape, value.dtype)]
    raise Unresolvable(f"the argument {name!r} is not a tensor we know")


def _weighted_loss(stored: tuple[str, ...], tensors: tuple[str, ...] = ("weight",)) -> Any:
    def build(a: A) -> LayerBuild:
        buffers = [decl for name in tensors for decl in tensor_buffer(a, name)]
        attributes = {"reduction": reduction(a), **{k: a[k] for k in stored}}
        return LayerBuild(buffers=buffers, attributes=attributes)

    return build


def _linear_cross_entropy(a: A) -> LayerBuild:
    out_features = a["out_features"]
    if isinstance(out_features, (tuple, list)):
        outputs: Any = (
            math.prod([a["num_classes"], *out_features])
            if all(dim(v) is not None for v in (a["num_classes"], *out_features))
            else Unknown("num_classes * prod(out_features)")
        )
    else:
        outputs = Unknown("out_features of LinearCrossEntropyLoss")
    linear = child(
        "linear",
        "torch.nn.Linear",
        in_features=a["in_features"],
        out_features=outputs,
        bias=a["bias"],
        device=a["device"],
        dtype=a["dtype"],
    )
    attributes = {
        k: a[k]
        for k in (
            "num_classes",
            "out_features",
            "ignore_index",
            "label_smoothing",
            "reduction",
            "options",
        )
    }
    return LayerBuild(buffers=tensor_buffer(a, "weight"), children=[linear], attributes=attributes)


def _fractional_max_pool(n: int) -> Any:
    def build(a: A) -> LayerBuild:
        size, ratio = a["output_size"], a["output_ratio"]
        attributes = {
            "kernel_size": ntuple(a["kernel_size"], n),
            "return_indices": a["return_indices"],
            "output_size": ntuple(size, n) if size is not None else None,
            "output_ratio": ntuple(ratio, n) if ratio is not None else None,
        }
        return LayerBuild(buffers=tensor_buffer(a, "_random_samples"), attributes=attributes)

    return build


# ---------------------------------------------------------------- containers and wrappers


def _elements(values: Any, what: str) -> list[ChildLayer]:
    """The elements of a container the catalog builds itself (all ChildLayers)."""
    if is_unknown(values) or not isinstance(values, (list, tuple)):
        raise Unresolvable(f"the {what} are unknown")
    for value in values:
        if not isinstance(value, ChildLayer):
            raise Unresolvable(
                f"the {what} are runtime modules (the interpreter's containers hold them)"
            )
    return list(values)


def _sequential(a: A) -> LayerBuild:
    items = _elements(a["args"], "modules of a Sequential")
    return LayerBuild(
        children=[ChildLayer(str(i), c.qualname, c.args) for i, c in enumerate(items)]
    )


def _module_list(a: A) -> LayerBuild:
    items = _elements(a["modules"] if a["modules"] is not None else [], "modules of a ModuleList")
    return LayerBuild(
        children=[ChildLayer(str(i), c.qualname, c.args) for i, c in enumerate(items)]
    )


def _module_dict(a: A) -> LayerBuild:
    modules = a["modules"] if a["modules"] is not None else {}
    if not isinstance(modules, dict):
        raise Unresolvable("the modules of a ModuleDict are unknown")
    items = _elements(list(modules.values()), "modules of a ModuleDict")
    return LayerBuild(
        children=[
            ChildLayer(str(k), c.qualname, c.args) for k, c in zip(modules, items, strict=True)
        ]
    )


def _parameter_decl(name: str, value: Any) -> TensorDecl:
    if isinstance(value, TensorValue):
        return param(name, value.shape, value.dtype)
    raise Unresolvable(f"the entry {name!r} is not a tensor we know")


def _parameter_list(a: A) -> LayerBuild:
    values = a["values"] if a["values"] is not None else []
    if is_unknown(values) or not isinstance(values, (list, tuple)):
        raise Unresolvable("the values of a ParameterList are unknown")
    return LayerBuild([_parameter_decl(str(i), v) for i, v in enumerate(values)])


def _parameter_dict(a: A) -> LayerBuild:
    values = a["parameters"] if a["parameters"] is not None else {}
    if not isinstance(values, dict):
        raise Unresolvable("the parameters of a ParameterDict are unknown")
    # a plain mapping is added in sorted key order (an OrderedDict would keep its own)
    return LayerBuild([_parameter_decl(k, values[k]) for k in sorted(values)])


def _wrapper(a: A) -> LayerBuild:
    return LayerBuild(children=module_arg("module", a["module"], "module"))


def _container(a: A) -> LayerBuild:
    if a["kwargs"]:
        raise Unresolvable("the modules of a deprecated nn.Container are not modelled")
    return LayerBuild()


# ---------------------------------------------------------------- the rows

_NORM_SIG = f"num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, {FACTORY}, *, bias=True"
_INSTANCE_SIG = f"num_features, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False, {FACTORY}, *, bias=True"
_LAZY_NORM_SIG = (
    f"eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, {FACTORY}, *, bias=True"
)
_RNN_BASE_SIG = f"mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, {FACTORY}"
_LAYER_SIG = f"d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu, layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True, {FACTORY}"
_DDP_SIG = (
    "module, device_ids=None, output_device=None, dim=0, broadcast_buffers=None, init_sync=True, "
    "process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False, "
    "gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None, "
    "param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None, "
    "skip_all_reduce_unused_params=False, bucket_cap_mb_list=None, batched_grad_copy=False, "
    "forward_sync_buffers=None"
)
_WEIGHTED = "weight=None, size_average=None, reduce=None, reduction='mean'"

ROWS: tuple[Row, ...] = (
    # linear
    row("linear", "Identity", "*args, **kwargs", nothing),
    row("linear", "Linear", f"in_features, out_features, bias=True, {FACTORY}", _linear),
    row("linear", "NonDynamicallyQuantizableLinear", f"in_features, out_features, bias=True, {FACTORY}", _linear, public=False,
        aliases=("torch.nn.modules.activation.NonDynamicallyQuantizableLinear",)),
    row("linear", "LazyLinear", f"out_features, bias=True, {FACTORY}", _lazy_linear),
    row("linear", "Bilinear", f"in1_features, in2_features, out_features, bias=True, {FACTORY}", _bilinear),
    # eager-mode quantization helpers before `prepare`/`convert`: no tensors of their own
    row("torch.ao.nn.quantized.modules.functional_modules", "FloatFunctional", "", nothing, public=False,
        aliases=("torch.ao.nn.quantized.FloatFunctional", "torch.nn.quantized.FloatFunctional",
                 "torch.nn.quantized.modules.FloatFunctional", "torch.ao.nn.quantized.modules.FloatFunctional")),
    row("torch.ao.quantization.stubs", "QuantStub", "qconfig=None", nothing, public=False,
        aliases=("torch.ao.quantization.QuantStub", "torch.quantization.QuantStub", "torch.quantization.stubs.QuantStub")),
    row("torch.ao.quantization.stubs", "DeQuantStub", "qconfig=None", nothing, public=False,
        aliases=("torch.ao.quantization.DeQuantStub", "torch.quantization.DeQuantStub", "torch.quantization.stubs.DeQuantStub")),
    # convolution
    row("conv", "Conv1d", _CONV_SIG, _conv(1, False)),
    row("conv", "Conv2d", _CONV_SIG, _conv(2, False)),
    row("conv", "Conv3d", _CONV_SIG, _conv(3, False)),
    row("conv", "ConvTranspose1d", _CONV_T_SIG, _conv(1, True)),
    row("conv", "ConvTranspose2d", _CONV_T_SIG, _conv(2, True)),
    row("conv", "ConvTranspose3d", _CONV_T_SIG, _conv(3, True)),
    row("conv", "LazyConv1d", _LAZY_CONV_SIG, _conv(1, False, lazy=True)),
    row("conv", "LazyConv2d", _LAZY_CONV_SIG, _conv(2, False, lazy=True)),
    row("conv", "LazyConv3d", _LAZY_CONV_SIG, _conv(3, False, lazy=True)),
    row("conv", "LazyConvTranspose1d", _LAZY_CONV_T_SIG, _conv(1, True, lazy=True)),
    row("conv", "LazyConvTranspose2d", _LAZY_CONV_T_SIG, _conv(2, True, lazy=True)),
    row("conv", "LazyConvTranspose3d", _LAZY_CONV_T_SIG, _conv(3, True, lazy=True)),
    row("conv", "_ConvNd", _CONV_ND_SIG, _conv_nd, public=False),
    row("conv", "_ConvTransposeNd", _CONV_ND_SIG, _conv_nd, public=False),
    # embeddings
    row("sparse", "Embedding", f"num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, {FACTORY}", _embedding(False)),
    row("sparse", "EmbeddingBag", f"num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, mode='mean', sparse=False, _weight=None, include_last_offset=False, padding_idx=None, {FACTORY}", _embedding(True)),
    # normalization
    row("batchnorm", "BatchNorm1d", _NORM_SIG, _norm()),
    row("batchnorm", "BatchNorm2d", _NORM_SIG, _norm()),
    row("batchnorm", "BatchNorm3d", _NORM_SIG, _norm()),
    row("batchnorm", "LazyBatchNorm1d", _LAZY_NORM_SIG, _norm(lazy=True)),
    row("batchnorm", "LazyBatchNorm2d", _LAZY_NORM_SIG, _norm(lazy=True)),
    row("batchnorm", "LazyBatchNorm3d", _LAZY_NORM_SIG, _norm(lazy=True)),
    row("batchnorm", "SyncBatchNorm", f"num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, process_group=None, {FACTORY}, *, bias=True", _norm()),
    row("batchnorm", "_NormBase", _NORM_SIG, _norm(), public=False),
    row("batchnorm", "_BatchNorm", _NORM_SIG, _norm(), public=False),
    row("instancenorm", "InstanceNorm1d", _INSTANCE_SIG, _norm()),
    row("instancenorm", "InstanceNorm2d", _INSTANCE_SIG, _norm()),
    row("instancenorm", "InstanceNorm3d", _INSTANCE_SIG, _norm()),
    row("instancenorm", "LazyInstanceNorm1d", _LAZY_NORM_SIG, _norm(lazy=True)),
    row("instancenorm", "LazyInstanceNorm2d", _LAZY_NORM_SIG, _norm(lazy=True)),
    row("instancenorm", "LazyInstanceNorm3d", _LAZY_NORM_SIG, _norm(lazy=True)),
    row("instancenorm", "_InstanceNorm", _INSTANCE_SIG, _norm(), public=False),
    row("normalization", "LayerNorm", f"normalized_shape, eps=1e-05, elementwise_affine=True, bias=True, {FACTORY}", _layer_norm),
    row("normalization", "RMSNorm", f"normalized_shape, eps=None, elementwise_affine=True, {FACTORY}", _rms_norm),
    row("normalization", "GroupNorm", f"num_groups, num_channels, eps=1e-05, affine=True, {FACTORY}, *, bias=True", _group_norm),
    row("activation", "PReLU", f"num_parameters=1, init=0.25, {FACTORY}", _prelu),
    # recurrent
    row("rnn", "RNNBase", _RNN_BASE_SIG, rnn(None)),
    row("rnn", "RNN", f"input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False, {FACTORY}", rnn(None)),
    row("rnn", "LSTM", f"input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, {FACTORY}", rnn("LSTM")),
    row("rnn", "GRU", f"input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, {FACTORY}", rnn("GRU")),
    row("rnn", "RNNCellBase", f"input_size, hidden_size, bias, num_chunks, {FACTORY}", rnn_cell(None)),
    row("rnn", "RNNCell", f"input_size, hidden_size, bias=True, nonlinearity='tanh', {FACTORY}", rnn_cell(1)),
    row("rnn", "LSTMCell", f"input_size, hidden_size, bias=True, {FACTORY}", rnn_cell(4)),
    row("rnn", "GRUCell", f"input_size, hidden_size, bias=True, {FACTORY}", rnn_cell(3)),
    # attention and transformers
    row("activation", "MultiheadAttention", f"embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False, {FACTORY}", multihead_attention),
    row("transformer", "TransformerEncoderLayer", _LAYER_SIG, transformer_layer(False)),
    row("transformer", "TransformerDecoderLayer", _LAYER_SIG, transformer_layer(True)),
    row("transformer", "TransformerEncoder", "encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True", transformer_stack("encoder_layer", ("enable_nested_tensor", "mask_check"))),
    row("transformer", "TransformerDecoder", "decoder_layer, num_layers, norm=None", transformer_stack("decoder_layer", ())),
    row("transformer", "Transformer", f"d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True, {FACTORY}", transformer),
    row("adaptive", "AdaptiveLogSoftmaxWithLoss", f"in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, {FACTORY}", _adaptive_log_softmax),
    # losses whose tensor arguments become buffers
    row("loss", "_WeightedLoss", _WEIGHTED, _weighted_loss(()), public=False),
    row("loss", "NLLLoss", "weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'", _weighted_loss(("ignore_index",))),
    row("loss", "NLLLoss2d", "weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'", _weighted_loss(("ignore_index",))),
    row("loss", "CrossEntropyLoss", "weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean', label_smoothing=0.0", _weighted_loss(("ignore_index", "label_smoothing"))),
    row("loss", "BCELoss", _WEIGHTED, _weighted_loss(())),
    row("loss", "BCEWithLogitsLoss", "weight=None, size_average=None, reduce=None, reduction='mean', pos_weight=None", _weighted_loss((), ("weight", "pos_weight"))),
    row("loss", "MultiLabelSoftMarginLoss", _WEIGHTED, _weighted_loss(())),
    row("loss", "MultiMarginLoss", "p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction='mean'", _weighted_loss(("p", "margin"))),
    row("loss", "LinearCrossEntropyLoss", f"in_features, num_classes, *, out_features=(), bias=False, {FACTORY}, reduction='mean', weight=None, ignore_index=None, label_smoothing=0.0, options=None", _linear_cross_entropy),
    row("pooling", "FractionalMaxPool2d", "kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None", _fractional_max_pool(2)),
    row("pooling", "FractionalMaxPool3d", "kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None", _fractional_max_pool(3)),
    # containers: user code builds them through the interpreter; these builds serve rows that
    # assemble their own (Transformer, AdaptiveLogSoftmaxWithLoss)
    row("container", "Sequential", "*args", _sequential, is_container=True),
    row("container", "ModuleList", "modules=None", _module_list, is_container=True),
    row("container", "ModuleDict", "modules=None", _module_dict, is_container=True),
    row("container", "ParameterList", "values=None", _parameter_list, is_container=True),
    row("container", "ParameterDict", "parameters=None", _parameter_dict, is_container=True),
    row("container", "Container", "**kwargs", _container),
    row("module", "Module", "*args, **kwargs", nothing),
    # wrappers
    row("torch.nn.parallel.data_parallel", "DataParallel", "module, device_ids=None, output_device=None, dim=0", _wrapper,
        aliases=("torch.nn.parallel.DataParallel",)),
    row("torch.nn.parallel.distributed", "DistributedDataParallel", _DDP_SIG, _wrapper, public=False,
        aliases=("torch.nn.parallel.DistributedDataParallel",)),
)  # fmt: skip
