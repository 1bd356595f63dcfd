"""Per library: the architecture names, torch's ground truth, and what ckptlens is asked.

Ground truth is `model.state_dict()` of the model built on the meta device (no memory, no
weights): keys, shapes and dtypes in order. A model whose construction needs real values
(`torch.linspace(...).item()` for drop-path rates) is built with only its parameters moved to
the meta device as they are registered (buffers stay on the CPU; they are small). Results are
cached on disk, keyed by the library's version and the architecture's name.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIBRARIES = ("torchvision", "timm", "transformers", "diffusers")

DIFFUSERS_MODELS = (
    "UNet2DModel",
    "UNet2DConditionModel",
    "AutoencoderKL",
    "VQModel",
    "Transformer2DModel",
    "DiTTransformer2DModel",
    "SD3Transformer2DModel",
    "FluxTransformer2DModel",
)

# Constructor values where the defaults cannot build the model (torch raises on them too).
DIFFUSERS_INIT: dict[str, dict[str, Any]] = {
    # "Has to define `in_channels`, `num_vector_embeds` or patch_size": the continuous-input
    # (Stable Diffusion 1.x) variant, whose GroupNorm needs a multiple of 32 channels
    "Transformer2DModel": {"in_channels": 320},
}


def stub_torchvision_meta_registrations() -> None:
    """torchvision 0.28's `_meta_registrations` fails to import against this torch build; the
    models never need it. Must run before `import torchvision`."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


@dataclass
class Target:
    """What ckptlens is asked: `ckptlens keys SOURCE --class NAME [--init K=V] [--config C]`."""

    library: str
    name: str  # the architecture's name in its registry
    source: str  # the library's source file holding the class or builder function
    class_name: str
    init: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None  # a config mapping (transformers' config.json)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "class_name": self.class_name, "init": self.init, "config": self.config}


@dataclass
class Truth:
    """torch's `state_dict()`: (key, shape, dtype) in order; `how` says how it was built."""

    tensors: list[tuple[str, tuple[int, ...], str]]
    how: str  # "meta" | "params-on-meta"
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"tensors": [[k, list(s), d] for k, s, d in self.tensors], "how": self.how, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Truth:
        return cls([(k, tuple(s), d) for k, s, d in data["tensors"]], data["how"], data["seconds"])


def library_version(library: str) -> str:
    from importlib.metadata import version

    return version(library)


# ---------------------------------------------------------------------------------------------
# names


def list_names(library: str) -> list[str]:
    if library == "torchvision":
        stub_torchvision_meta_registrations()
        import torchvision.models as tvm

        return sorted(tvm.list_models())
    if library == "timm":
        import timm

        return sorted(timm.list_models())
    if library == "transformers":
        return sorted(_transformers_classes())
    if library == "diffusers":
        import diffusers

        return [name for name in DIFFUSERS_MODELS if hasattr(diffusers, name)]
    raise ValueError(f"unknown library {library!r}")


def _transformers_classes() -> dict[str, str]:
    """Every `*Model` class of MODEL_MAPPING_NAMES -> its model type (the first one naming it)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    out: dict[str, str] = {}
    for model_type, names in MODEL_MAPPING_NAMES.items():
        for name in names if isinstance(names, (tuple, list)) else (names,):
            if name.endswith("Model"):
                out.setdefault(name, model_type)
    return out


# ---------------------------------------------------------------------------------------------
# targets and builders


def _source_of(obj: Any) -> str:
    path = inspect.getsourcefile(inspect.unwrap(obj))
    if path is None:
        raise RuntimeError(f"no source file for {obj!r}")
    return path


def target_and_builder(library: str, name: str) -> tuple[Target, Callable[[], Any]]:
    """What ckptlens is asked for `name`, and a function building the real model."""
    if library == "torchvision":
        stub_torchvision_meta_registrations()
        import torchvision.models as tvm

        builder = tvm.get_model_builder(name)
        fn = inspect.unwrap(builder)
        init: dict[str, Any] = {}
        if "weights_backbone" in inspect.signature(fn).parameters:
            init["weights_backbone"] = None  # the default downloads ImageNet weights
        return Target(library, name, _source_of(fn), fn.__name__, dict(init)), lambda: builder(**init)
    if library == "timm":
        import timm
        from timm.models._registry import _model_entrypoints

        fn = inspect.unwrap(_model_entrypoints[name])
        return Target(library, name, _source_of(fn), fn.__name__), lambda: timm.create_model(name, pretrained=False)
    if library == "transformers":
        import transformers
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        model_type = _transformers_classes()[name]
        cls = getattr(transformers, name)
        config_cls = getattr(transformers, CONFIG_MAPPING_NAMES[model_type])
        # config.json as save_pretrained writes it for the default config
        config = json.loads(config_cls().to_json_string(use_diff=True))
        return Target(library, name, _source_of(cls), name, config=config), lambda: cls(config_cls())
    if library == "diffusers":
        import diffusers

        cls = getattr(diffusers, name)
        init = DIFFUSERS_INIT.get(name, {})
        return Target(library, name, _source_of(cls), name, dict(init)), lambda: cls(**init)
    raise ValueError(f"unknown library {library!r}")


# ---------------------------------------------------------------------------------------------
# ground truth


@contextlib.contextmanager
def params_on_meta() -> Iterator[None]:
    """Parameters move to the meta device as they are registered (accelerate's
    init_empty_weights); buffers and plain tensors stay real, so `.item()` works."""
    import torch
    from torch import nn

    original = nn.Module.register_parameter

    def register(self: nn.Module, name: str, param: Any) -> None:
        original(self, name, param)
        param = self._parameters.get(name)
        if param is not None and type(param) is nn.Parameter and param.device.type != "meta":
            self._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = register  # type: ignore[method-assign]
    try:
        with torch.no_grad():
            yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


def build_truth(builder: Callable[[], Any]) -> Truth:
    import time

    import torch

    start = time.perf_counter()
    try:
        with torch.device("meta"), torch.no_grad():
            model = builder()
        how = "meta"
    except Exception:  # noqa: BLE001 - a constructor that needs real values
        with params_on_meta():
            model = builder()
        how = "params-on-meta"
    tensors = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
    return Truth(tensors, how, time.perf_counter() - start)


def cache_dir() -> Path:
    base = os.environ.get("CKPTLENS_SWEEP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ckptlens-sweep"
    )
    return Path(base)


def cached_truth(library: str, name: str, builder: Callable[[], Any]) -> Truth:
    path = cache_dir() / f"{library}-{library_version(library)}" / f"{name}.json"
    try:
        return Truth.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        pass
    truth = build_truth(builder)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(truth.to_json(), handle)
    os.replace(tmp, path)
    return truth


def import_library(library: str) -> None:
    if library == "torchvision":
        stub_torchvision_meta_registrations()
    importlib.import_module(library)
