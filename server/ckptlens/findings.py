"""Findings: what the engine reports, as frozen data. Formatting happens at the edges (CLI, LSP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"
    HINT = "hint"


# SPEC section 2: the mismatch codes. Each one fails `check`.
MISSING_KEY = "missing-key"
UNEXPECTED_KEY = "unexpected-key"
SHAPE_MISMATCH = "shape-mismatch"
RENAMED_MODULE = "renamed-module"
KEY_PREFIX = "key-prefix"
MISMATCH_CODES = frozenset({MISSING_KEY, UNEXPECTED_KEY, SHAPE_MISMATCH, RENAMED_MODULE, KEY_PREFIX})

# Further codes (extensions; never failures on their own unless their severity says so).
UNRESOLVED = "unresolved"  # part of the model could not be resolved statically
UNVERIFIED = "unverified"  # checkpoint tensors left unchecked under an unresolved part (warning)
CHECKPOINT_ERROR = "checkpoint-error"  # unreadable, corrupt or refused checkpoint
CUDA_TENSORS = "cuda-tensors"  # tensors saved from a CUDA device: needs map_location
DTYPE_DIFFERS = "dtype-differs"  # checkpoint dtype differs from the model's default
STRICT_FALSE = "strict-false-hides-mismatch"  # load_state_dict(strict=False) would hide a mismatch
TIED_WEIGHTS = "tied-weights"  # a tied tensor stored once; the loader re-ties it
MISSING_ALLOWED = "missing-allowed"  # absent keys the model's loader accepts (transformers' ignore lists)
CHECKPOINT_NOTE = "checkpoint-note"  # something about the checkpoint worth knowing (opaque objects, ...)
UNUSED_CONFIG = "unused-config"  # config keys that name no constructor parameter or config field
UNSAFE_CHECKPOINT = "unsafe-checkpoint"  # torch.load(weights_only=True) would refuse it (SPEC §5)
INFERRED = "inferred"  # constructor values nobody gave, read from the checkpoint (SPEC §5)


@dataclass(frozen=True, order=True)
class SourceRange:
    """A range in a source file. Lines are 1-based, columns are 0-based character offsets
    (libcst's convention); the JSON (1-based column) and LSP (0-based line) views are made
    by `to_json_position` and the LSP adapter."""

    file: str
    start_line: int
    start_col: int
    end_line: int
    end_col: int

    @property
    def json_position(self) -> tuple[int, int]:
        return self.start_line, self.start_col + 1

    def __deepcopy__(self, memo: dict[int, Any]) -> SourceRange:
        return self  # immutable


@dataclass(frozen=True)
class Fix:
    """A text edit the user can apply: replace `range` with `new_text` (several edits allowed)."""

    title: str
    edits: tuple[tuple[SourceRange, str], ...]
    kind: str = "quickfix"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    range: SourceRange
    message: str
    model_keys: tuple[str, ...] = ()
    checkpoint_keys: tuple[str, ...] = ()
    model_prefix: str | None = None
    checkpoint_prefix: str | None = None
    fixes: tuple[Fix, ...] = field(default=(), compare=False)
    # Free-form structured extras (shapes of a mismatch, ...), for adapters; not part of the JSON.
    data: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @property
    def is_mismatch(self) -> bool:
        return self.code in MISMATCH_CODES

    @property
    def fails(self) -> bool:
        return self.severity in (Severity.ERROR, Severity.WARNING)

    def to_json(self) -> dict[str, Any]:
        """The ten fields of SPEC section 1, exactly."""
        line, column = self.range.json_position
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": self.range.file,
            "line": line,
            "column": column,
            "message": self.message,
            "model_keys": list(self.model_keys),
            "checkpoint_keys": list(self.checkpoint_keys),
            "model_prefix": self.model_prefix,
            "checkpoint_prefix": self.checkpoint_prefix,
        }
