"""Builders for comparison tests: synthetic predicted state_dicts and checkpoints, and a
hypothesis strategy for random models with random perturbations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import strategies as st

from ckptlens.checkpoint.index import TensorInfo
from ckptlens.engine.model import (
    ModuleInfo,
    PredictedStateDict,
    PredictedTensor,
    Shape,
    UnknownPart,
)
from ckptlens.findings import SourceRange

T = TypeVar("T")

FILE = "/abs/model.py"
CLASS_LINE = 3


def at(line: int, col: int = 8, width: int = 6) -> SourceRange:
    return SourceRange(FILE, line, col, line, col + width)


def _template(path: str) -> str:
    """Module paths that differ only in indices share a line (a ModuleList built in a loop)."""
    return ".".join("#" if part.isdigit() else part for part in path.split("."))


def build(
    spec: Iterable[tuple[str, Shape]],
    *,
    lines: Mapping[str, int] | None = None,
    unknown: Sequence[str] = (),
    open_parts: Sequence[str] = (),
    dtypes: Mapping[str, str] | None = None,
    buffers: Iterable[str] = (),
    base_model_prefixes: tuple[str, ...] = (),
    class_name: str = "Net",
) -> PredictedStateDict:
    """A predicted state_dict from (key, shape) pairs in order. Every module path gets a source
    line (from `lines`, else the next free one from 10 on; indices share their template's line);
    a tensor's origin is its owning module's line (the class line for root tensors, or `lines`
    given for the key itself)."""
    lines = dict(lines or {})
    dtypes = dict(dtypes or {})
    buffers = set(buffers)
    origin = at(CLASS_LINE, 6, 3)
    modules = {"": ModuleInfo("", class_name, origin)}
    tensors: dict[str, PredictedTensor] = {}
    assigned: dict[str, int] = {}
    next_line = [10]

    def line_of(path: str) -> int:
        template = _template(path)
        if path in lines:
            assigned.setdefault(template, lines[path])
            return lines[path]
        if template not in assigned:
            assigned[template] = next_line[0]
            next_line[0] += 1
        return assigned[template]

    for key, shape in spec:
        parts = key.split(".")
        for i in range(1, len(parts)):
            path = ".".join(parts[:i])
            if path not in modules:
                modules[path] = ModuleInfo(path, "torch.nn.Module", at(line_of(path)))
        owner = ".".join(parts[:-1])
        if key in lines:
            where = at(lines[key])
        elif owner:
            where = modules[owner].origin
        else:
            where = at(line_of(key))
        tensors[key] = PredictedTensor(
            key,
            shape,
            "buffer" if key in buffers else "parameter",
            where,
            dtypes.get(key, "float32"),
        )
    unknown_parts = tuple(
        UnknownPart(prefix, "could not resolve it", at(line_of(prefix) if prefix else CLASS_LINE))
        for prefix in unknown
    )
    open_parts_ = tuple(
        UnknownPart(
            prefix, "a call on it could not be followed", at(line_of(prefix) if prefix else CLASS_LINE)
        )
        for prefix in open_parts
    )
    return PredictedStateDict(
        class_name,
        origin,
        tensors,
        modules,
        unknown_parts,
        base_model_prefixes=base_model_prefixes,
        open=open_parts_,
    )


def ckpt(
    spec: Iterable[tuple[str, tuple[int, ...]]], dtype: str = "float32", device: str = "cpu"
) -> dict[str, TensorInfo]:
    return {key: TensorInfo(tuple(shape), dtype, device) for key, shape in spec}


def same(spec: Iterable[tuple[str, Shape]]) -> dict[str, TensorInfo]:
    """The checkpoint a model with fully known shapes would save."""
    out = {}
    for key, shape in spec:
        assert shape is not None and all(d is not None for d in shape)
        out[key] = TensorInfo(tuple(d for d in shape if d is not None), "float32")
    return out


def apply_mapping(
    mapping: Mapping[str, str], dropped: Iterable[str], tensors: Mapping[str, T]
) -> dict[str, T]:
    """SPEC: rename through `mapping` (others keep their name), discard `dropped`."""
    gone = set(dropped)
    out: dict[str, T] = {}
    for key, value in tensors.items():
        if key in gone:
            continue
        new = mapping.get(key, key)
        assert new not in out, f"two checkpoint keys land on {new}"
        out[new] = value
    return out


# -- random models and perturbations --------------------------------------------------------

_NAMES = ["encoder", "decoder", "fc1", "fc2", "head", "conv_a", "norm", "blocks", "embed", "proj"]
_NEW_NAMES = ["enc_new", "renamed", "trunk", "body2", "neck"]
_PREFIXES = ["", "module.", "_orig_mod.", "model.", "module._orig_mod.", "_fsdp_wrapped_module."]


@dataclass
class Scenario:
    model_spec: list[tuple[str, Shape]]
    checkpoint: dict[str, TensorInfo]
    unknown: list[str] = field(default_factory=list)
    perturbed: bool = False

    def predicted(self) -> PredictedStateDict:
        return build(self.model_spec, unknown=self.unknown)


dims = st.integers(min_value=1, max_value=6)


@st.composite
def leaf(draw: st.DrawFn) -> list[tuple[str, tuple[int, ...]]]:
    out = draw(dims)
    inp = draw(dims)
    tensors: list[tuple[str, tuple[int, ...]]] = [("weight", (out, inp))]
    if draw(st.booleans()):
        tensors.append(("bias", (out,)))
    return tensors


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=5, unique=True))
    spec: list[tuple[str, tuple[int, ...]]] = []
    for name in names:
        if draw(st.booleans()):
            for rel, shape in draw(leaf()):
                spec.append((f"{name}.{rel}", shape))
        else:
            for i in range(draw(st.integers(1, 3))):
                for rel, shape in draw(leaf()):
                    spec.append((f"{name}.{i}.{rel}", shape))
    if draw(st.booleans()):
        spec.append(("cls_token", (1, draw(dims))))

    unknown: list[str] = []
    if len(names) > 1 and draw(st.booleans()):
        unknown.append(names[-1])
    model_spec: list[tuple[str, Shape]] = []
    for key, shape in spec:
        if any(key.startswith(u + ".") for u in unknown):
            continue
        # Sometimes a dim the analysis could not know.
        if draw(st.integers(0, 9)) == 0:
            model_spec.append((key, (None,) + shape[1:]))
        elif draw(st.integers(0, 19)) == 0:
            model_spec.append((key, None))
        else:
            model_spec.append((key, shape))

    checkpoint = dict(spec)
    perturbed = False
    if draw(st.booleans()):  # rename a top-level module
        old = draw(st.sampled_from(names))
        new = draw(st.sampled_from(_NEW_NAMES))
        checkpoint = {
            (new + k[len(old) :] if k.startswith(old + ".") else k): v
            for k, v in checkpoint.items()
        }
        perturbed = True
    keys = list(checkpoint)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):  # drop
        del checkpoint[key]
        perturbed = True
    for i in range(draw(st.integers(0, 2))):  # add
        checkpoint[f"extra_{i}.weight"] = (draw(dims), draw(dims))
        perturbed = True
    reshape = draw(st.booleans())
    if checkpoint and reshape:
        key = draw(st.sampled_from(list(checkpoint)))
        shape = checkpoint[key]
        checkpoint[key] = (shape[0] + 7,) + shape[1:]
        perturbed = True
    prefix = draw(st.sampled_from(_PREFIXES))
    if prefix:
        perturbed = True
    elif draw(st.integers(0, 4)) == 0:  # the model wraps the module the checkpoint was saved from
        model_spec = [("model." + k, s) for k, s in model_spec]
        unknown = ["model." + u for u in unknown]
        perturbed = True
    tensors = {prefix + k: TensorInfo(tuple(v), "float32") for k, v in checkpoint.items()}
    return Scenario(model_spec, tensors, unknown, perturbed)


# SPEC section 1: every finding in `check --format json` has exactly these ten fields, in order.
SPEC_FINDING_FIELDS = [
    "code", "severity", "file", "line", "column", "message",
    "model_keys", "checkpoint_keys", "model_prefix", "checkpoint_prefix",
]
