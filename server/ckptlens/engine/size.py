"""A model's size from its predicted state_dict alone: parameter and buffer counts and bytes.

Counts follow torch: `parameters` is `sum(p.numel() for p in model.parameters())` (a tied
parameter counted once), `buffers` the persistent buffers (those in the state_dict), `bytes`
what the state_dict's distinct tensors take in their dtypes. A tensor whose shape is not fully
known, and every part of the model that could not be resolved (or may hold more than was
predicted), make the totals a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckptlens.checkpoint.dtypes import itemsize
from ckptlens.engine.model import PredictedStateDict

SHORT_DTYPE = {
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float64": "fp64",
    "float8_e4m3fn": "fp8",
    "float8_e5m2": "fp8",
}


@dataclass
class Totals:
    """Parameter and buffer counts and bytes of a model or a submodule."""

    parameters: int = 0
    buffers: int = 0
    bytes: int = 0
    lower_bound: bool = False
    unknown: list[str] = field(default_factory=list)  # why it is a lower bound, one line each
    dtypes: dict[str, int] = field(default_factory=dict)  # parameter elements by dtype

    def to_json(self) -> dict[str, Any]:
        """SPEC section 5: `{"parameters", "buffers", "bytes", "lower_bound"}`."""
        return {
            "parameters": self.parameters,
            "buffers": self.buffers,
            "bytes": self.bytes,
            "lower_bound": self.lower_bound,
        }

    @property
    def dtype_label(self) -> str:
        """`fp32`, `bf16`, ... when the parameters share one dtype, else `mixed`."""
        if not self.dtypes:
            return ""
        if len(self.dtypes) > 1:
            return "mixed"
        (dtype,) = self.dtypes
        return SHORT_DTYPE.get(dtype, dtype)


@dataclass
class ModelSize:
    """The totals of a model and of each top-level submodule."""

    total: Totals
    submodules: dict[str, Totals]  # by top-level attribute ("" for tensors on the root itself)


def _numel(shape: Any) -> int | None:
    if shape is None or any(d is None for d in shape):
        return None
    n = 1
    for d in shape:
        n *= d
    return n


def _top(key: str) -> str:
    return key.split(".", 1)[0] if "." in key else ""


def model_size(predicted: PredictedStateDict) -> ModelSize:
    total = Totals()
    submodules: dict[str, Totals] = {}
    tied = {k: v for k, v in predicted.tied.items() if v in predicted.tensors and k != v}
    for key, tensor in predicted.tensors.items():
        top = _top(key)
        part = submodules.setdefault(top, Totals())
        # a tied tensor counts once: overall, and in its submodule when its partner is there too
        if key not in tied:
            counted = [part, total]
        else:
            counted = [] if _top(tied[key]) == top else [part]
        n = _numel(tensor.shape)
        if n is None:
            for t in counted:
                t.lower_bound = True
            why = f"{key}: shape {_shape(tensor.shape)} not fully known"
            for t in counted:
                t.unknown.append(why)
            continue
        for t in counted:
            if tensor.kind == "parameter":
                t.parameters += n
                t.dtypes[tensor.dtype] = t.dtypes.get(tensor.dtype, 0) + n
            else:
                t.buffers += n
            t.bytes += n * itemsize(tensor.dtype)
    for unknown in (*predicted.unknown, *predicted.open):
        why = f"{unknown.prefix or '(whole model)'}: {unknown.reason}"
        total.lower_bound = True
        total.unknown.append(why)
        if unknown.prefix:
            top = unknown.prefix.split(".", 1)[0]
            parts = [submodules.setdefault(top, Totals())]
        else:
            parts = list(submodules.values())
        for part in parts:
            part.lower_bound = True
            part.unknown.append(why)
    return ModelSize(total, submodules)


def _shape(shape: Any) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
