"""Catalog rows' builders for torch.nn's sequence layers: recurrent layers and cells, multi-head
attention, and the transformer layers, stacks and model (torch 2.13.0). The rows themselves are
in `catalog_layers`.

Each builder mirrors the layer's `__init__`, as in `catalog_layers`. Sources:
torch/nn/modules/rnn.py, activation.py (MultiheadAttention), transformer.py.
"""

from __future__ import annotations

from typing import Any

from ckptlens.engine.catalog_base import (
    A,
    Child,
    ChildFromArg,
    ChildLayer,
    LayerBuild,
    TensorDecl,
    child,
    count,
    dim,
    dtype_of,
    flag,
    floordiv,
    known,
    module_arg,
    mul,
    param,
)
from ckptlens.engine.values import Unresolvable, is_unknown


def _is_module_value(value: Any) -> bool:
    from ckptlens.engine.objects import ModuleValue

    return isinstance(value, ModuleValue)


# ---------------------------------------------------------------- recurrent

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_NONLINEARITY_MODE = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}


def _rnn_params(a: A, mode: Any) -> list[TensorDecl]:
    gate = mul(_GATES[mode], a["hidden_size"]) if mode in _GATES else None
    layers = count(a, "num_layers")
    directions = 2 if flag(a, "bidirectional") else 1
    bias = flag(a, "bias")
    proj = a.get("proj_size", 0)
    if is_unknown(proj):
        raise Unresolvable(f"whether the LSTM has projections is unknown ({proj.reason})")
    hidden = dim(a["hidden_size"])
    real_hidden = dim(proj) if proj > 0 else hidden
    dt = dtype_of(a)
    out: list[TensorDecl] = []
    for layer in range(layers):
        for direction in range(directions):
            layer_input = dim(a["input_size"]) if layer == 0 else mul(real_hidden, directions)
            sfx = f"l{layer}{'_reverse' if direction else ''}"
            out += [param(f"weight_ih_{sfx}", (gate, layer_input), dt)]
            out += [param(f"weight_hh_{sfx}", (gate, real_hidden), dt)]
            if bias:
                out += [param(f"bias_ih_{sfx}", (gate,), dt), param(f"bias_hh_{sfx}", (gate,), dt)]
            if proj > 0:
                out += [param(f"weight_hr_{sfx}", (dim(proj), hidden), dt)]
    return out


def _rnn_attrs(a: A, mode: Any) -> dict[str, Any]:
    dropout = a["dropout"]
    attributes = {
        "mode": mode,
        "input_size": a["input_size"],
        "hidden_size": a["hidden_size"],
        "num_layers": a["num_layers"],
        "bias": a["bias"],
        "batch_first": a["batch_first"],
        "dropout": float(dropout) if isinstance(dropout, (int, float)) else dropout,
        "bidirectional": a["bidirectional"],
        "proj_size": a.get("proj_size", 0),
    }
    if "nonlinearity" in a:
        attributes["nonlinearity"] = a["nonlinearity"]
    return attributes


def rnn(fixed_mode: str | None) -> Any:
    def build(a: A) -> LayerBuild:
        if fixed_mode is not None:
            mode: Any = fixed_mode
        elif "nonlinearity" in a:
            value = a["nonlinearity"]
            mode = _NONLINEARITY_MODE.get(value) if isinstance(value, str) else value
        else:
            mode = a["mode"]
        return LayerBuild(_rnn_params(a, mode), attributes=_rnn_attrs(a, mode))

    return build


def rnn_cell(chunks: int | None) -> Any:
    def build(a: A) -> LayerBuild:
        gate = mul(chunks if chunks is not None else a["num_chunks"], a["hidden_size"])
        dt = dtype_of(a)
        parameters = [
            param("weight_ih", (gate, dim(a["input_size"])), dt),
            param("weight_hh", (gate, dim(a["hidden_size"])), dt),
        ]
        if flag(a, "bias"):
            parameters += [param("bias_ih", (gate,), dt), param("bias_hh", (gate,), dt)]
        attributes = {k: a[k] for k in ("input_size", "hidden_size", "bias")}
        if "nonlinearity" in a:
            attributes["nonlinearity"] = a["nonlinearity"]
        return LayerBuild(parameters, attributes=attributes)

    return build


# ---------------------------------------------------------------- attention and transformers


def _same_dim(a: A, name: str) -> bool:
    value, embed = a[name], a["embed_dim"]
    if value is None:
        return True
    if is_unknown(value) or is_unknown(embed):
        raise Unresolvable(f"whether {name} equals embed_dim is unknown")
    return bool(value == embed)


def multihead_attention(a: A) -> LayerBuild:
    embed, dt = a["embed_dim"], dtype_of(a)
    e = dim(embed)
    kdim = embed if a["kdim"] is None else a["kdim"]
    vdim = embed if a["vdim"] is None else a["vdim"]
    same = _same_dim(a, "kdim") and _same_dim(a, "vdim")
    if same:
        parameters = [param("in_proj_weight", (mul(3, e), e), dt)]
    else:
        parameters = [
            param("q_proj_weight", (e, e), dt),
            param("k_proj_weight", (e, dim(kdim)), dt),
            param("v_proj_weight", (e, dim(vdim)), dt),
        ]
    bias = flag(a, "bias")
    if bias:
        parameters.append(param("in_proj_bias", (mul(3, e),), dt))
    add_bias_kv = flag(a, "add_bias_kv")
    if add_bias_kv:
        parameters += [param("bias_k", (1, 1, e), dt), param("bias_v", (1, 1, e), dt)]
    out_proj = child(
        "out_proj",
        "torch.nn.modules.linear.NonDynamicallyQuantizableLinear",
        in_features=embed,
        out_features=embed,
        bias=bias,
        device=a["device"],
        dtype=a["dtype"],
    )
    heads = a["num_heads"]
    attributes: dict[str, Any] = {
        "embed_dim": embed,
        "kdim": kdim,
        "vdim": vdim,
        "_qkv_same_embed_dim": same,
        "num_heads": heads,
        "dropout": a["dropout"],
        "batch_first": a["batch_first"],
        "head_dim": known(floordiv(embed, heads), "head_dim"),
        "add_zero_attn": a["add_zero_attn"],
    }
    if not add_bias_kv:
        attributes["bias_k"] = attributes["bias_v"] = None
    return LayerBuild(parameters, children=[out_proj], attributes=attributes)


def _activation_child(a: A) -> list[Child]:
    """torch assigns `self.activation = activation`: a child only when it is a module."""
    value = a["activation"]
    if isinstance(value, ChildLayer):
        return [ChildLayer("activation", value.qualname, value.args)]
    if is_unknown(value):
        # an unknown value that may be a module makes `activation` an unknown subtree
        return [ChildFromArg("activation", "activation")] if value.maybe_module else []
    if _is_module_value(value):
        return [ChildFromArg("activation", "activation")]
    return []  # a string or a function


def transformer_layer(decoder: bool) -> Any:
    def build(a: A) -> LayerBuild:
        d, ff, p, bias = a["d_model"], a["dim_feedforward"], a["dropout"], a["bias"]
        factory = {"device": a["device"], "dtype": a["dtype"]}
        attn = {"dropout": p, "bias": bias, "batch_first": a["batch_first"], **factory}
        norm = {"eps": a["layer_norm_eps"], "bias": bias, **factory}
        children: list[Child] = [
            child(
                "self_attn",
                "torch.nn.MultiheadAttention",
                embed_dim=d,
                num_heads=a["nhead"],
                **attn,
            )
        ]
        if decoder:
            children.append(
                child(
                    "multihead_attn",
                    "torch.nn.MultiheadAttention",
                    embed_dim=d,
                    num_heads=a["nhead"],
                    **attn,
                )
            )
        children += [
            child(
                "linear1", "torch.nn.Linear", in_features=d, out_features=ff, bias=bias, **factory
            ),
            child("dropout", "torch.nn.Dropout", p=p),
            child(
                "linear2", "torch.nn.Linear", in_features=ff, out_features=d, bias=bias, **factory
            ),
        ]
        norms = ("norm1", "norm2", "norm3") if decoder else ("norm1", "norm2")
        drops = ("dropout1", "dropout2", "dropout3") if decoder else ("dropout1", "dropout2")
        children += [child(n, "torch.nn.LayerNorm", normalized_shape=d, **norm) for n in norms]
        children += [child(n, "torch.nn.Dropout", p=p) for n in drops]
        children += _activation_child(a)
        return LayerBuild(children=children, attributes={"norm_first": a["norm_first"]})

    return build


def transformer_stack(layer_arg: str, extra_attrs: tuple[str, ...]) -> Any:
    def build(a: A) -> LayerBuild:
        layers = count(a, "num_layers")
        children = module_arg("layers", a[layer_arg], layer_arg, copies=layers)
        children += module_arg("norm", a["norm"], "norm")
        attributes = {"num_layers": a["num_layers"], **{k: a[k] for k in extra_attrs}}
        return LayerBuild(children=children, attributes=attributes)

    return build


_LAYER_ARGS = (
    "d_model",
    "nhead",
    "dim_feedforward",
    "dropout",
    "activation",
    "layer_norm_eps",
    "batch_first",
    "norm_first",
    "bias",
    "device",
    "dtype",
)


def transformer(a: A) -> LayerBuild:
    layer_args = {k: a[k] for k in _LAYER_ARGS}
    norm = child(
        "",
        "torch.nn.LayerNorm",
        normalized_shape=a["d_model"],
        eps=a["layer_norm_eps"],
        bias=a["bias"],
        device=a["device"],
        dtype=a["dtype"],
    )
    children: list[Child] = []
    for side, stack, layer, layers_arg, custom in (
        (
            "encoder",
            "torch.nn.TransformerEncoder",
            "torch.nn.TransformerEncoderLayer",
            "num_encoder_layers",
            "custom_encoder",
        ),
        (
            "decoder",
            "torch.nn.TransformerDecoder",
            "torch.nn.TransformerDecoderLayer",
            "num_decoder_layers",
            "custom_decoder",
        ),
    ):
        if a[custom] is not None:
            children += module_arg(side, a[custom], custom)
            continue
        layer_key = "encoder_layer" if side == "encoder" else "decoder_layer"
        built = child("", layer, **layer_args)
        children.append(
            child(side, stack, **{layer_key: built, "num_layers": a[layers_arg], "norm": norm})
        )
    return LayerBuild(
        children=children, attributes={k: a[k] for k in ("d_model", "nhead", "batch_first")}
    )
