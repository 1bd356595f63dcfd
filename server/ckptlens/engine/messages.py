"""Every kind of finding ckptlens reports, one small class each (pyflakes' `messages.py`).

A kind is a frozen class (a `findings.Message`): its code, default severity and message template
are class attributes, its annotated fields are the finding's typed details, and
`kind.at(where)` makes the `Finding`. Every rule — the comparison (`engine/compare.py`), the prediction
(`engine/predict.py`), the constructor values (`engine/constructor.py`), the checkpoint's
safety (`engine/safety.py`), the load sites and the links (`workspace/rules.py`,
the workspace check, the language server's fit hints) — emits its findings through one of
these; the CLI and the language server only convert and render them. `KINDS` lists them all.

Several kinds may share a code (`cuda-tensors` is a note from the comparison and a warning at a
load call without `map_location`); the code is what clients see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ckptlens.engine.keys import summarize_keys
from ckptlens.findings import (
    CHECKPOINT_ERROR,
    CHECKPOINT_MISSING,
    CHECKPOINTS_FIT,
    CUDA_TENSORS,
    DTYPE_DIFFERS,
    HUB_NOT_CACHED,
    INFERRED,
    KEY_PREFIX,
    LINK_ERROR,
    MISSING_ALLOWED,
    MISSING_KEY,
    RENAMED_MODULE,
    SHAPE_MISMATCH,
    SOURCE_ERROR,
    STATE_DICT_ENTRY,
    STRICT_FALSE,
    TIED_WEIGHTS,
    UNEXPECTED_KEY,
    UNRESOLVED,
    UNSAFE_CHECKPOINT,
    UNUSED_CONFIG,
    UNVERIFIED,
    Message,
    Severity,
)

MESSAGE_KEYS = 6  # keys or patterns listed in a message before "and N more"

Shape = tuple[int | None, ...] | None

ERROR, WARNING, INFORMATION = Severity.ERROR, Severity.WARNING, Severity.INFORMATION


def format_shape(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


# -- the comparison (SPEC section 2 and its notes) --------------------------------------------


class KeyPrefixStripped(Message):
    """Checkpoint keys carry a wrapper's leading path the model lacks."""

    code = KEY_PREFIX
    severity = ERROR
    template = "{lead} (saved from {saved_from}); strip it before load_state_dict"

    prefix: str  # without its trailing dot
    carrying: int  # checkpoint keys that start with it
    of: int  # checkpoint keys in all
    saved_from: str  # who adds it ("a DataParallel/DistributedDataParallel wrapper", ...)
    model_keys: tuple[str, ...]
    checkpoint_keys: tuple[str, ...]

    def message(self) -> str:
        quoted = f'"{self.prefix}."'
        if self.carrying == self.of:
            lead = f"every checkpoint key starts with {quoted}"
        else:
            lead = f"{self.carrying} of {self.of} checkpoint keys start with {quoted}"
        return self.template.format(lead=lead, saved_from=self.saved_from)

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.model_keys, self.checkpoint_keys

    def prefixes(self) -> tuple[str | None, str | None]:
        return None, self.prefix


class KeyPrefixAdded(Message):
    """The checkpoint was saved from an inner module: its keys lack the model's leading path."""

    code = KEY_PREFIX
    severity = ERROR
    template = (
        'the checkpoint keys lack the model\'s leading "{prefix}." (saved from the inner module '
        "`{prefix}` itself); add it before load_state_dict"
    )

    prefix: str  # without its trailing dot
    model_keys: tuple[str, ...]
    checkpoint_keys: tuple[str, ...]

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.model_keys, self.checkpoint_keys

    def prefixes(self) -> tuple[str | None, str | None]:
        return self.prefix, ""


class RenamedModule(Message):
    """A submodule's (or a lone tensor's) weights sit in the checkpoint under another name."""

    code = RENAMED_MODULE
    severity = ERROR
    template = "`{name}`: the checkpoint holds {what} as `{checkpoint_prefix}`{count}"

    model_prefix: str
    checkpoint_prefix: str
    model_keys: tuple[str, ...]
    checkpoint_keys: tuple[str, ...]  # in file order
    is_module: bool  # the model path is a module (else a single tensor)

    def message(self) -> str:
        p, count = self.model_prefix, len(self.model_keys)
        return self.template.format(
            name=f"self.{p}" if "." not in p else p,
            what="these weights" if count > 1 or self.is_module else "this tensor",
            checkpoint_prefix=self.checkpoint_prefix,
            count=f" ({count} tensors)" if count > 1 else "",
        )

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.model_keys, self.checkpoint_keys

    def prefixes(self) -> tuple[str | None, str | None]:
        return self.model_prefix, self.checkpoint_prefix


@dataclass(frozen=True)
class ShapePair:
    """A model key and the checkpoint key that fills it, with their two shapes."""

    model_key: str
    checkpoint_key: str  # as the file names it
    checkpoint_shape: tuple[int, ...]
    model_shape: Shape


@dataclass(frozen=True)
class SavedWith:
    """Given vs saved: the checkpoint was saved with `name=value`, the model is built with
    `name=given` (from `source`: "--init", "default", ...); building it with `value` fits."""

    template = (
        "the checkpoint was saved with `{name}={value}`; this model is built with "
        "`{name}={given}` ({words}): {sizes}"
    )

    name: str  # as the source names it: `vocab_size`, `config.n_embd`
    value: int
    given: int
    source: str

    def explain(self, sizes: str) -> str:
        words = "the default" if self.source == "default" else self.source
        return self.template.format(
            name=self.name, value=self.value, given=self.given, words=words, sizes=sizes
        )


class ShapeMismatch(Message):
    """The same key, another shape (the tensors created on one source line)."""

    code = SHAPE_MISMATCH
    severity = ERROR
    template = (
        "size mismatch for {keys}: copying a param with shape {checkpoint_shape} from checkpoint, "
        "the shape in current model is {model_shape}"
    )

    pairs: tuple[ShapePair, ...]  # in model order
    checkpoint_keys: tuple[str, ...]  # in file order
    saved: SavedWith | None  # a given value the checkpoint contradicts (issue 15), if known

    def message(self) -> str:
        if self.saved is not None:
            return self.saved.explain(self._sizes())
        return self._sizes()

    def _sizes(self) -> str:
        by_shapes: dict[tuple[str, str], list[str]] = {}
        for pair in self.pairs:
            shapes = (format_shape(pair.checkpoint_shape), format_shape(pair.model_shape))
            by_shapes.setdefault(shapes, []).append(pair.model_key)
        parts = [
            self.template.format(
                keys=summarize_keys(keys, MESSAGE_KEYS), checkpoint_shape=ck, model_shape=model
            )
            for (ck, model), keys in by_shapes.items()
        ]
        message = "; ".join(parts[:MESSAGE_KEYS])
        if len(parts) > MESSAGE_KEYS:
            message += f"; and {len(parts) - MESSAGE_KEYS} more"
        return message

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(p.model_key for p in self.pairs), self.checkpoint_keys


@dataclass(frozen=True)
class InferredValueRead:
    """A constructor value read from the checkpoint, and where it was read."""

    name: str  # as the source names it: `n_layer`, `config.hidden_size`
    value: int
    where: str  # `h.0 … h.5`, `transformer.wte.weight [300, 32]`


class Inferred(Message):
    """Constructor values nobody gave, read from the checkpoint (issue 15)."""

    code = INFERRED
    severity = INFORMATION
    template = "the checkpoint fixes {values}{undetermined}"

    values: tuple[InferredValueRead, ...]
    undetermined: tuple[str, ...]  # inputs the checkpoint does not determine

    @property
    def plain(self) -> dict[str, int]:
        return {v.name: v.value for v in self.values}

    def message(self) -> str:
        undetermined = ""
        if self.undetermined:
            undetermined = "; it does not determine " + ", ".join(f"`{n}`" for n in self.undetermined)
        return self.template.format(
            values="; ".join(f"`{v.name}={v.value}` from {v.where}" for v in self.values),
            undetermined=undetermined,
        )


class MissingKey(Message):
    code = MISSING_KEY
    severity = ERROR
    template = "missing key(s) in checkpoint: {keys}"

    model_keys: tuple[str, ...]

    def message(self) -> str:
        return self.template.format(keys=summarize_keys(self.model_keys, MESSAGE_KEYS))

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.model_keys, ()


class UnexpectedKey(Message):
    code = UNEXPECTED_KEY
    severity = ERROR
    template = "unexpected key(s) in checkpoint: {keys}"

    checkpoint_keys: tuple[str, ...]

    def message(self) -> str:
        return self.template.format(keys=summarize_keys(self.checkpoint_keys, MESSAGE_KEYS))

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (), self.checkpoint_keys


class TiedWeights(Message):
    """Tied tensors stored once; the loader re-ties them."""

    code = TIED_WEIGHTS
    severity = INFORMATION
    template = (
        "the checkpoint stores tied weights once ({pairs}{more}); from_pretrained and "
        "safetensors' load_model re-tie them, load_state_dict needs strict=False"
    )

    ties: tuple[tuple[str, str], ...]  # (model key, the key it shares its tensor with)

    def message(self) -> str:
        pairs = ", ".join(f"{k} = {partner}" for k, partner in self.ties[:MESSAGE_KEYS])
        extra = len(self.ties) - MESSAGE_KEYS
        return self.template.format(pairs=pairs, more=f" and {extra} more" if extra > 0 else "")

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(k for k, _ in self.ties), ()


class MissingAllowed(Message):
    """Absent keys the model's loader accepts (transformers' ignore lists)."""

    code = MISSING_ALLOWED
    severity = INFORMATION
    template = (
        "not in the checkpoint, as the model's loader allows: {keys}"
        " (transformers creates them; load_state_dict needs strict=False)"
    )

    model_keys: tuple[str, ...]

    def message(self) -> str:
        return self.template.format(keys=summarize_keys(self.model_keys, MESSAGE_KEYS))

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.model_keys, ()


class CudaTensorsSaved(Message):
    """Checkpoint tensors saved from a non-CPU device (a note on the class)."""

    code = CUDA_TENSORS
    severity = INFORMATION
    template = (
        "{count} checkpoint {plural} saved from {names}: pass map_location='cpu' "
        "to torch.load on a machine without {need}"
    )

    devices: tuple[tuple[str, int], ...]  # (device, tensors), in file order

    def message(self) -> str:
        count = sum(n for _, n in self.devices)
        names = [d for d, _ in self.devices]
        return self.template.format(
            count=count,
            plural=_plural(count, "tensor was", "tensors were"),
            names=", ".join(names),
            need="CUDA" if all(d.startswith("cuda") for d in names) else "that device",
        )


class DtypeDiffers(Message):
    code = DTYPE_DIFFERS
    severity = INFORMATION
    template = (
        "checkpoint holds {holds} {plural}; load_state_dict copies them into the model's "
        "{into} tensors"
    )

    held: tuple[tuple[str, int], ...]  # (checkpoint dtype, tensors)
    into: tuple[str, ...]  # the model's dtypes they are copied into

    def message(self) -> str:
        return self.template.format(
            holds=" and ".join(f"{n} {dtype}" for dtype, n in self.held),
            plural=_plural(sum(n for _, n in self.held), "tensor", "tensors"),
            into="/".join(self.into),
        )


class Unverified(Message):
    """Checkpoint tensors left unchecked under a part of the model that could not be resolved
    (SPEC section 5); its severity is the user's `unverified-severity`."""

    code = UNVERIFIED
    severity = WARNING
    template = (
        "{what} {why}; give the constructor values it depends on (--init KEY=VALUE, "
        "--config CONFIG.json, or a directive's init:/config=) to check them"
    )

    prefix: str  # "" for the whole model
    class_name: str
    reason: str
    checkpoint_keys: tuple[str, ...]  # in file order
    open: bool  # the part may hold more submodules than predicted (else: not resolved)

    def message(self) -> str:
        what = f"`{self.prefix}`" if self.prefix else f"`{self.class_name}`"
        raws = self.checkpoint_keys
        count = f"{len(raws)} checkpoint tensor" + ("" if len(raws) == 1 else "s")
        verb = "is" if len(raws) == 1 else "are"
        if self.open:
            why = (
                f"may hold submodules the analysis could not follow ({self.reason}): {count} under it "
                f"that the model does not predict ({summarize_keys(raws, 3)}) {verb} not checked"
            )
        else:
            why = (
                f"could not be resolved: {self.reason}; {count} under it "
                f"({summarize_keys(raws, 3)}) {verb} not checked"
            )
        return self.template.format(what=what, why=why)

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (), self.checkpoint_keys

    def prefixes(self) -> tuple[str | None, str | None]:
        return self.prefix or None, None


# -- the prediction ---------------------------------------------------------------------------


class UnresolvedPart(Message):
    """A part of the model the analysis could not resolve, or that may hold more than predicted."""

    code = UNRESOLVED
    severity = INFORMATION
    template = "{what} {why}"

    prefix: str  # "" for the whole model
    class_name: str
    reason: str
    open: bool

    def message(self) -> str:
        what = f"`{self.prefix}`" if self.prefix else f"`{self.class_name}`"
        if self.open:
            why = (
                f"may hold more submodules than predicted: {self.reason}; checkpoint keys under it "
                "that the model does not predict are not checked"
            )
        else:
            why = f"could not be resolved statically: {self.reason}; its keys are not checked"
        return self.template.format(what=what, why=why)

    def prefixes(self) -> tuple[str | None, str | None]:
        return self.prefix or None, None


class PartlyUnknownShapes(Message):
    """Tensors some of whose dims are unknown, for one reason (or for reasons not recorded)."""

    code = UNRESOLVED
    severity = INFORMATION
    template = "{count} tensor shape(s) are partly unknown ({reason}); those dims are not checked"

    model_keys: tuple[str, ...]
    reason: str | None  # None: the dims depend on values the analysis could not resolve

    def message(self) -> str:
        if self.reason is None:
            return (
                f"{len(self.model_keys)} tensor shape(s) are partly unknown (e.g. `{self.model_keys[0]}`): "
                "they depend on values the analysis could not resolve; those dims are not checked"
            )
        return self.template.format(count=len(self.model_keys), reason=self.reason)

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.model_keys, ()


# -- the constructor values -------------------------------------------------------------------


class ConfigOverridden(Message):
    """A config source that lost to a stronger one."""

    code = UNUSED_CONFIG
    severity = INFORMATION
    template = "{source} was not used: `{param}` is given by {winner}"

    source: str
    param: str
    winner: str


class UnusedConfig(Message):
    """Config keys that name no constructor parameter or config field."""

    code = UNUSED_CONFIG
    severity = INFORMATION
    template = "{source}: {shown} name{s} no {names}; not used"

    source: str
    unused: tuple[str, ...]
    class_name: str
    config_class: str | None  # the config class its `config` parameter is built from
    used: bool  # the rest of the source was used

    def message(self) -> str:
        keys = self.unused
        shown = ", ".join(f"`{k}`" for k in keys[:12]) + (
            f" and {len(keys) - 12} more" if len(keys) > 12 else ""
        )
        names = f"parameter of `{self.class_name}`"
        if self.config_class is not None:
            names += f" or field of `{self.config_class}`"
        if self.used:
            return self.template.format(
                source=self.source, shown=shown, s="s" if len(keys) == 1 else "", names=names
            )
        if keys:
            return f"{self.source} was not used: none of its keys ({shown}) names a {names}"
        return f"{self.source} was not used: it holds no keys"


# -- the checkpoint ---------------------------------------------------------------------------


class UnsafeCheckpoint(Message):
    """SPEC section 5: `torch.load(weights_only=True)` would refuse the file."""

    code = UNSAFE_CHECKPOINT
    severity = WARNING
    template = "checkpoint is {summary}"

    summary: str
    globals: tuple[str, ...]

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (), self.globals


# -- links and load sites ---------------------------------------------------------------------


class HubNotCached(Message):
    code = HUB_NOT_CACHED
    severity = INFORMATION
    template = (
        "`{hub_id}` is not in the local Hugging Face cache ({cache}): download it once "
        "to check `{class_name}` against it"
    )

    hub_id: str
    cache: str
    class_name: str


class HubUnreachable(Message):
    """A hub id not in the local cache whose Hub read failed (offline, unreachable)."""

    code = HUB_NOT_CACHED
    severity = INFORMATION
    template = (
        "`{hub_id}` is not in the local Hugging Face cache ({cache}) and the Hub could not be "
        "read ({reason}): download it once, or go online, to check `{class_name}` against it"
    )

    hub_id: str
    cache: str
    class_name: str
    reason: str  # the read's error

    def message(self) -> str:
        return self.template.format(
            hub_id=self.hub_id,
            cache=self.cache,
            class_name=self.class_name,
            reason=one_line(self.reason, "cannot read the checkpoint"),
        )


class CheckpointMissing(Message):
    """The linked checkpoint is not there: a warning for an explicit link (directive,
    pyproject, setting), a note for a load call."""

    code = CHECKPOINT_MISSING
    severity = WARNING
    template = "checkpoint not found: {checkpoint} (looked for {tried})"

    checkpoint: str
    tried: tuple[str, ...]

    def message(self) -> str:
        return self.template.format(checkpoint=self.checkpoint, tried=", ".join(self.tried))


def one_line(text: str, empty: str) -> str:
    return " ".join(text.split()) or empty


class CheckpointUnreadable(Message):
    """Unreadable, corrupt or refused checkpoint."""

    code = CHECKPOINT_ERROR
    severity = ERROR
    template = "{reason}"

    reason: str

    def message(self) -> str:
        return one_line(self.reason, "cannot read the checkpoint")


class LinkUnusable(Message):
    """The link itself is unusable (its config file is missing, the class is not there, ...)."""

    code = LINK_ERROR
    severity = WARNING
    template = "{reason}"

    reason: str

    def message(self) -> str:
        return one_line(self.reason, "cannot read the checkpoint")


class SourceUnreadable(Message):
    """The linked class's source cannot be read or parsed."""

    code = SOURCE_ERROR
    severity = ERROR
    template = "{reason}"

    reason: str

    def message(self) -> str:
        return one_line(self.reason, "cannot read the source")


class StrictFalseHidesMismatch(Message):
    code = STRICT_FALSE
    severity = WARNING
    template = (
        "strict=False hides a large mismatch: only {matched} of {total} tensors of `{class_name}` "
        "would load from {label}; the rest keep their initial values"
    )

    matched: int
    total: int
    class_name: str
    label: str  # the checkpoint, as the user knows it


class CudaTensorsAtLoad(Message):
    """CUDA tensors loaded without `map_location` (on the load call)."""

    code = CUDA_TENSORS
    severity = WARNING
    template = (
        "{count} tensor(s) in {label} were saved on {devices}: loading without map_location fails "
        'on a machine without CUDA; pass map_location="cpu"'
    )

    count: int
    label: str
    cuda_devices: tuple[str, ...]  # sorted

    def message(self) -> str:
        return self.template.format(
            count=self.count, label=self.label, devices=", ".join(self.cuda_devices)
        )


def _entries_text(entries: Sequence[str]) -> str:
    return "".join(f"[{entry!r}]" for entry in entries).replace("'", '"')


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MESSAGE_KEYS])
    return shown + (f", … ({len(names)} in all)" if len(names) > MESSAGE_KEYS else "")


class WholeCheckpointLoaded(Message):
    """`load_state_dict` is given the file's wrapper dict (or part of it), not the state_dict
    inside: torch reports every key missing, or with strict=False loads nothing at all."""

    code = STATE_DICT_ENTRY
    severity = ERROR
    template = (
        "load_state_dict is given {given} {label}, but its weights sit under {where} "
        "(the file holds {entries}): {outcome}; pass {fixed}"
    )

    given: tuple[str, ...]  # the entries the load site selects (() = the whole file)
    expected: tuple[str, ...]  # where the state_dict sits in the file
    entries: tuple[str, ...]  # the file's top-level entries
    tensors: int  # tensors of the state_dict
    strict_false: bool
    label: str

    def message(self) -> str:
        given = f"`{_entries_text(self.given)}` of" if self.given else "the whole of"
        if self.strict_false:
            outcome = "with strict=False nothing is loaded and no error is raised"
        else:
            outcome = f"torch reports all {self.tensors} keys missing"
        return self.template.format(
            given=given,
            label=self.label,
            where=f"`{_entries_text(self.expected)}`",
            entries=_listed(self.entries),
            outcome=outcome,
            fixed=f"`...{_entries_text(self.expected[len(self.given):])}`",
        )


class NoSuchEntry(Message):
    """The load site selects an entry the loaded file does not have (a KeyError at run time)."""

    code = STATE_DICT_ENTRY
    severity = ERROR
    template = "{label} has no entry {entry}: this raises KeyError; {where}"

    entry: str
    expected: tuple[str, ...]
    entries: tuple[str, ...]
    label: str

    def message(self) -> str:
        if self.expected:
            where = f"its weights sit under `{_entries_text(self.expected)}`"
        else:
            where = f"the file is the state_dict itself ({_listed(self.entries)}): pass it whole"
        return self.template.format(
            label=self.label, entry=f"`{_entries_text((self.entry,))}`", where=where
        )


class CheckpointsFit(Message):
    """Checkpoints under the workspace that fit a class (the editor's fit hint)."""

    code = CHECKPOINTS_FIT
    severity = INFORMATION
    template = "{text}"

    text: str  # `3 checkpoints in lightning_logs/ fit this class`
    checkpoints: tuple[str, ...]

    def message(self) -> str:
        return self.text


KINDS: tuple[type[Message], ...] = (
    KeyPrefixStripped,
    KeyPrefixAdded,
    RenamedModule,
    ShapeMismatch,
    Inferred,
    MissingKey,
    UnexpectedKey,
    TiedWeights,
    MissingAllowed,
    CudaTensorsSaved,
    DtypeDiffers,
    Unverified,
    UnresolvedPart,
    PartlyUnknownShapes,
    ConfigOverridden,
    UnusedConfig,
    UnsafeCheckpoint,
    HubNotCached,
    HubUnreachable,
    CheckpointMissing,
    CheckpointUnreadable,
    LinkUnusable,
    SourceUnreadable,
    StrictFalseHidesMismatch,
    CudaTensorsAtLoad,
    WholeCheckpointLoaded,
    NoSuchEntry,
    CheckpointsFit,
)

CODES: frozenset[str] = frozenset(kind.code for kind in KINDS)


def kinds_of(code: str) -> tuple[type[Message], ...]:
    return tuple(kind for kind in KINDS if kind.code == code)

