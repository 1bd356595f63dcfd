"""Findings: what the engine reports, as frozen data. Formatting happens at the edges (CLI, LSP).

Every finding is made by one kind of `Message` (registered in `ckptlens.engine.messages`, as
pyflakes' `messages.py` does): the kind fixes the code, the default severity and the message
template, and carries the finding's typed details (`Finding.details`).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        return lambda cls: cls


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
# About one link (a class linked to a checkpoint) and its load site.
CHECKPOINT_MISSING = "checkpoint-missing"  # the linked checkpoint is not there
HUB_NOT_CACHED = "hub-not-cached"  # a hub id that is not in the local Hugging Face cache
LINK_ERROR = "link-error"  # the link itself is unusable (its config file is missing, ...)
SOURCE_ERROR = "source-error"  # the linked class's source cannot be read or parsed
CHECKPOINTS_FIT = "checkpoints-fit"  # checkpoints under the workspace fit an unlinked class
STATE_DICT_ENTRY = "state-dict-entry"  # load_state_dict gets the wrong entry of the loaded file


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


@dataclass_transform(frozen_default=True, eq_default=False)
class Message:
    """One kind of finding: its code, default severity and message template, as class
    attributes; its typed details, as the annotated fields of a subclass (frozen, like a
    frozen dataclass, typed as one). `at` makes the finding. The kinds live in
    `ckptlens.engine.messages`.

    Not `@dataclass(frozen=True)` on every kind: generating each kind's methods would cost
    every CLI start ~15 ms; one `__init__` here serves them all. Kinds compare by identity; a
    finding's equality is its SPEC fields."""

    code: ClassVar[str]
    severity: ClassVar[Severity]
    template: ClassVar[str]  # the message, with the details' names in braces
    fields: ClassVar[tuple[str, ...]] = ()  # the details, in order

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.fields = (*cls.fields, *cls.__dict__.get("__annotations__", {}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        if len(args) > len(self.fields):
            raise TypeError(f"{name}() takes {len(self.fields)} details, got {len(args)}")
        values = dict(zip(self.fields, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.fields or key in values:
                raise TypeError(f"{name}() got an unexpected or repeated detail {key!r}")
            values[key] = value
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise TypeError(f"{name}() misses {', '.join(missing)}")
        for key in self.fields:
            object.__setattr__(self, key, values[key])

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        details = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.fields)
        return f"{type(self).__name__}({details})"

    def message(self) -> str:
        return self.template.format(**{name: getattr(self, name) for name in vars(self)})

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(model_keys, checkpoint_keys) of the finding."""
        return (), ()

    def prefixes(self) -> tuple[str | None, str | None]:
        """(model_prefix, checkpoint_prefix) of the finding."""
        return None, None

    def at(self, where: SourceRange, severity: Severity | None = None) -> Finding:
        """The finding at `where`, at the kind's severity unless `severity` is given."""
        model_keys, checkpoint_keys = self.keys()
        model_prefix, checkpoint_prefix = self.prefixes()
        return Finding(
            self.code,
            severity if severity is not None else self.severity,
            where,
            self.message(),
            tuple(model_keys),
            tuple(checkpoint_keys),
            model_prefix,
            checkpoint_prefix,
            self,
        )


@dataclass(frozen=True)
class Finding:
    """One finding (SPEC section 2): code, severity, where, message, the keys it is about."""

    code: str
    severity: Severity
    range: SourceRange
    message: str
    model_keys: tuple[str, ...] = ()
    checkpoint_keys: tuple[str, ...] = ()
    model_prefix: str | None = None
    checkpoint_prefix: str | None = None
    # The kind that made it, with its typed details (shapes of a mismatch, ...) for adapters;
    # not part of the JSON. None for a finding read back from a cache.
    details: Message | None = field(default=None, compare=False)

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

    def to_record(self) -> dict[str, Any]:
        """Everything but the details, as JSON data (the workspace check's cache)."""
        r = self.range
        return {
            "code": self.code,
            "severity": self.severity.value,
            "range": [r.file, r.start_line, r.start_col, r.end_line, r.end_col],
            "message": self.message,
            "model_keys": list(self.model_keys),
            "checkpoint_keys": list(self.checkpoint_keys),
            "model_prefix": self.model_prefix,
            "checkpoint_prefix": self.checkpoint_prefix,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Finding:
        return cls(
            data["code"],
            Severity(data["severity"]),
            SourceRange(*data["range"]),
            data["message"],
            tuple(data["model_keys"]),
            tuple(data["checkpoint_keys"]),
            data["model_prefix"],
            data["checkpoint_prefix"],
        )
