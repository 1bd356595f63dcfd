"""Catalog rows for parameterless torch.nn layers (torch 2.13.0): activations, pooling,
padding, dropout, shape ops, losses without tensor arguments. They own no tensors but occupy
an index in a Sequential, and code may read their attributes back.

Each entry: (defining module, class, signature, attributes). `attributes` names the arguments
torch stores unchanged under the same name ("*" = every named parameter), or is a function of
the bound arguments for layers that normalise them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ckptlens.engine.catalog_base import LayerBuild, Row, ntuple, reduction, row, signature

A = dict[str, Any]
Attrs = str | Callable[[A], dict[str, Any]]

_LEGACY = "size_average=None, reduce=None, reduction='mean'"


def _stride_default(a: A) -> Any:
    return a["stride"] if a["stride"] is not None else a["kernel_size"]


def _pool(keep: str) -> Callable[[A], dict[str, Any]]:
    """MaxPoolNd, AvgPool2d/3d: `stride` defaults to `kernel_size`."""

    def attrs(a: A) -> dict[str, Any]:
        return {**{k: a[k] for k in keep.split()}, "stride": _stride_default(a)}

    return attrs


def _pool_ntuple(n: int, keep: str) -> Callable[[A], dict[str, Any]]:
    """AvgPool1d, MaxUnpoolNd: kernel_size, stride and padding as n-tuples."""

    def attrs(a: A) -> dict[str, Any]:
        return {
            "kernel_size": ntuple(a["kernel_size"], n),
            "stride": ntuple(_stride_default(a), n),
            "padding": ntuple(a["padding"], n),
            **{k: a[k] for k in keep.split()},
        }

    return attrs


def _pad(n: int, keep: str = "") -> Callable[[A], dict[str, Any]]:
    def attrs(a: A) -> dict[str, Any]:
        return {"padding": ntuple(a["padding"], 2 * n), **{k: a[k] for k in keep.split()}}

    return attrs


def _loss(keep: str = "") -> Callable[[A], dict[str, Any]]:
    def attrs(a: A) -> dict[str, Any]:
        return {"reduction": reduction(a), **{k: a[k] for k in keep.split()}}

    return attrs


def _hardtanh(a: A) -> dict[str, Any]:
    return {
        "min_val": a["min_value"] if a["min_value"] is not None else a["min_val"],
        "max_val": a["max_value"] if a["max_value"] is not None else a["max_val"],
        "inplace": a["inplace"],
    }


def _upsample(a: A) -> dict[str, Any]:
    scale = a["scale_factor"]
    if isinstance(scale, tuple):
        scale = tuple(float(f) if isinstance(f, (int, float)) else f for f in scale)
    elif isinstance(scale, (int, float)):
        scale = float(scale) if scale else None
    return {
        "size": a["size"],
        "scale_factor": scale,
        **{k: a[k] for k in ("mode", "align_corners", "recompute_scale_factor") if k in a},
    }


def _pairwise(a: A) -> dict[str, Any]:
    return {"norm": a["p"], "eps": a["eps"], "keepdim": a["keepdim"]}


_INPLACE = "inplace=False"
_POOL_ND = "kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False"
_AVG_POOL = "kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None"
_LP_POOL = "norm_type, kernel_size, stride=None, ceil_mode=False"
_UNPOOL = "kernel_size, stride=None, padding=0"
_FOLD = "kernel_size, dilation=1, padding=0, stride=1"

_TABLE: tuple[tuple[str, str, str, Attrs], ...] = (
    # activations
    *(("activation", name, _INPLACE, "*") for name in ("ReLU", "ReLU6", "SELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid")),
    *(("activation", name, "*args, **kwargs", "") for name in ("Sigmoid", "Tanh", "LogSigmoid", "Softsign", "Tanhshrink", "Softmax2d")),
    ("activation", "ELU", "alpha=1.0, inplace=False", "*"),
    ("activation", "CELU", "alpha=1.0, inplace=False", "*"),
    ("activation", "LeakyReLU", "negative_slope=0.01, inplace=False", "*"),
    ("activation", "RReLU", "lower=0.125, upper=0.3333333333333333, inplace=False", "*"),
    ("activation", "GELU", "approximate='none'", "*"),
    ("activation", "GLU", "dim=-1", "*"),
    ("activation", "Hardshrink", "lambd=0.5", "*"),
    ("activation", "Softshrink", "lambd=0.5", "*"),
    ("activation", "Hardtanh", "min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None", _hardtanh),
    ("activation", "Softplus", "beta=1.0, threshold=20.0", "*"),
    ("activation", "Threshold", "threshold, value, inplace=False", "*"),
    ("activation", "Softmax", "dim=None", "*"),
    ("activation", "Softmin", "dim=None", "*"),
    ("activation", "LogSoftmax", "dim=None", "*"),
    # dropout
    *(("dropout", name, "p=0.5, inplace=False", "*") for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")),
    # pooling
    *(("pooling", f"MaxPool{n}d", _POOL_ND, _pool("kernel_size padding dilation return_indices ceil_mode")) for n in (1, 2, 3)),
    ("pooling", "AvgPool1d", "kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True", _pool_ntuple(1, "ceil_mode count_include_pad")),
    *(("pooling", f"AvgPool{n}d", _AVG_POOL, _pool("kernel_size padding ceil_mode count_include_pad divisor_override")) for n in (2, 3)),
    *(("pooling", f"MaxUnpool{n}d", _UNPOOL, _pool_ntuple(n, "")) for n in (1, 2, 3)),
    *(("pooling", f"LPPool{n}d", _LP_POOL, "*") for n in (1, 2, 3)),
    *(("pooling", f"AdaptiveMaxPool{n}d", "output_size, return_indices=False", "*") for n in (1, 2, 3)),
    *(("pooling", f"AdaptiveAvgPool{n}d", "output_size", "*") for n in (1, 2, 3)),
    # padding
    *(("padding", f"{kind}Pad{n}d", "padding", _pad(n)) for kind in ("Reflection", "Replication", "Zero", "Circular") for n in (1, 2, 3)),
    *(("padding", f"ConstantPad{n}d", "padding, value", _pad(n, "value")) for n in (1, 2, 3)),
    # normalization without tensors
    ("normalization", "LocalResponseNorm", "size, alpha=0.0001, beta=0.75, k=1.0", "*"),
    ("normalization", "CrossMapLRN2d", "size, alpha=0.0001, beta=0.75, k=1", "*"),
    # shape and resampling
    ("flatten", "Flatten", "start_dim=1, end_dim=-1", "*"),
    ("flatten", "Unflatten", "dim, unflattened_size", "*"),
    ("fold", "Fold", f"output_size, {_FOLD}", "*"),
    ("fold", "Unfold", _FOLD, "*"),
    ("pixelshuffle", "PixelShuffle", "upscale_factor", "*"),
    ("pixelshuffle", "PixelUnshuffle", "downscale_factor", "*"),
    ("channelshuffle", "ChannelShuffle", "groups", "*"),
    ("upsampling", "Upsample", "size=None, scale_factor=None, mode='nearest', align_corners=None, recompute_scale_factor=None", _upsample),
    ("upsampling", "UpsamplingNearest2d", "size=None, scale_factor=None", _upsample),
    ("upsampling", "UpsamplingBilinear2d", "size=None, scale_factor=None", _upsample),
    # distances
    ("distance", "CosineSimilarity", "dim=1, eps=1e-08", "*"),
    ("distance", "PairwiseDistance", "p=2.0, eps=1e-06, keepdim=False", _pairwise),
    # losses without tensor arguments
    # private bases with constructors of their own (user layers subclass them)
    ("dropout", "_DropoutNd", "p=0.5, inplace=False", "*"),
    ("pooling", "_MaxPoolNd", _POOL_ND, _pool("kernel_size padding dilation return_indices ceil_mode")),
    ("pooling", "_LPPoolNd", _LP_POOL, "*"),
    ("pooling", "_AdaptiveMaxPoolNd", "output_size, return_indices=False", "*"),
    ("pooling", "_AdaptiveAvgPoolNd", "output_size", "*"),
    ("padding", "_ConstantPadNd", "value", "*"),
    ("loss", "_Loss", _LEGACY, _loss()),
    ("loss", "L1Loss", _LEGACY, _loss()),
    ("loss", "MSELoss", _LEGACY, _loss()),
    ("loss", "SoftMarginLoss", _LEGACY, _loss()),
    ("loss", "MultiLabelMarginLoss", _LEGACY, _loss()),
    ("loss", "KLDivLoss", f"{_LEGACY}, log_target=False", _loss("log_target")),
    ("loss", "SmoothL1Loss", f"{_LEGACY}, beta=1.0", _loss("beta")),
    ("loss", "HuberLoss", "reduction='mean', delta=1.0", _loss("delta")),
    ("loss", "HingeEmbeddingLoss", f"margin=1.0, {_LEGACY}", _loss("margin")),
    ("loss", "CosineEmbeddingLoss", f"margin=0.0, {_LEGACY}", _loss("margin")),
    ("loss", "MarginRankingLoss", f"margin=0.0, {_LEGACY}", _loss("margin")),
    ("loss", "PoissonNLLLoss", "log_input=True, full=False, size_average=None, eps=1e-08, reduce=None, reduction='mean'", _loss("log_input full eps")),
    ("loss", "GaussianNLLLoss", "*, full=False, eps=1e-06, reduction='mean'", _loss("full eps")),
    ("loss", "TripletMarginLoss", f"margin=1.0, p=2.0, eps=1e-06, swap=False, {_LEGACY}", _loss("margin p eps swap")),
    ("loss", "TripletMarginWithDistanceLoss", "*, distance_function=None, margin=1.0, swap=False, reduction='mean'", _loss("margin swap")),
    ("loss", "CTCLoss", "blank=0, reduction='mean', zero_infinity=False", _loss("blank zero_infinity")),
)  # fmt: skip


def _builder(sig: str, attributes: Attrs) -> Callable[[A], LayerBuild]:
    if callable(attributes):
        make = attributes
        return lambda a: LayerBuild(attributes=make(a))
    if attributes == "*":
        names = [
            p.name for p in signature(sig) if p.kind in ("positional_or_keyword", "keyword_only")
        ]
    else:
        names = attributes.split()
    return lambda a: LayerBuild(attributes={k: a[k] for k in names})


ROWS: tuple[Row, ...] = tuple(
    row(module, name, sig, _builder(sig, attributes), public=not name.startswith("_"))
    for module, name, sig, attributes in _TABLE
)
