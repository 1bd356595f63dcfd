"""Where the state_dict sits in a decoded checkpoint, and the rest of its record rendered as data.

A checkpoint is often a dict around the state_dict (`{"state_dict": ..., "optimizer": ...}`,
`{"model": {"state_dict": ...}}`, `{"model": ..., "ema": ...}`), sometimes a whole pickled
`nn.Module`. Candidates are found through known wrapper keys (and, failing those, any other
entry), scored by how many tensors they hold; EMA copies lose ties against the model itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ckptlens.checkpoint.dtypes import NUMPY_SCALAR
from ckptlens.checkpoint.index import CheckpointError, Opaque
from ckptlens.checkpoint.pickled import (
    NumpyArray,
    NumpyDType,
    OpaqueClass,
    OpaqueObject,
    StorageRef,
    TensorRef,
    TorchDevice,
    TorchDType,
    TorchEnum,
)

# Keys that wrap a model's weights, by how much they are preferred.
MODEL_KEYS = frozenset(
    """state_dict model model_state_dict module net network params weights model_state
    model_weights state_dict_model generator student backbone_state_dict""".split()
)
EMA_KEYS = frozenset(
    """ema model_ema state_dict_ema ema_state_dict ema_model shadow teacher g_ema averaged_model
    swa_model ema_params ema_weights model_ema_state_dict""".split()
)
# Entries that hold tensors but never the model: optimizer moments, scaler, training loops.
NOT_MODEL_KEYS = frozenset(
    """optimizer optimizers optimizer_states optimizer_state_dict optim opt lr_scheduler
    lr_schedulers scheduler schedulers scaler grad_scaler amp loops callbacks
    hyper_parameters hparams args config cfg rng_state rng_states""".split()
)
MAX_WRAPPER_DEPTH = 4
MAX_MODULE_DEPTH = 64
MAX_MODULE_VISITS = 200_000
SIMILAR = 0.9  # an EMA copy "ties" the model when the model has at least this share of its tensors


@dataclass(frozen=True)
class Candidate:
    path: tuple[str, ...]
    tensors: dict[str, TensorRef]
    known: bool  # reached through known wrapper keys only
    ema: bool
    module: str | None = None  # qualname when rebuilt from a pickled nn.Module


@dataclass(frozen=True)
class Selection:
    chosen: Candidate | None
    alternatives: tuple[Candidate, ...]
    skipped: int  # non-tensor values inside the chosen state_dict


def select_state_dict(root: Any) -> Selection:
    candidates = [c for c in _candidates(root, (), True, False, 0, set()) if c.tensors]
    if not candidates:
        return Selection(None, (), 0)
    best = max(c.tensors.__len__() for c in candidates)
    order = {id(c): i for i, c in enumerate(candidates)}

    def score(c: Candidate) -> tuple[bool, bool, bool, int, int, int]:
        similar = len(c.tensors) >= SIMILAR * best
        return (similar, not c.ema, c.known, len(c.tensors), -len(c.path), -order[id(c)])

    chosen = max(candidates, key=score)
    # A dict of 0-dim tensors only beside the weights is a counter (`step`), not a model.
    alternatives = tuple(c for c in candidates if c is not chosen and not _only_scalars(c))
    return Selection(chosen, alternatives, _non_tensors(root, chosen))


def _only_scalars(candidate: Candidate) -> bool:
    return all(not t.shape for t in candidate.tensors.values())


def _candidates(
    obj: Any, path: tuple[str, ...], known: bool, ema: bool, depth: int, seen: set[int]
) -> list[Candidate]:
    """Each dict is a candidate once, at the first path reaching it: a pickle that shares
    one dict under many keys at every level must not make this exponential."""
    found: list[Candidate] = []
    if id(obj) in seen:
        return found
    seen.add(id(obj))
    module = module_state(obj)
    if module is not None:
        found.append(Candidate(path, module_tensors(obj), known, ema, module))
        return found
    if not isinstance(obj, dict):
        return found
    found.append(
        Candidate(
            path,
            {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, TensorRef)},
            known,
            ema,
        )
    )
    if depth >= MAX_WRAPPER_DEPTH:
        return found
    for key, value in obj.items():
        if not isinstance(key, str) or not (
            isinstance(value, dict) or module_state(value) is not None
        ):
            continue
        name = key.lower()
        if name in NOT_MODEL_KEYS:
            continue
        is_ema = ema or name in EMA_KEYS
        is_known = known and (name in MODEL_KEYS or name in EMA_KEYS)
        found.extend(_candidates(value, (*path, key), is_known, is_ema, depth + 1, seen))
    return found


def _non_tensors(root: Any, chosen: Candidate) -> int:
    if chosen.module is not None:
        return 0
    obj = root
    for key in chosen.path:
        obj = obj[key]
    return sum(1 for v in obj.values() if not isinstance(v, TensorRef))


# --- pickled nn.Module ------------------------------------------------------------------------


def module_state(obj: Any) -> str | None:
    """The qualname of a pickled nn.Module (its `__dict__` holds `_parameters`/`_modules`)."""
    if isinstance(obj, OpaqueObject) and isinstance(obj.state, dict):
        if isinstance(obj.state.get("_parameters"), dict) and isinstance(
            obj.state.get("_modules"), dict
        ):
            return obj.qualname
    return None


def module_tensors(obj: OpaqueObject) -> dict[str, TensorRef]:
    """`module.state_dict()` as torch orders it: own parameters, persistent buffers, children.
    A shared submodule appears under each of its names, as in torch; a visit budget keeps a
    hostile module graph (shared children at every level) from exploding."""
    tensors: dict[str, TensorRef] = {}
    _collect_module(obj, "", tensors, 0, [MAX_MODULE_VISITS])
    return tensors


def _collect_module(
    obj: Any, prefix: str, out: dict[str, TensorRef], depth: int, budget: list[int]
) -> None:
    if depth > MAX_MODULE_DEPTH or module_state(obj) is None:
        return
    budget[0] -= 1
    if budget[0] < 0:
        raise CheckpointError(
            f"the pickled module tree has more than {MAX_MODULE_VISITS:,} submodules: refusing to go on"
        )
    state = obj.state
    hidden = state.get("_non_persistent_buffers_set")
    hidden = hidden if isinstance(hidden, (set, frozenset)) else set()
    for group in ("_parameters", "_buffers"):
        items = state.get(group)
        if not isinstance(items, dict):
            continue
        for name, value in items.items():
            if isinstance(name, str) and isinstance(value, TensorRef) and name not in hidden:
                out[prefix + name] = value
    children = state.get("_modules")
    for name, child in children.items() if isinstance(children, dict) else ():
        if isinstance(name, str):
            _collect_module(child, f"{prefix}{name}.", out, depth + 1, budget)


# --- the rest of the record ----------------------------------------------------------------


def entries(root: Any) -> tuple[str, ...]:
    if not isinstance(root, dict):
        return ()
    return tuple(key if isinstance(key, str) else repr(key) for key in root)


def versions(root: Any) -> dict[str, str]:
    """`{"pytorch-lightning_version": "2.6.6"}` -> `{"pytorch-lightning": "2.6.6"}`."""
    if not isinstance(root, dict):
        return {}
    return {
        key[: -len("_version")]: value
        for key, value in root.items()
        if isinstance(key, str) and key.endswith("_version") and isinstance(value, str)
    }


@dataclass(frozen=True)
class PlainLimits:
    max_depth: int = 16
    max_nodes: int = 10_000
    max_string: int = 10_000


class PlainRenderer:
    """Renders pickled data as plain JSON-able data (dicts, lists, scalars, strings, `Opaque`).

    Bounded whatever the input: depth and total values are capped, and a structure met again
    (shared by reference) is walked once and reused, while its expanded size still counts
    against the cap, so a pickle that shares one list a million times cannot blow up output."""

    def __init__(self, limits: PlainLimits = PlainLimits()) -> None:
        self.limits = limits
        self.nodes = 0
        self.truncated = False
        self._done: dict[int, tuple[Any, int]] = {}
        self._active: set[int] = set()

    def render(self, obj: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if obj is None or isinstance(obj, (bool, int, float)):
            return obj
        if isinstance(obj, str):
            return self._string(obj)
        if isinstance(obj, (dict, list, tuple, set, frozenset, OpaqueObject)):
            return self._shared(obj, depth)
        return _leaf(obj)

    def _string(self, text: str) -> str:
        if len(text) <= self.limits.max_string:
            return text
        self.truncated = True
        return text[: self.limits.max_string] + "…"

    def _shared(self, obj: Any, depth: int) -> Any:
        key = id(obj)
        if key in self._active:
            return Opaque("recursive reference")
        done = self._done.get(key)
        if done is not None:
            value, size = done
            if self.nodes + size > self.limits.max_nodes:
                self.truncated = True
                return Opaque("...")
            self.nodes += size
            return value
        if depth >= self.limits.max_depth or self.nodes > self.limits.max_nodes:
            self.truncated = True
            return Opaque("...")
        start = self.nodes
        self._active.add(key)
        try:
            value = self._container(obj, depth)
        finally:
            self._active.discard(key)
        self._done[key] = (value, self.nodes - start)
        return value

    def _container(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, OpaqueObject):
            return _opaque_object(obj)
        if isinstance(obj, dict):
            result: dict[str, Any] = {}
            for k, v in obj.items():
                if self.nodes > self.limits.max_nodes:
                    self.truncated = True
                    result["..."] = Opaque("...")
                    break
                result[_key(k)] = self.render(v, depth + 1)
            return result
        items: list[Any] = []
        for item in obj:
            if self.nodes > self.limits.max_nodes:
                self.truncated = True
                items.append(Opaque("..."))
                break
            items.append(self.render(item, depth + 1))
        return items


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return str(key)
    return str(_leaf(key))


def _leaf(obj: Any) -> Any:
    """A non-container value as plain data, or an `Opaque` naming what it was."""
    if isinstance(obj, TensorRef):
        return Opaque("torch.Tensor")
    if isinstance(obj, TorchDType):
        return f"torch.{obj.name}"
    if isinstance(obj, TorchEnum):
        return f"torch.{obj.name}"
    if isinstance(obj, TorchDevice):
        return obj.name
    if isinstance(obj, NumpyArray):
        return _numpy_array(obj)
    if isinstance(obj, NumpyDType):
        known = NUMPY_SCALAR.get(obj.code)
        return known[0] if known else obj.code
    if isinstance(obj, (OpaqueClass, OpaqueObject)):
        return Opaque(obj.qualname)
    if isinstance(obj, StorageRef):
        return Opaque("torch.storage")
    if isinstance(obj, (bytes, bytearray)):
        return Opaque(f"bytes[{len(obj)}]")
    if isinstance(obj, (complex, range, slice)) or obj is Ellipsis:
        return repr(obj)
    qualname = getattr(obj, "qualname", None)
    return Opaque(qualname if isinstance(qualname, str) else type(obj).__name__)


def _opaque_object(obj: OpaqueObject) -> Opaque:
    return Opaque(obj.qualname)


def _numpy_array(array: NumpyArray) -> Any:
    """Small 1-D numeric arrays (normalisation means, class weights) become lists."""
    import struct

    known = NUMPY_SCALAR.get(array.dtype.code) if array.dtype else None
    if known is None or array.data is None or len(array.shape) != 1 or array.shape[0] > 64:
        return Opaque("numpy.ndarray")
    fmt = ("<" if array.dtype is None or array.dtype.byteorder != ">" else ">") + known[
        1
    ] * array.shape[0]
    if struct.calcsize(fmt) != len(array.data):
        return Opaque("numpy.ndarray")
    return list(struct.unpack(fmt, array.data))
