"""Limits and the names the interpreter knows libraries and their classes by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ckptlens.engine import stdlib

# (the step and time budgets, MAX_STEPS and MAX_SECONDS, are in `interpreter`, beside `tick`)
MAX_DEPTH = 24  # interpreted calls; each costs a few dozen Python frames of the 1,000 allowed
MAX_SEQUENCE = 100_000
# a comprehension over more items than this that spends more steps than that is not followed
LONG_COMPREHENSION = 1_000
COMPREHENSION_STEPS = 50_000
MAX_BASES = 64  # base classes of one class statement

# Libraries known by name: their objects are ExternalRefs, resolved through the catalog and the
# tables (`builtins`, `library_calls`, `module_methods`, `library_hooks`), never through their source.
SYMBOLIC_ROOTS = frozenset(
    {
        "torch", "lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "math",
        "typing", "typing_extensions", "collections", "dataclasses", "functools", "copy",
        "itertools", "os", "sys", "warnings", "logging", "abc", "enum", "numpy", "re", "json",
        "pathlib", "inspect", "operator", "random", "time", "argparse", "__future__", "types",
        "numbers", "einops",
    }
)

MODULE_BASES = {
    "torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.modules.Module",
}
LIGHTNING_BASES = {
    "lightning.LightningModule", "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule", "lightning.pytorch.core.module.LightningModule",
    "pytorch_lightning.LightningModule", "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule", "pytorch_lightning.core.lightning.LightningModule",
}
GENERATED_INIT = "__init__ of a dataclass"
ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.Flag", "enum.IntFlag", "enum.StrEnum"})
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}

# Pure functions of the standard library that are safe to apply to known arguments, and constants.
PURE_FUNCTIONS: dict[str, Callable[..., Any]] = stdlib.PURE_FUNCTIONS
CONSTANTS: dict[str, Any] = stdlib.CONSTANTS
NO_EFFECT_PREFIXES = ("torch.nn.init.", "warnings.", "logging.", "print")

# `self._modules` / `self._parameters` / `self._buffers`: the table of a ModuleValue each reads
MODULE_TABLES = {"_modules": "children", "_parameters": "params", "_buffers": "buffers"}
